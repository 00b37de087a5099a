"""The `pipecat-roark` command.

Each subcommand is one `add_<name>_command(subparsers)` function that builds
its parser and sets `func` (called with the parsed args, returns an exit
code). To add a subcommand, write such a function (in this file or in its
own module) and list it in SUBCOMMANDS below; main() needs no change.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Callable, Optional, Sequence

from loguru import logger

AddCommand = Callable[["argparse._SubParsersAction"], None]


def default_dev_data_dir() -> Path:
    """$XDG_DATA_HOME/pipecat-roark/dev, else ~/.local/share/pipecat-roark/dev."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "pipecat-roark" / "dev"


# --------------------------------------------------------------------------
# dev


def add_dev_command(subparsers: "argparse._SubParsersAction") -> None:
    p = subparsers.add_parser(
        "dev",
        help="run a local Roark-compatible server and browse what it received",
        description=(
            "Serve the Roark ingestion endpoints locally, store every call, and show "
            "calls (transcript, stereo recording, tool calls, raw events, contract problems) "
            "in the browser. Point a bot at it with ROARK_BASE_URL."
        ),
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8790, help="port (default: 8790; 0 picks a free one)")
    p.add_argument(
        "--data-dir", type=Path, default=None,
        help=f"where calls are stored (default: {default_dev_data_dir()})",
    )
    p.add_argument(
        "--api-key", default=None,
        help="require this key on the ingestion endpoints (default: $ROARK_DEV_API_KEY; "
        "none = accept any, loopback only)",
    )
    p.add_argument(
        "--bare-upload-response", action="store_true",
        help="answer chunk-upload-url with a bare object instead of {\"data\": {...}}",
    )
    p.set_defaults(func=run_dev)


def run_dev(args: argparse.Namespace) -> int:
    # Imported here so `pipecat-roark --help` stays fast and works without the server's deps.
    from .devserver import DevServer

    api_key = args.api_key or os.environ.get("ROARK_DEV_API_KEY") or None
    data_dir = args.data_dir or default_dev_data_dir()
    try:
        server = DevServer(
            data_dir=data_dir, host=args.host, port=args.port, api_key=api_key,
            wrap_upload_response=not args.bare_upload_response,
        )
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve_until_signal(server))
    except OSError as e:  # typically: port already in use
        print(f"error: cannot listen on {args.host}:{args.port}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # platforms without loop signal handlers
        pass
    return 0


async def _serve_until_signal(server) -> None:
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # Windows: Ctrl-C raises KeyboardInterrupt instead
            pass
    print(f"pipecat-roark dev server: {server.base_url}")
    print(f"  calls are stored in {server.store.data_dir}")
    print("Point your bot at it:")
    print(f"  export ROARK_BASE_URL={server.base_url}")
    if server.api_key:
        print("  export ROARK_API_KEY=<the key given with --api-key / ROARK_DEV_API_KEY>")
    else:
        print("  (any ROARK_API_KEY is accepted)")
    print("Press Ctrl-C to stop.", flush=True)
    try:
        await stop.wait()
    finally:
        await server.stop()


# --------------------------------------------------------------------------
# registry and entry point

# Other subcommands (e.g. `demo`, `replay`) are added here as add_<name>_command functions.
from .demo import add_demo_command  # noqa: E402  (light: loads Pipecat only when run)
from .replay_cli import add_replay_command  # noqa: E402
from .export import add_export_command  # noqa: E402  (light: reads the store only when run)

SUBCOMMANDS: list[AddCommand] = [
    add_dev_command,
    add_demo_command,
    add_replay_command,
    add_export_command,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pipecat-roark", description="Tools for shipping Pipecat calls to Roark."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(subparsers)
    return parser


def stderr_sink(message: str) -> None:
    """Write to whatever ``sys.stderr`` is now, not the stream it was when the sink was added.

    A program that calls ``main()`` and later swaps or closes its stderr (a
    test runner capturing output does) must not get a logging error on every
    line from then on.
    """
    sys.stderr.write(message)


#: The console format of every command (`dev`, `demo`, `replay`): time, level, message.
#: With -v the commands use loguru's default format, which adds where each line came from.
CONSOLE_FORMAT = "<green>{time:HH:mm:ss.SSS}</green> <level>{level: <7}</level> {message}"


def _configure_logging(verbose: bool) -> None:
    logger.remove()
    if verbose:
        logger.add(stderr_sink, level="DEBUG", colorize=sys.stderr.isatty())
    else:
        logger.add(stderr_sink, level="INFO", format=CONSOLE_FORMAT, colorize=sys.stderr.isatty())


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    _configure_logging(args.verbose)
    return int(func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
