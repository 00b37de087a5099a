# Pipecat Cloud image for examples/bot.py.
#
# The base image runs Pipecat Cloud's session server (port 8080), which imports
# /app/bot.py and awaits its bot(runner_args) once per session, with the
# session's Daily room, WebRTC connection or WebSocket in runner_args.
#
# Build from the repository root. Pipecat Cloud runs arm64 by default:
#   docker build --platform linux/arm64 -t <registry-user>/pipecat-roark-example:0.1 .
# or let `pcc deploy` / `pipecat cloud deploy` build it in the cloud.
FROM dailyco/pipecat-base:latest

# This checkout of pipecat-roark, then the example's Pipecat services and
# transports. `pip` here is the base image's /app/.venv, which app.py runs in.
COPY pyproject.toml README.md /opt/pipecat-roark/
COPY pipecat_roark /opt/pipecat-roark/pipecat_roark
COPY examples/requirements.txt /opt/pipecat-roark/examples/requirements.txt
RUN pip install --no-cache-dir /opt/pipecat-roark -r /opt/pipecat-roark/examples/requirements.txt

# The entry point must be /app/bot.py (the base image's working directory is /app).
COPY examples/bot.py /app/bot.py
