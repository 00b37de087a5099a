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
        try:
            fn = getattr(obj, attr, None)
            if callable(fn):
                return _sanitize(fn())  # what it returns need not be JSON either (NaN)
        except Exception:
            pass
    return _safe_repr(obj)


def _safe_repr(obj: Any) -> str:
    try:
        return repr(obj)
    except Exception:  # a __repr__ that raises
        return f"<unprintable {type(obj).__name__}>"


def to_json(value: Any) -> str:
    """Compact JSON; unknown objects become their repr, NaN becomes null."""
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_default, allow_nan=False)
    except Exception:  # NaN, a cycle, too deep, or whatever an object's own methods raised
        try:
            text = json.dumps(_sanitize(value), separators=(",", ":"), ensure_ascii=False, default=_default,
                              allow_nan=False)
        except Exception:
            text = json.dumps(clean_text(_safe_repr(value)))
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

    A string that already holds (strict) JSON passes unchanged; any other
    string is encoded as a JSON string; mappings and the rest are encoded
    compactly. Arguments too long to keep whole are cut and sent as a JSON
    string, so the result always parses.
    """
    if isinstance(arguments, str):
        if len(arguments) <= MAX_TEXT_CHARS and _is_json(arguments):
            return clean_text(arguments)
        # Cut short first, then encoded: the result is still JSON.
        return json.dumps(clean_text(arguments), ensure_ascii=False)
    if arguments is None:
        return "{}"
    if not isinstance(arguments, dict) and hasattr(arguments, "items"):
        try:
            arguments = dict(arguments.items())
        except Exception:
            pass
    text = to_json(arguments)
    if len(text) > MAX_TEXT_CHARS:  # truncated: no longer JSON, so sent as a JSON string
        text = json.dumps(text, ensure_ascii=False)
    return text


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _is_json(text: str) -> bool:
    """Strict JSON (what Roark's parser accepts): no NaN or Infinity."""
    try:
        json.loads(text, parse_constant=_reject_constant)
        return True
    except (ValueError, RecursionError):
        return False


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
