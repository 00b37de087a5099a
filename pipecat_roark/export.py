"""`pipecat-roark export CALL_ID --format pipecat-eval|json|wav`: a stored call, for other tools.

Reads the local dev server's store (``pipecat-roark dev``'s data directory);
the server need not be running.

- ``pipecat-eval``: the conversation file Pipecat's evals read (Pipecat >=
  1.13: ``EvalConversationObserver`` writes it, ``pipecat eval judge
  scenario.yaml call.conversation.json`` judges it). A JSON list: user turns,
  assistant turns (everything the bot said between two user turns, as one
  message: what the caller heard), and the tool calls, each placed before the
  bot turn it was made in, ``cancelled`` when it was cancelled or timed out.
  Built from the call-ended payload alone, so it needs no Pipecat at all.
- ``json``: the call as the dev server's call page has it (payloads, paired
  tools, recording facts, contract problems).
- ``wav``: the recording as Roark would assemble it.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, Optional

FORMATS = ("pipecat-eval", "json", "wav")
_SUFFIX = {"pipecat-eval": ".conversation.json", "json": ".json", "wav": ".wav"}


class ExportError(Exception):
    """A call that cannot be exported in the asked format; the message says why."""


def _when(value: Any) -> float:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            pass
    return float("inf")


def _arguments(raw: Any) -> dict:
    """A tool call's ``arguments`` (a JSON string on the wire) as the dict the format holds."""
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str):
        if not raw.strip():
            return {}
        try:
            value = json.loads(raw)
        except ValueError:
            return {"arguments": raw}
        if isinstance(value, dict):
            return value
        return {"arguments": value}
    return {}


def to_eval_conversation(ended: dict[str, Any]) -> list[dict[str, Any]]:
    """A call-ended payload -> Pipecat's eval conversation messages (pure).

    Follows the rules of ``pipecat.evals.conversation.EvalConversation``: a
    user turn closes the bot's turn; the bot's segments join with a space;
    a tool call goes in when it is made, so before the bot turn it belongs
    to; a turn with no words is no turn.
    """
    transcript = [t for t in ended.get("transcript") or [] if isinstance(t, dict)]
    tools = [r for r in ended.get("toolCalls") or [] if isinstance(r, dict)]
    cancelled = {
        r.get("toolCallId") for r in tools
        if r.get("kind") == "tool_result" and r.get("status") in ("cancelled", "timed_out")
    }
    events: list[tuple[float, int, int, dict]] = []
    for n, turn in enumerate(transcript):
        events.append((_when(turn.get("timestamp")), 1, n, turn))
    for n, rec in enumerate(tools):
        if rec.get("kind") == "tool_call":
            # A call made as a turn starts belongs with that turn: calls sort first on a tie.
            events.append((_when(rec.get("timestamp")), 0, n, rec))
    events.sort(key=lambda e: (e[0], e[1], e[2]))

    messages: list[dict[str, Any]] = []
    bot_said: list[str] = []

    def end_bot_turn() -> None:
        if bot_said:
            messages.append({"role": "assistant", "content": " ".join(bot_said)})
            bot_said.clear()

    for _, _, _, item in events:
        if item.get("kind") == "tool_call":
            messages.append({
                "role": "tool_call", "name": str(item.get("name") or ""),
                "arguments": _arguments(item.get("arguments")),
                "cancelled": item.get("toolCallId") in cancelled,
            })
            continue
        text = str(item.get("content") or "").strip()
        if item.get("role") == "user":
            end_bot_turn()
            if text:
                messages.append({"role": "user", "content": text})
        elif item.get("role") == "assistant" and text:
            bot_said.append(text)
    end_bot_turn()
    return messages


def _find_call(store: Any, call_id: str) -> str:
    ids = store.call_ids()
    if call_id in ids:
        return call_id
    matches = [i for i in ids if i.startswith(call_id)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise ExportError(f"{call_id!r} matches {len(matches)} calls ({', '.join(matches[:5])}...); give more of the id")
    recent = ", ".join(ids[:5]) or "none"
    raise ExportError(f"no call {call_id!r} in {store.data_dir} (most recent: {recent})")


def export_call(data_dir: Path, call_id: str, fmt: str, default_rate: Optional[int] = None) -> tuple[str, bytes]:
    """(the full call id, the exported bytes). Raises ExportError with what to do."""
    from .devserver import view, wav
    from .devserver.store import DB_NAME, Store

    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    if not (Path(data_dir) / DB_NAME).exists():
        raise ExportError(f"{data_dir} holds no dev server store (run `pipecat-roark dev --data-dir {data_dir}` first)")
    store = Store(data_dir)
    try:
        cid = _find_call(store, call_id)
        rec = store.get_call(cid)
        rate = default_rate or wav.DEFAULT_RATE
        if fmt == "pipecat-eval":
            if rec.ended is None:
                raise ExportError(f"call {cid!r} has not ended (no call-ended received): it has no transcript yet")
            data = json.dumps(to_eval_conversation(rec.ended), indent=2, ensure_ascii=False) + "\n"
            return cid, data.encode("utf-8")
        pcm = store.pcm(cid)
        if fmt == "json":
            detail = view.detail(rec, pcm, rate, with_peaks=False)
            return cid, (json.dumps(detail, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
        if not pcm:
            raise ExportError(f"call {cid!r} has no recording (no chunk was uploaded)")
        return cid, store.wav_bytes(cid, rate)
    finally:
        store.close()


def add_export_command(subparsers: "argparse._SubParsersAction") -> None:
    from .cli import default_dev_data_dir

    p = subparsers.add_parser(
        "export",
        help="write a call from the dev server's store as a Pipecat eval conversation, JSON or WAV",
        description=(
            "Export one call stored by `pipecat-roark dev`: --format pipecat-eval writes the conversation "
            "file `pipecat eval judge` reads; json the call as the call page shows it; wav the recording."
        ),
    )
    p.add_argument("call_id", metavar="CALL_ID", help="the call's id (a unique prefix is enough)")
    p.add_argument("--format", "-f", choices=FORMATS, default="pipecat-eval", help="default: pipecat-eval")
    p.add_argument("--out", "-o", default=None,
                   help="file to write ('-' for stdout); default: <call id><.conversation.json|.json|.wav> here")
    p.add_argument("--data-dir", type=Path, default=None,
                   help=f"the dev server's data directory (default: {default_dev_data_dir()})")
    p.set_defaults(func=run_export)


def run_export(args: argparse.Namespace) -> int:
    from .cli import default_dev_data_dir
    from .devserver.store import safe_call_id

    data_dir = args.data_dir or default_dev_data_dir()
    try:
        cid, data = export_call(data_dir, args.call_id, args.format)
    except ExportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if args.out == "-":
        if args.format == "wav" and sys.stdout.isatty():
            print("error: not writing WAV bytes to a terminal; use --out FILE", file=sys.stderr)
            return 2
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return 0
    out = Path(args.out) if args.out else Path(f"{safe_call_id(cid)}{_SUFFIX[args.format]}")
    out.write_bytes(data)
    print(f"wrote {out} ({len(data)} bytes, {args.format})", file=sys.stderr)
    return 0
