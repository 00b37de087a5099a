"""`pipecat-roark replay`: deliver (or list) what the disk spool holds."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

from .config import DEFAULT_BASE_URL, _check_base_url, env_value, is_loopback_url
from .spool import DEFAULT_MAX_BYTES, Spool, SpoolIO, default_spool_dir


def add_replay_command(subparsers: "argparse._SubParsersAction") -> None:
    p = subparsers.add_parser(
        "replay",
        help="deliver calls waiting in the disk spool (or --list them)",
        description=(
            "Send Roark what earlier calls on this machine could not deliver in time: call-started, "
            "recording chunks, then call-ended, each once. Calls still running are left alone. "
            "Uses ROARK_API_KEY and ROARK_BASE_URL like the observer; only calls spooled for that "
            "Roark are sent."
        ),
    )
    p.add_argument("--list", action="store_true", help="show what is waiting, send nothing")
    p.add_argument("--json", action="store_true", help="with --list: one JSON object per line")
    p.add_argument("--spool-dir", type=Path, default=None,
                   help=f"the spool (default: $ROARK_SPOOL_DIR, else {default_spool_dir({})})")
    p.add_argument("--base-url", default=None, help=f"Roark to send to (default: $ROARK_BASE_URL, else {DEFAULT_BASE_URL})")
    p.add_argument("--call-id", default=None, help="replay this call only")
    p.add_argument("--rate", type=float, default=10.0, help="requests per second at most (default: 10)")
    p.set_defaults(func=run_replay)


def run_replay(args: argparse.Namespace) -> int:
    spool = Spool.at(args.spool_dir or default_spool_dir(), DEFAULT_MAX_BYTES)
    if args.list:
        return _list(spool, args.json)
    try:
        base_url = _check_base_url(args.base_url or env_value(os.environ, "ROARK_BASE_URL") or DEFAULT_BASE_URL)
    except ValueError as e:
        print(f"error: {str(e).replace('RoarkObserver: base_url', '--base-url')}", file=sys.stderr)
        return 2
    key = env_value(os.environ, "ROARK_API_KEY")
    if not key and not is_loopback_url(base_url):
        print("error: set ROARK_API_KEY to replay calls to Roark", file=sys.stderr)
        return 2
    if args.rate <= 0:
        print("error: --rate must be positive", file=sys.stderr)
        return 2
    return asyncio.run(_replay(spool, base_url, key, args.rate, args.call_id))


async def _replay(spool: Spool, base_url: str, key: str | None, rate: float, only: str | None) -> int:
    from .client import RoarkClient
    from .replay import Replayer

    headers = {"x-roark-api-key": key, "Authorization": f"Bearer {key}"} if key else {}
    report = await Replayer(spool, RoarkClient(base_url, headers, 10.0), rate=rate).run(only)
    for call in report.calls:
        line = f"{call.call_id}: {call.outcome}"
        if call.outcome == "delivered":
            line += f" (chunks {len(call.chunks)}, events {', '.join(call.events) or 'none'})"
            if call.silenced or call.lost_tail:
                line += (f"; lost {len(call.silenced) + len(call.lost_tail)} chunk(s) / {call.bytes_lost} bytes "
                         f"that were only in memory (replaced by silence: {call.silenced or 'none'})")
        elif call.detail:
            line += f" ({call.detail})"
        print(line)
    if not report.calls:
        print(f"nothing to replay in {spool.root}")
    return 1 if report.remaining else 0


def _list(spool: Spool, as_json: bool) -> int:
    from .replay import list_spool

    rows = SpoolIO.submit(list_spool, spool).result(timeout=60)
    if as_json:
        for row in rows:
            print(json.dumps(row))
        return 0
    if not rows:
        print(f"the spool is empty ({spool.root})")
        return 0
    print(f"{len(rows)} call(s) in {spool.root}:")
    for row in rows:
        print(f"- {row['callId']}: {row['state']}; call-started {row['callStarted']}, "
              f"{row['chunksWaiting']} chunk(s) waiting, {row['bytes']} bytes, {row['ageSecs']} s old, for {row['roark']}")
    return 0
