"""Making arbitrary values safe to send: text, tool arguments, tool results.

Whatever a bot hands Pipecat (lone surrogates, megabyte strings, objects that
are not JSON) is recorded as well as it can be and never raises.
"""

from __future__ import annotations

import json
import re
from typing import Any

#: A single turn's text, a tool argument string or a tool result is cut
#: here; a voice call never legitimately says this much in one turn.
MAX_TEXT_CHARS = 32_000
TRUNCATED = " …[truncated]"
_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(value: Any, limit: int = MAX_TEXT_CHARS) -> str:
    """A valid UTF-8 string of bounded length, whatever came in."""
    if value is None:
        return ""
    if not isinstance(value, str):
        try:
            value = str(value)
        except Exception:
            value = f"<unprintable {type(value).__name__}>"
    if len(value) > limit:
        value = value[:limit] + TRUNCATED
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates cannot be encoded as UTF-8: the replacement character.
        value = _SURROGATE.sub("\ufffd", value)
    return value


def _default(obj: Any) -> Any:
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    if isinstance(obj, bytes):
        return f"<{len(obj)} bytes>"
    for attr in ("model_dump", "to_dict", "dict"):
        fn = getattr(obj, attr, None)
        if callable(fn):
            try:
                return fn()
            except Exception:
                pass
    return repr(obj)


def to_json(value: Any) -> str:
    """Compact JSON; unknown objects become their repr, NaN becomes null."""
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_default, allow_nan=False)
    except (ValueError, TypeError, RecursionError):
        try:
            text = json.dumps(_sanitize(value), separators=(",", ":"), ensure_ascii=False, default=_default)
        except Exception:
            text = json.dumps(clean_text(repr(value)))
    return clean_text(text)


def _sanitize(value: Any, depth: int = 0) -> Any:
    if depth > 32:
        return "<too deep>"
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    if isinstance(value, dict):
        return {str(k): _sanitize(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_sanitize(v, depth + 1) for v in value]
    return value


def tool_arguments(arguments: Any) -> str:
    """The contract's ``arguments``: always a JSON string.

    A string that already holds JSON passes unchanged; any other string is
    encoded as a JSON string; mappings and the rest are encoded compactly.
    """
    if isinstance(arguments, str):
        try:
            json.loads(arguments)
            return clean_text(arguments)
        except ValueError:
            return to_json(arguments)
    if arguments is None:
        return "{}"
    if not isinstance(arguments, dict) and hasattr(arguments, "items"):
        try:
            arguments = dict(arguments.items())
        except Exception:
            pass
    return to_json(arguments)


def tool_result_content(result: Any) -> str:
    """The contract's ``content``: objects and lists as JSON, scalars as text."""
    if result is None:
        return ""
    if isinstance(result, str):
        return clean_text(result)
    if isinstance(result, bool):
        return "true" if result else "false"
    if isinstance(result, (int, float)):
        return clean_text(result)
    return to_json(result)
