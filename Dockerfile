# Pipecat Cloud image for examples/bot.py.
#
# The base image runs Pipecat Cloud's session server (port 8080), which imports
# /app/bot.py and awaits its bot(runner_args) once per session, with the
# session's Daily room, WebRTC connection or WebSocket in runner_args.
#
# Built by Pipecat Cloud itself: `pipecat cloud deploy` from the repository
# root uploads the build context (filtered by .dockerignore) and builds this
# file (see pcc-deploy.toml). To try it locally:
#   docker build --platform linux/arm64 -t pipecat-roark-example .
FROM dailyco/pipecat-base:latest

# This checkout of pipecat-roark, then the example's Pipecat services and
# transports. `pip` here is the base image's /app/.venv, which app.py runs in.
COPY pyproject.toml README.md /opt/pipecat-roark/
COPY pipecat_roark /opt/pipecat-roark/pipecat_roark
COPY examples/requirements.txt /opt/pipecat-roark/examples/requirements.txt
RUN pip install --no-cache-dir /opt/pipecat-roark -r /opt/pipecat-roark/examples/requirements.txt

# The entry point must be /app/bot.py (the base image's working directory is /app).
COPY examples/bot.py /app/bot.py
