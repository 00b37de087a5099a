"""Contract checks: pure functions that turn what a client sent into problem strings.

Nothing here does I/O. The dev server calls these when it renders a call, so
a better check added later also applies to calls stored before it existed.
Every problem is a sentence a person can act on; an empty list means "what
Roark would accept".

The rules come from ROARK_CONTRACT.md. Where the contract says "when
non-empty" / "only when", sending the field in the wrong case is reported,
because the point of the dev server is to show drift before Roark sees it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping, Optional, Sequence, get_args

from pydantic import BaseModel, ValidationError

from ..models import (
    CallCost, CallSummary, LogRecord, MetricRecord, RecordingHealth, RecordingStatus, Recovery, SttQuality, Telephony,
    TimelineEvent, ToolStatus, Turn, TurnTaking,
)

from . import checks_outcome

from .capture_checks import check_capture_fields, check_consent_uploads, check_stt_quality

KNOWN_EVENTS = ("call-started", "call-ended")
PCM_CONTENT_TYPE = "audio/pcm"
# How far the recording length may drift from callStartedAt..callEndedAt.
# Recording starts at the first stored audio frame, a little after the call
# started, so exact equality is never expected.
DURATION_TOLERANCE_S = 2.0
# Extensions the client may send (see ROARK_CONTRACT.md: added, never replacing a core field),
# as the wire models state them.
TOOL_STATUSES: tuple[str, ...] = get_args(ToolStatus)
RECORDING_STATUSES: tuple[str, ...] = get_args(RecordingStatus)
INTERRUPTION_CAUSES: tuple[str, ...] = get_args(get_args(Turn.model_fields["interruption_cause"].annotation)[0])
# Extension objects checked through their model: what is sent must have the
# model's types; a part left out is not reported (Roark keeps what comes).
EXTENSION_OBJECTS: dict[str, type[BaseModel]] = {
    "recordingHealth": RecordingHealth,
    "callSummary": CallSummary,
    "recovery": Recovery,
    "telephony": Telephony,
    "cost": CallCost,
    "turnTaking": TurnTaking,
}
# ... and lists of them.
EXTENSION_LISTS: dict[str, type[BaseModel]] = {"events": TimelineEvent, "logs": LogRecord}
# Fields of a metric record checked by hand below (with sentences of their own); the model checks the rest.
_METRIC_CHECKED_BY_HAND = ("kind", "timestamp", "audioOffsetMs", "turnIndex", "metric", "processor", "model",
                           "interrupted", "extra")


# --------------------------------------------------------------------------
# small type helpers (JSON has no int/bool distinction in Python: exclude bool)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_str(v: Any) -> bool:
    return isinstance(v, str)


def _type_name(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "str"
    if isinstance(v, list):
        return "list"
    if isinstance(v, dict):
        return "object"
    return type(v).__name__


def parse_iso(value: Any) -> Optional[datetime]:
    """Parse an ISO-8601 timestamp; None if it is not one.

    Accepts a trailing "Z" (Python 3.10's fromisoformat does not). Naive
    timestamps parse (the caller decides whether that is a problem).
    """
    if not isinstance(value, str) or len(value) < 10:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _check_iso(where: str, value: Any, *, utc: bool = False) -> list[str]:
    if not isinstance(value, str):
        return [f"{where} must be an ISO-8601 string, got {_type_name(value)}"]
    parsed = parse_iso(value)
    if parsed is None:
        return [f"{where} is not an ISO-8601 timestamp: {value!r}"]
    if parsed.tzinfo is None:
        return [f"{where} has no timezone (ambiguous): {value!r}"]
    if utc and parsed.utcoffset() != timezone.utc.utcoffset(None):
        return [f"{where} must be UTC: {value!r}"]
    return []


def _check_offset(where: str, value: Any) -> list[str]:
    if not _is_int(value):
        return [f"{where} must be an int, got {_type_name(value)} {value!r}"]
    if value < 0:
        return [f"{where} must be >= 0, got {value}"]
    return []


def _require_str(payload: Mapping[str, Any], key: str, where: str, *, non_empty: bool = True) -> list[str]:
    if key not in payload:
        return [f"{where}: missing required field {key!r}"]
    v = payload[key]
    if not _is_str(v):
        return [f"{where}: {key} must be a string, got {_type_name(v)}"]
    if non_empty and not v.strip():
        return [f"{where}: {key} is an empty string"]
    return []


def _optional_type(payload: Mapping[str, Any], key: str, where: str, kind: str) -> list[str]:
    if key not in payload:
        return []
    v = payload[key]
    ok = {
        "str": _is_str(v),
        "bool": isinstance(v, bool),
        "object": isinstance(v, dict),
        "list": isinstance(v, list),
        "int": _is_int(v),
    }[kind]
    return [] if ok else [f"{where}: {key} must be {kind}, got {_type_name(v)}"]


# --------------------------------------------------------------------------
# event payloads (endpoint A)


def check_event(payload: Any) -> list[str]:
    """Problems with one body POSTed to /v1/integrations/pipecat."""
    if not isinstance(payload, dict):
        return [f"event body must be a JSON object, got {_type_name(payload)}"]
    name = payload.get("event")
    if "event" not in payload:
        problems = ["missing required field 'event'"]
    elif name not in KNOWN_EVENTS:
        problems = [f"unknown event {name!r} (expected one of {', '.join(KNOWN_EVENTS)})"]
    else:
        problems = []
    problems += _require_str(payload, "pipecatCallId", "event")
    if "eventTimestamp" not in payload:
        problems.append("event: missing required field 'eventTimestamp'")
    else:
        problems += _check_iso("eventTimestamp", payload["eventTimestamp"], utc=True)
    if name == "call-started":
        problems += _check_call_started(payload)
    elif name == "call-ended":
        problems += _check_call_ended(payload)
    return problems


def _check_call_started(p: Mapping[str, Any]) -> list[str]:
    w = "call-started"
    problems = _require_str(p, "agentId", w)
    for key in ("agentName", "agentPrompt", "roarkIntegrationId"):
        problems += _optional_type(p, key, w, "str")
    problems += _optional_type(p, "isTest", w, "bool")
    problems += _optional_type(p, "metadata", w, "object")
    problems += checks_outcome.check_started(p)  # issue 14: telephony
    return problems


def _check_call_ended(p: Mapping[str, Any]) -> list[str]:
    w = "call-ended"
    problems: list[str] = []
    # callStartedAt is "always" present but may be null.
    if "callStartedAt" not in p:
        problems.append(f"{w}: missing required field 'callStartedAt' (send null when unknown)")
    elif p["callStartedAt"] is not None:
        problems += _check_iso(f"{w}: callStartedAt", p["callStartedAt"])
    if "callEndedAt" not in p:
        problems.append(f"{w}: missing required field 'callEndedAt'")
    else:
        problems += _check_iso(f"{w}: callEndedAt", p["callEndedAt"])
    started, ended = parse_iso(p.get("callStartedAt")), parse_iso(p.get("callEndedAt"))
    if _comparable(started, ended) and ended < started:  # type: ignore[operator]
        problems.append(f"{w}: callEndedAt is before callStartedAt")
    problems += _require_str(p, "callEndedReason", w)
    problems += _optional_type(p, "roarkIntegrationId", w, "str")
    problems += _optional_type(p, "agentSpokeFirst", w, "bool")

    # The two recording fields travel together (they are meaningless apart).
    has_rate, has_ch = "recordingSampleRate" in p, "recordingNumChannels" in p
    if has_rate != has_ch:
        missing = "recordingNumChannels" if has_rate else "recordingSampleRate"
        problems.append(f"{w}: recordingSampleRate and recordingNumChannels must be sent together ({missing} missing)")
    for key in ("recordingSampleRate", "recordingNumChannels"):
        if key in p and (not _is_int(p[key]) or p[key] <= 0):
            problems.append(f"{w}: {key} must be a positive int, got {p[key]!r}")

    transcript = p.get("transcript")
    if "transcript" in p:
        if not isinstance(transcript, list):
            problems.append(f"{w}: transcript must be a list, got {_type_name(transcript)}")
        elif not transcript:
            problems.append(f"{w}: transcript is an empty list (omit it when there are no turns)")
        else:
            for i, turn in enumerate(transcript):
                problems += check_turn(turn, f"transcript[{i}]")
            problems += _check_spoke_first(p, transcript)
    elif "agentSpokeFirst" in p:
        problems.append(f"{w}: agentSpokeFirst sent without any transcript turn")

    if "toolCalls" in p:
        tools = p["toolCalls"]
        if not isinstance(tools, list):
            problems.append(f"{w}: toolCalls must be a list, got {_type_name(tools)}")
        elif not tools:
            problems.append(f"{w}: toolCalls is an empty list (omit it when there are none)")
        else:
            for i, rec in enumerate(tools):
                problems += check_tool_record(rec, f"toolCalls[{i}]")
            problems += check_tool_pairing(tools)

    if "metrics" in p:
        metrics = p["metrics"]
        if not isinstance(metrics, list):
            problems.append(f"{w}: metrics must be a list, got {_type_name(metrics)}")
        else:
            n_turns = len(transcript) if isinstance(transcript, list) else 0
            for i, m in enumerate(metrics):
                problems += _check_metric(m, f"metrics[{i}]", n_turns)
    problems += _check_errors(p)
    if "recordingStatus" in p and p["recordingStatus"] not in RECORDING_STATUSES:
        problems.append(f"{w}: recordingStatus must be one of {', '.join(RECORDING_STATUSES)}, got {p['recordingStatus']!r}")
    for key, model in EXTENSION_OBJECTS.items():
        wrong_type = _optional_type(p, key, w, "object")
        problems += wrong_type
        if key in p and not wrong_type:
            problems += check_model(model, p[key], f"{w}: {key}")
    for key, model in EXTENSION_LISTS.items():
        wrong_type = _optional_type(p, key, w, "list")
        problems += wrong_type
        if key in p and not wrong_type:
            for i, item in enumerate(p[key]):
                if not isinstance(item, dict):
                    problems.append(f"{key}[{i}] must be an object, got {_type_name(item)}")
                else:
                    problems += check_model(model, item, f"{key}[{i}]")
    problems += checks_outcome.check_ended(p)  # outcome, telephony, events, cost, turn-taking semantics
    problems += check_capture_fields(p)  # capture policy extensions (capture_checks.py)
    return problems


def check_model(model: type[BaseModel], value: Any, where: str, skip: Sequence[str] = ()) -> list[str]:
    """Problems with an object against its wire model (strict types; missing parts are not reported).

    ``skip``: fields (wire names) the caller checks itself, with sentences of its own.
    """
    try:
        model.model_validate(value, strict=True)
    except ValidationError as e:
        out = []
        for err in e.errors():
            loc = err.get("loc", ())
            if err.get("type") == "missing" or (loc and loc[0] in skip):
                continue
            path = ".".join(str(x) for x in loc)
            got = err.get("input")
            out.append(f"{where}{'.' + path if path else ''}: {err.get('msg', 'invalid')} (got {_type_name(got)} {got!r})"[:300])
        return out
    return []


def _check_errors(p: Mapping[str, Any]) -> list[str]:
    if "errors" not in p:
        return []
    errors = p["errors"]
    if not isinstance(errors, list):
        return [f"call-ended: errors must be a list, got {_type_name(errors)}"]
    if not errors:
        return ["call-ended: errors is an empty list (omit it when there are none)"]
    problems: list[str] = []
    for i, e in enumerate(errors):
        where = f"errors[{i}]"
        if not isinstance(e, dict):
            problems.append(f"{where} must be an object, got {_type_name(e)}")
            continue
        problems += _require_str(e, "message", where)
        if "timestamp" in e:
            problems += _check_iso(f"{where}: timestamp", e["timestamp"])
        else:
            problems.append(f"{where}: missing required field 'timestamp'")
        problems += _optional_type(e, "processor", where, "str")
        problems += _optional_type(e, "category", where, "str")
        problems += _optional_type(e, "fatal", where, "bool")
        if "audioOffsetMs" in e:
            problems += _check_offset(f"{where}: audioOffsetMs", e["audioOffsetMs"])
        if "count" in e and (not _is_int(e["count"]) or e["count"] < 1):
            problems.append(f"{where}: count must be a positive int, got {e['count']!r}")
    return problems


def _comparable(a: Optional[datetime], b: Optional[datetime]) -> bool:
    # Aware and naive datetimes cannot be compared; the naive one is already reported.
    return a is not None and b is not None and (a.tzinfo is None) == (b.tzinfo is None)


def _check_spoke_first(p: Mapping[str, Any], transcript: list) -> list[str]:
    """agentSpokeFirst must be present with turns and agree with the earliest turn."""
    if "agentSpokeFirst" not in p:
        return ["call-ended: agentSpokeFirst missing although the transcript has turns"]
    if not isinstance(p["agentSpokeFirst"], bool):
        return []  # type problem already reported
    dated = [
        (parse_iso(t.get("timestamp")), t.get("role"))
        for t in transcript
        if isinstance(t, dict) and t.get("role") in ("user", "assistant")
    ]
    dated = [(ts, role) for ts, role in dated if ts is not None and ts.tzinfo is not None]
    if not dated:
        return []
    first_role = min(dated, key=lambda x: x[0])[1]
    if (first_role == "assistant") != p["agentSpokeFirst"]:
        return [
            f"call-ended: agentSpokeFirst is {str(p['agentSpokeFirst']).lower()} "
            f"but the earliest turn is by the {first_role}"
        ]
    return []


def check_turn(turn: Any, where: str = "turn") -> list[str]:
    """Problems with one transcript turn."""
    if not isinstance(turn, dict):
        return [f"{where} must be an object, got {_type_name(turn)}"]
    problems: list[str] = []
    role = turn.get("role")
    if role not in ("user", "assistant"):
        problems.append(f"{where}: role must be 'user' or 'assistant', got {role!r}")
    if "content" not in turn:
        problems.append(f"{where}: missing required field 'content'")
    elif not _is_str(turn["content"]):
        problems.append(f"{where}: content must be a string, got {_type_name(turn['content'])}")
    for key in ("timestamp", "endTimestamp"):
        if key not in turn:
            problems.append(f"{where}: missing required field {key!r}")
        else:
            problems += _check_iso(f"{where}: {key}", turn[key])
    start, end = parse_iso(turn.get("timestamp")), parse_iso(turn.get("endTimestamp"))
    if _comparable(start, end) and end < start:  # type: ignore[operator]
        problems.append(f"{where}: endTimestamp is before timestamp")
    for key in ("audioOffsetMs", "endAudioOffsetMs"):
        if key in turn:
            problems += _check_offset(f"{where}: {key}", turn[key])
    a, b = turn.get("audioOffsetMs"), turn.get("endAudioOffsetMs")
    if _is_int(a) and _is_int(b) and b < a:
        problems.append(f"{where}: endAudioOffsetMs ({b}) is before audioOffsetMs ({a})")
    for key in ("userId", "language"):
        if key in turn:
            if not _is_str(turn[key]):
                problems.append(f"{where}: {key} must be a string, got {_type_name(turn[key])}")
            elif role == "assistant":
                problems.append(f"{where}: {key} is only meaningful on user turns")
    if "interrupted" in turn and not isinstance(turn["interrupted"], bool):
        problems.append(f"{where}: interrupted must be a bool, got {_type_name(turn['interrupted'])}")
    for key in ("responseLatencyMs", "bargeInLatencyMs"):
        if key in turn:
            problems += _check_offset(f"{where}: {key}", turn[key])
            if role == "user":
                problems.append(f"{where}: {key} is only meaningful on assistant turns")
    if "bargeInLatencyMs" in turn and turn.get("interrupted") is not True:
        problems.append(f"{where}: bargeInLatencyMs sent on a turn that is not interrupted")
    if "sttQuality" in turn:
        if isinstance(turn["sttQuality"], dict):
            problems += check_model(SttQuality, turn["sttQuality"], f"{where}: sttQuality")
        else:
            problems.append(f"{where}: sttQuality must be an object, got {_type_name(turn['sttQuality'])}")
    if "interruptionCause" in turn:
        cause = turn["interruptionCause"]
        if cause not in INTERRUPTION_CAUSES:
            problems.append(f"{where}: interruptionCause must be {' or '.join(repr(c) for c in INTERRUPTION_CAUSES)}, "
                            f"got {cause!r}")
        if turn.get("interrupted") is not True:
            problems.append(f"{where}: interruptionCause sent on a turn that is not interrupted")
        if role == "user":
            problems.append(f"{where}: interruptionCause is only meaningful on assistant turns")
    problems += check_stt_quality(turn, where)
    return problems


def check_tool_record(rec: Any, where: str = "tool record") -> list[str]:
    """Problems with one entry of toolCalls."""
    if not isinstance(rec, dict):
        return [f"{where} must be an object, got {_type_name(rec)}"]
    kind = rec.get("kind")
    if kind not in ("tool_call", "tool_result"):
        return [f"{where}: kind must be 'tool_call' or 'tool_result', got {kind!r}"]
    problems = _require_str(rec, "toolCallId", where)
    if "timestamp" not in rec:
        problems.append(f"{where}: missing required field 'timestamp'")
    else:
        problems += _check_iso(f"{where}: timestamp", rec["timestamp"])
    if "audioOffsetMs" in rec:
        problems += _check_offset(f"{where}: audioOffsetMs", rec["audioOffsetMs"])
    if kind == "tool_call":
        problems += _require_str(rec, "name", where)
        if "arguments" not in rec:
            problems.append(f"{where}: missing required field 'arguments'")
        elif not _is_str(rec["arguments"]):
            # The classic mistake: sending the dict itself instead of its JSON text.
            problems.append(
                f"{where}: arguments must be a JSON string, got {_type_name(rec['arguments'])} "
                "(encode the object with json.dumps)"
            )
        else:
            try:
                json.loads(rec["arguments"])
            except ValueError:
                problems.append(f"{where}: arguments is not valid JSON: {rec['arguments'][:80]!r}")
    else:
        if "content" not in rec:
            problems.append(f"{where}: missing required field 'content'")
        elif not _is_str(rec["content"]):
            problems.append(f"{where}: content must be a string, got {_type_name(rec['content'])}")
        if "status" in rec and rec["status"] not in TOOL_STATUSES:
            problems.append(f"{where}: status must be one of {', '.join(TOOL_STATUSES)}, got {rec['status']!r}")
        problems += _optional_type(rec, "error", where, "str")
        if "durationMs" in rec:
            problems += _check_offset(f"{where}: durationMs", rec["durationMs"])
    return problems


def check_tool_pairing(tools: Sequence[Any]) -> list[str]:
    """Each call and each result appears once; every result belongs to a call."""
    problems: list[str] = []
    seen: dict[tuple[str, str], int] = {}
    for rec in tools:
        if isinstance(rec, dict) and isinstance(rec.get("toolCallId"), str):
            key = (str(rec.get("kind")), rec["toolCallId"])
            seen[key] = seen.get(key, 0) + 1
    for (kind, tid), n in seen.items():
        if n > 1:
            problems.append(f"toolCalls: {kind} {tid!r} appears {n} times (each must appear once)")
    for kind, tid in seen:
        if kind == "tool_result" and ("tool_call", tid) not in seen:
            problems.append(f"toolCalls: tool_result {tid!r} has no matching tool_call")
    return problems


def _check_metric(m: Any, where: str, n_turns: int = 0) -> list[str]:
    if not isinstance(m, dict):
        return [f"{where} must be an object, got {_type_name(m)}"]
    problems = _require_str(m, "kind", where)
    if "timestamp" in m:
        problems += _check_iso(f"{where}: timestamp", m["timestamp"])
    else:
        problems.append(f"{where}: missing required field 'timestamp'")
    if "audioOffsetMs" in m:
        problems += _check_offset(f"{where}: audioOffsetMs", m["audioOffsetMs"])
    if "turnIndex" in m:
        problems += _check_offset(f"{where}: turnIndex", m["turnIndex"])
        if _is_int(m["turnIndex"]) and m["turnIndex"] >= n_turns:
            problems.append(f"{where}: turnIndex {m['turnIndex']} points past the transcript ({n_turns} turns)")
    for key in ("metric", "processor", "model"):
        problems += _optional_type(m, key, where, "str")
    problems += _optional_type(m, "interrupted", where, "bool")
    problems += _optional_type(m, "extra", where, "object")
    problems += check_model(MetricRecord, m, where, skip=_METRIC_CHECKED_BY_HAND)
    return problems


# --------------------------------------------------------------------------
# chunk-upload-url requests (endpoint B)


def check_upload_request(body: Any) -> list[str]:
    """Problems with a body POSTed to /v1/integrations/pipecat/chunk-upload-url."""
    if not isinstance(body, dict):
        return [f"chunk-upload-url body must be a JSON object, got {_type_name(body)}"]
    problems = _require_str(body, "pipecatCallId", "chunk-upload-url")
    idx = body.get("chunkIndex")
    if "chunkIndex" not in body:
        problems.append("chunk-upload-url: missing required field 'chunkIndex'")
    elif not _is_int(idx) or idx < 0:
        problems.append(f"chunk-upload-url: chunkIndex must be an int >= 0, got {idx!r}")
    if body.get("contentType") != PCM_CONTENT_TYPE:
        problems.append(
            f"chunk-upload-url: contentType must be {PCM_CONTENT_TYPE!r}, got {body.get('contentType')!r}"
        )
    return problems


# --------------------------------------------------------------------------
# request headers


def _header(headers: Mapping[str, str], name: str) -> Optional[str]:
    # aiohttp's CIMultiDict is case-insensitive already; plain dicts in tests are not.
    for k, v in headers.items():
        if k.lower() == name.lower():
            return v
    return None


def check_put_headers(headers: Mapping[str, str], expected_content_type: str) -> list[str]:
    """Problems with the headers of a PUT to a presigned URL (endpoint C)."""
    problems = []
    for name in ("Authorization", "x-roark-api-key"):
        if _header(headers, name) is not None:
            problems.append(
                f"PUT to the presigned URL carried a {name} header; an object store rejects "
                "that (400) because it is not part of the signature"
            )
    ctype = _header(headers, "Content-Type")
    if ctype != expected_content_type:
        problems.append(
            f"PUT Content-Type is {ctype!r} but the URL was requested for {expected_content_type!r} "
            "(an object store answers 403 SignatureDoesNotMatch)"
        )
    return problems


def check_auth_consistency(headers: Mapping[str, str]) -> list[str]:
    """Without a configured key: the client should still send the key twice, the same."""
    key = _header(headers, "x-roark-api-key")
    auth = _header(headers, "Authorization")
    if key is None and auth is None:
        return []
    if key is None:
        return ["request has an Authorization header but no x-roark-api-key header (send both)"]
    if auth is None:
        return ["request has an x-roark-api-key header but no Authorization header (send both)"]
    if not auth.startswith("Bearer "):
        return ["Authorization header is not of the form 'Bearer <key>'"]
    if auth[len("Bearer ") :] != key:
        return ["x-roark-api-key and Authorization: Bearer carry different keys"]
    return []


# --------------------------------------------------------------------------
# whole-call checks


@dataclass(frozen=True)
class ChunkUpload:
    """One successful PUT of a chunk, as bookkept by the store."""

    index: int
    size: int
    digest: str  # sha256 hex of the bytes, to tell a harmless re-upload from a conflicting one
    seq: int  # arrival order shared with events


def recording_channels(ended: Optional[Mapping[str, Any]]) -> int:
    ch = (ended or {}).get("recordingNumChannels")
    return ch if _is_int(ch) and ch > 0 else 2


def missing_indexes(indexes: Iterable[int]) -> list[int]:
    """Indexes absent from 0..max (chunks are numbered from 0 without gaps)."""
    present = set(indexes)
    if not present:
        return []
    return [i for i in range(0, max(present) + 1) if i not in present]


def check_call(
    events: Sequence[tuple[int, Any]],
    uploads: Sequence[ChunkUpload],
) -> list[str]:
    """Problems visible only across the whole call.

    events: (arrival seq, parsed body) in arrival order; uploads: every
    successful PUT (duplicates included) with the same seq counter, so the
    relative order of events and chunk uploads is known.
    """
    problems: list[str] = []
    started = [(s, e) for s, e in events if isinstance(e, dict) and e.get("event") == "call-started"]
    ended = [(s, e) for s, e in events if isinstance(e, dict) and e.get("event") == "call-ended"]

    if len(started) > 1:
        problems.append(f"call-started received {len(started)} times (must be sent once)")
    if len(ended) > 1:
        problems.append(f"call-ended received {len(ended)} times (must be sent once)")
    if not started:
        problems.append("no call-started received for this call")
    if started and not ended:
        problems.append("no call-ended received (yet): the call is incomplete")
    if started and ended and ended[0][0] < started[0][0]:
        problems.append("call-ended arrived before call-started")

    end_event = ended[0][1] if ended else None
    end_seq = ended[0][0] if ended else None
    problems += _check_chunks(uploads, end_event, end_seq)
    problems += check_consent_uploads(end_event, sorted({u.index for u in uploads}))
    if end_event is not None:
        problems += _check_durations(end_event, uploads)
    return problems


def _check_chunks(
    uploads: Sequence[ChunkUpload], end_event: Optional[Mapping[str, Any]], end_seq: Optional[int]
) -> list[str]:
    problems: list[str] = []
    by_index: dict[int, list[ChunkUpload]] = {}
    for u in uploads:
        by_index.setdefault(u.index, []).append(u)

    gaps = missing_indexes(by_index)
    if gaps:
        problems.append(
            f"missing chunk index(es) {_ranges(gaps)}: every later sample is shifted against "
            "the transcript offsets (the WAV stitches the chunks present, in index order)"
        )
    for idx in sorted(by_index):
        ups = by_index[idx]
        if len(ups) > 1:
            same = len({u.digest for u in ups}) == 1
            detail = (
                "identical bytes each time (a retried PUT that had already succeeded?)"
                if same
                else "with DIFFERENT bytes; the last upload replaced the earlier ones"
            )
            problems.append(f"chunk {idx} uploaded {len(ups)} times, {detail}")

    channels = recording_channels(end_event)
    frame = 2 * channels
    for idx in sorted(by_index):
        last = by_index[idx][-1]
        if last.size == 0:
            problems.append(f"chunk {idx} is empty (0 bytes)")
        elif last.size % frame:
            problems.append(
                f"chunk {idx} is {last.size} bytes, not a multiple of {frame} "
                f"(2 bytes x {channels} channels): the channels after it are misaligned"
            )

    if end_event is not None:
        has_fields = "recordingSampleRate" in end_event or "recordingNumChannels" in end_event
        if uploads and not has_fields:
            problems.append("chunks were delivered but call-ended has no recordingSampleRate/recordingNumChannels")
        if not uploads and has_fields:
            problems.append("call-ended carries recording fields but no chunk was delivered")
        late = sorted({u.index for u in uploads if end_seq is not None and u.seq > end_seq})
        if late:
            problems.append(
                f"chunk(s) {_ranges(late)} arrived after call-ended (call-ended must come after every chunk)"
            )
    return problems


def recording_seconds(total_bytes: int, rate: int, channels: int) -> float:
    return total_bytes / float(rate * channels * 2)


def _check_durations(end: Mapping[str, Any], uploads: Sequence[ChunkUpload]) -> list[str]:
    rate, ch = end.get("recordingSampleRate"), end.get("recordingNumChannels")
    if not (_is_int(rate) and rate > 0 and _is_int(ch) and ch > 0) or not uploads:
        return []
    last_per_index: dict[int, int] = {}
    for u in uploads:
        last_per_index[u.index] = u.size
    rec_s = recording_seconds(sum(last_per_index.values()), rate, ch)
    problems: list[str] = []
    # recordingStartedAt (extension): when sample 0 was recorded. Audio may
    # begin well after call-started (transport still connecting), so measure
    # from there when the client says.
    start = parse_iso(end.get("recordingStartedAt")) or parse_iso(end.get("callStartedAt"))
    stop = parse_iso(end.get("callEndedAt"))
    # audioConsent "revoked": roark.discard_audio() stopped the recording mid-call, on purpose.
    if _comparable(start, stop) and end.get("audioConsent") != "revoked":
        call_s = (stop - start).total_seconds()  # type: ignore[operator]
        if abs(rec_s - call_s) > DURATION_TOLERANCE_S:
            which = "shorter" if rec_s < call_s else "longer"
            problems.append(
                f"recording is {rec_s:.2f} s but the call lasted {call_s:.2f} s "
                f"({which} by {abs(rec_s - call_s):.2f} s; wrong recordingSampleRate or lost audio?)"
            )
    # Turn/tool offsets past the end of the audio point at audio that does not exist.
    rec_ms = rec_s * 1000.0
    limit = rec_ms + DURATION_TOLERANCE_S * 1000.0
    for list_key in ("transcript", "toolCalls"):
        items = end.get(list_key)
        if not isinstance(items, list):
            continue
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                continue
            for key in ("audioOffsetMs", "endAudioOffsetMs"):
                v = item.get(key)
                if _is_int(v) and v > limit:
                    problems.append(
                        f"{list_key}[{i}]: {key} {v} is past the end of the recording ({rec_ms:.0f} ms)"
                    )
    return problems


def _ranges(values: Sequence[int]) -> str:
    """[1,2,3,7] -> '1-3, 7' (a long gap stays readable)."""
    out: list[str] = []
    vals = sorted(values)
    i = 0
    while i < len(vals):
        j = i
        while j + 1 < len(vals) and vals[j + 1] == vals[j] + 1:
            j += 1
        out.append(str(vals[i]) if i == j else f"{vals[i]}-{vals[j]}")
        i = j + 1
    return ", ".join(out)
