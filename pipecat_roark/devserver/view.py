"""JSON shapes for the pages and the API, and the self-contained export page.

Pure: takes a CallRecord (and the stitched PCM when a recording is wanted)
and returns plain dicts/strings. The HTTP layer only serialises them.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any, Optional
from urllib.parse import quote

from . import otlp, wav
from .checks import parse_iso
from .store import CallRecord

STATIC_DIR = Path(__file__).parent / "static"
PEAK_BUCKETS = 2000
#: A user turn whose STT confidence is below this is highlighted on the call page.
LOW_CONFIDENCE = 0.6


def call_path(call_id: str) -> str:
    # safe="" so a "/" or "?" inside a call id cannot change the route.
    return quote(call_id, safe="")


def download_name(call_id: str, ext: str) -> str:
    """``<call id>.<ext>`` as a file name: characters a file system or a
    Content-Disposition header would choke on become ``_``."""
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", call_id).strip(".")[:120] or "call"
    return f"{stem}.{ext}"


def _duration_s(rec: CallRecord) -> Optional[float]:
    end = rec.ended or {}
    a, b = parse_iso(end.get("callStartedAt")), parse_iso(end.get("callEndedAt"))
    if a is None and rec.started:
        a = parse_iso(rec.started.get("eventTimestamp"))
    if a is not None and b is not None and (a.tzinfo is None) == (b.tzinfo is None):
        return round((b - a).total_seconds(), 3)
    return None


def summary(rec: CallRecord) -> dict[str, Any]:
    """One row of the call list."""
    started = rec.started or {}
    ended = rec.ended or {}
    transcript = ended.get("transcript") if isinstance(ended.get("transcript"), list) else []
    tools = ended.get("toolCalls") if isinstance(ended.get("toolCalls"), list) else []
    return {
        "callId": rec.call_id,
        "firstSeen": rec.first_seen,
        "startedAt": ended.get("callStartedAt") or started.get("eventTimestamp"),
        "agentId": started.get("agentId"),
        "agentName": started.get("agentName"),
        "isTest": started.get("isTest"),
        "durationS": _duration_s(rec),
        "turns": len(transcript),
        "toolCalls": sum(1 for t in tools if isinstance(t, dict) and t.get("kind") == "tool_call"),
        "endReason": ended.get("callEndedReason"),
        "complete": rec.ended is not None,
        "chunks": len(rec.chunks),
        "problemCount": len(rec.problems),
        "latencyP95Ms": latency_p95(ended),
        "errorCount": error_count(ended),
        # Issue 14: sortable / filterable in the list.
        "endStatus": ended.get("callEndedStatus") if isinstance(ended.get("callEndedStatus"), str) else None,
        "endedBy": ended.get("callEndedBy") if isinstance(ended.get("callEndedBy"), str) else None,
        "costUsd": _cost_total(ended),
        "costComplete": (ended.get("cost") or {}).get("complete") if isinstance(ended.get("cost"), dict) else None,
        "telephonyProvider": (telephony(rec) or {}).get("provider"),
        "links": {"page": f"/calls/{call_path(rec.call_id)}", "api": f"/api/calls/{call_path(rec.call_id)}"},
    }


# ---- outcome, telephony, timeline events, cost, turn-taking (issue 14) -----------


def _cost_total(ended: dict) -> Optional[float]:
    cost = ended.get("cost")
    total = cost.get("totalUsd") if isinstance(cost, dict) else None
    return float(total) if isinstance(total, (int, float)) and not isinstance(total, bool) else None


def outcome(ended: dict) -> dict[str, Any]:
    """How the call ended: the documented status, who ended it, who spoke last, the free-text reason."""
    return {
        "status": ended.get("callEndedStatus"),
        "endedBy": ended.get("callEndedBy"),
        "lastSpeaker": ended.get("lastSpeaker"),
        "reason": ended.get("callEndedReason"),
    }


def telephony(rec: CallRecord) -> Optional[dict[str, Any]]:
    """The phone call: call-ended's (learnt during the call) over call-started's."""
    for payload in (rec.ended, rec.started):
        tel = (payload or {}).get("telephony")
        if isinstance(tel, dict) and tel:
            return tel
    return None


def timeline_events(ended: dict) -> list[dict[str, Any]]:
    """DTMF keypresses and the app's own events, in time order, for the timeline and the table."""
    rows = []
    for e in _list(ended, "events"):
        data = e.get("data") if isinstance(e.get("data"), dict) else None
        if e.get("kind") == "dtmf":
            who = "caller" if e.get("direction") == "inbound" else "bot"
            label = f"DTMF {(data or {}).get('digits', '?')} ({who})"
        else:
            label = str(e.get("name") or "event")
        rows.append({
            "kind": e.get("kind"),
            "name": e.get("name"),
            "label": label,
            "direction": e.get("direction"),
            "offsetMs": _int(e.get("audioOffsetMs")),
            "timestamp": e.get("timestamp"),
            "data": data,
        })
    rows.sort(key=lambda r: (r["offsetMs"] is None, r["offsetMs"] or 0))
    return rows


def cost_view(ended: dict) -> Optional[dict[str, Any]]:
    """The call's cost as sent, with one row per component."""
    cost = ended.get("cost")
    if not isinstance(cost, dict):
        return None
    rows = []
    for c in _list(cost, "components"):
        rows.append({
            "component": c.get("component"),
            "model": c.get("model"),
            "processor": c.get("processor"),
            "usd": c.get("usd") if isinstance(c.get("usd"), (int, float)) else None,
            "status": c.get("status"),
            "source": c.get("source"),
            "basis": c.get("basis"),
            "quantity": c.get("quantity") if isinstance(c.get("quantity"), dict) else None,
        })
    return {
        "totalUsd": _cost_total(ended),
        "complete": cost.get("complete"),
        "byComponent": cost.get("byComponent") if isinstance(cost.get("byComponent"), dict) else {},
        "components": rows,
        "unknown": cost.get("unknown") if isinstance(cost.get("unknown"), list) else [],
        "perTurn": _list(cost, "perTurn"),
        "pricesAsOf": cost.get("pricesAsOf"),
    }


# ---- metrics, latency, recording health (contract extensions) -------------------


def _list(ended: dict, key: str) -> list:
    value = ended.get(key)
    return [x for x in value if isinstance(x, dict)] if isinstance(value, list) else []


def _int(v: Any) -> Optional[int]:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


INTERRUPTION_CAUSES = ("caller", "pipeline")


def interruption_cause(turn: dict) -> Optional[str]:
    """Who cut an assistant turn off: "caller" (a barge-in) or "pipeline".

    "pipeline": the bot was cut off while the caller was silent (the
    pipeline interrupted itself, e.g. after a late transcript). A turn marked
    interrupted without ``interruptionCause`` (older clients) is a barge-in.
    """
    if turn.get("role") != "assistant" or turn.get("interrupted") is not True:
        return None
    cause = turn.get("interruptionCause")
    return cause if cause in INTERRUPTION_CAUSES else "caller"


def interruption_counts(transcript: list) -> dict[str, int]:
    counts = dict.fromkeys(INTERRUPTION_CAUSES, 0)
    for t in transcript:
        cause = interruption_cause(t) if isinstance(t, dict) else None
        if cause:
            counts[cause] += 1
    return counts


def latency_rows(transcript: list) -> list[dict[str, Any]]:
    """Assistant turns with a response latency or a barge-in, for the latency row."""
    rows = []
    for i, t in enumerate(transcript):
        if not isinstance(t, dict) or t.get("role") != "assistant":
            continue
        latency, barge = _int(t.get("responseLatencyMs")), _int(t.get("bargeInLatencyMs"))
        if latency is None and not t.get("interrupted"):
            continue
        rows.append({
            "turnIndex": i,
            "offsetMs": _int(t.get("audioOffsetMs")),
            "endOffsetMs": _int(t.get("endAudioOffsetMs")),
            "latencyMs": latency,
            "interrupted": bool(t.get("interrupted")),
            "cause": interruption_cause(t),
            "bargeInMs": barge,
            "content": t.get("content"),
        })
    return rows


def latency_p95(ended: dict) -> Optional[int]:
    """The call's p95 response latency: the client's summary, else from the turns."""
    lat = (ended.get("callSummary") or {}).get("latency") if isinstance(ended.get("callSummary"), dict) else None
    if isinstance(lat, dict) and _int(lat.get("p95Ms")) is not None:
        return lat["p95Ms"]
    values = sorted(r["latencyMs"] for r in latency_rows(_list(ended, "transcript")) if r["latencyMs"] is not None)
    if not values:
        return None
    return values[max(1, -(-95 * len(values) // 100)) - 1]


def error_count(ended: dict) -> int:
    summary_block = ended.get("callSummary")
    if isinstance(summary_block, dict) and _int(summary_block.get("errors")) is not None:
        return summary_block["errors"]
    return sum(_int(e.get("count")) or 1 for e in _list(ended, "errors"))


def ttfb_rows(metrics: list, transcript: list) -> list[dict[str, Any]]:
    """Time to first byte per turn and service (the first measurement of each)."""
    by_turn: dict[Any, dict[str, Any]] = {}
    for m in metrics:
        if not isinstance(m, dict) or not isinstance(m.get("ttfb"), (int, float)) or m.get("metric", "ttfb") != "ttfb":
            continue
        turn = _int(m.get("turnIndex"))
        row = by_turn.setdefault(turn, {"turnIndex": turn, "interrupted": False})
        kind = str(m.get("kind") or "other")
        row.setdefault(kind, round(float(m["ttfb"]), 3))
        row["interrupted"] = row["interrupted"] or bool(m.get("interrupted"))
    rows = sorted(by_turn.values(), key=lambda r: (r["turnIndex"] is None, r["turnIndex"] or 0))
    for row in rows:
        i = row["turnIndex"]
        turn = transcript[i] if i is not None and 0 <= i < len(transcript) and isinstance(transcript[i], dict) else {}
        row["role"] = turn.get("role")
        row["offsetMs"] = _int(turn.get("audioOffsetMs"))
        # The measurements of a caller's turn belong to the bot's reply to it:
        # "interrupted" says that reply was cut off, so name the reply.
        reply = _reply_index(transcript, i)
        row["replyTurnIndex"] = reply
        row["replyCause"] = interruption_cause(transcript[reply]) if reply is not None else None
    return rows


def _reply_index(transcript: list, i: Optional[int]) -> Optional[int]:
    """The assistant turn answering turn ``i`` (itself if it is one), if any."""
    if i is None or not 0 <= i < len(transcript):
        return None
    for j in range(i, len(transcript)):
        t = transcript[j]
        if isinstance(t, dict) and t.get("role") == "assistant":
            return j
        if j > i and isinstance(t, dict) and t.get("role") == "user":
            return None
    return None


def pair_tools(tools: Any) -> list[dict[str, Any]]:
    """Tool calls with their results, joined by toolCallId, in call order.

    A result whose call never arrived still gets a row (call = None), so
    nothing the client sent is hidden.
    """
    if not isinstance(tools, list):
        return []
    rows: dict[str, dict[str, Any]] = {}
    order: list[str] = []
    for rec in tools:
        if not isinstance(rec, dict):
            continue
        tid = str(rec.get("toolCallId"))
        if tid not in rows:
            rows[tid] = {"toolCallId": tid, "call": None, "result": None}
            order.append(tid)
        slot = "call" if rec.get("kind") == "tool_call" else "result"
        if rows[tid][slot] is None:  # duplicates are reported by the checks
            rows[tid][slot] = rec
    out = []
    for tid in order:
        row = rows[tid]
        call = row["call"] or {}
        row["name"] = call.get("name")
        args = call.get("arguments")
        try:
            row["argumentsParsed"] = json.loads(args) if isinstance(args, str) else None
        except ValueError:
            row["argumentsParsed"] = None
        out.append(row)
    return out


def low_confidence_turns(transcript: list, threshold: float = LOW_CONFIDENCE) -> list[int]:
    """Indexes of the user turns the STT was unsure of (no confidence given: never listed)."""
    out = []
    for i, turn in enumerate(transcript):
        quality = turn.get("sttQuality") if isinstance(turn, dict) else None
        conf = quality.get("confidence") if isinstance(quality, dict) else None
        if turn.get("role") == "user" and isinstance(conf, (int, float)) and not isinstance(conf, bool) and conf < threshold:
            out.append(i)
    return out


def log_rows(ended: dict) -> list[dict[str, Any]]:
    """The call's log lines (capture_logs=True), in order, with their place on the recording when known."""
    rows = []
    for line in _list(ended, "logs"):
        if not isinstance(line, dict):
            continue
        rows.append({
            "timestamp": line.get("timestamp"),
            "level": str(line.get("level") or ""),
            "logger": line.get("logger"),
            "message": str(line.get("message") or ""),
            "audioOffsetMs": _int(line.get("audioOffsetMs")),
            "count": _int(line.get("count")) or 1,
        })
    return rows


def recording_info(rec: CallRecord, pcm: bytes, default_rate: int, with_peaks: bool = True) -> dict[str, Any]:
    fmt = wav.recording_format(rec.ended, default_rate)
    info: dict[str, Any] = {
        "available": len(pcm) > 0,
        "sampleRate": fmt.rate,
        "channels": fmt.channels,
        "assumedFormat": fmt.assumed,
        "bytes": len(pcm),
        "durationMs": round(wav.duration_ms(len(pcm), fmt.rate, fmt.channels), 1),
    }
    if with_peaks:
        per_channel = wav.peaks(pcm, fmt.channels, PEAK_BUCKETS)
        # Left = caller, right = bot (contract). Mono: the one channel is shown as the caller.
        info["peaks"] = {
            "caller": per_channel[0] if per_channel else [],
            "bot": per_channel[1] if len(per_channel) > 1 else [],
        }
    return info


def detail(rec: CallRecord, pcm: bytes, default_rate: int = wav.DEFAULT_RATE, with_peaks: bool = True) -> dict[str, Any]:
    """Everything the call page shows."""
    ended = rec.ended or {}
    transcript = ended.get("transcript") if isinstance(ended.get("transcript"), list) else []
    cid = call_path(rec.call_id)
    return {
        **summary(rec),
        "started": rec.started,
        "ended": rec.ended,
        "transcript": [t for t in transcript if isinstance(t, dict)],
        "tools": pair_tools(ended.get("toolCalls")),
        "metrics": ended.get("metrics") if isinstance(ended.get("metrics"), list) else [],
        "latency": {
            "rows": latency_rows(transcript),
            "p95Ms": latency_p95(ended),
        },
        "interruptions": interruption_counts(transcript),
        "outcome": outcome(ended),
        "telephony": telephony(rec),
        "timelineEvents": timeline_events(ended),
        "cost": cost_view(ended),
        "turnTaking": ended.get("turnTaking") if isinstance(ended.get("turnTaking"), dict) else None,
        "ttfb": ttfb_rows(_list(ended, "metrics"), transcript),
        "errors": _list(ended, "errors"),
        # issue 15: capture control
        "lowConfidenceTurns": low_confidence_turns(transcript),
        "lowConfidenceThreshold": LOW_CONFIDENCE,
        "logs": log_rows(ended),
        "logsDropped": _int(ended.get("logsDropped")),
        "captureOff": [s for s in (ended.get("captureOff") if isinstance(ended.get("captureOff"), list) else [])
                       if isinstance(s, str)],
        "audioConsent": ended.get("audioConsent") if isinstance(ended.get("audioConsent"), str) else None,
        "callSummary": ended.get("callSummary") if isinstance(ended.get("callSummary"), dict) else None,
        "recordingStatus": ended.get("recordingStatus"),
        "recordingHealth": ended.get("recordingHealth") if isinstance(ended.get("recordingHealth"), dict) else None,
        "events": [
            {"seq": e.seq, "receivedAt": e.received_at, "status": e.status, "raw": e.raw, "json": e.payload}
            for e in rec.event_rows
        ],
        "uploads": [
            {
                "index": u.index,
                "bytes": u.size,
                "sha256": u.digest,
                "receivedAt": u.received_at,
                "contentType": u.content_type,
            }
            for u in rec.uploads
        ],
        "problems": list(rec.problems),
        "traces": otlp.waterfall(rec.started, rec.ended, rec.spans),
        "recording": recording_info(rec, pcm, default_rate, with_peaks),
        "links": {
            "page": f"/calls/{cid}",
            "wav": f"/api/calls/{cid}/recording.wav",
            "json": f"/api/calls/{cid}/call.json",
            "export": f"/api/calls/{cid}/export.html",
        },
        "downloads": {
            "wav": download_name(rec.call_id, "wav"),
            "json": download_name(rec.call_id, "json"),
            "export": download_name(rec.call_id, "html"),
        },
    }


def _script_json(data: Any) -> str:
    # Inside <script>, "</script>" or "<!--" in a transcript would end the
    # element early; escaping "<" keeps the JSON identical once parsed.
    return json.dumps(data, ensure_ascii=False).replace("<", "\\u003c")


def export_html(data: dict[str, Any], wav_data: Optional[bytes], static_dir: Path = STATIC_DIR) -> str:
    """The call page as one file: CSS, JS, data and the WAV inlined, no server needed."""
    page = (static_dir / "call.html").read_text(encoding="utf-8")
    css = (static_dir / "app.css").read_text(encoding="utf-8")
    js = (static_dir / "call.js").read_text(encoding="utf-8")
    data = dict(data)
    data["recording"] = dict(data["recording"])
    data["recording"]["src"] = (
        "data:audio/wav;base64," + base64.b64encode(wav_data).decode("ascii") if wav_data else None
    )
    data["exported"] = True
    safe_js = js.replace("</script", "<\\/script")
    replacements = {
        # No link back to a server the reader does not have.
        '<a href="/" id="back">&larr; all calls</a>': "",
        '<link rel="stylesheet" href="/static/app.css">': f"<style>\n{css}\n</style>",
        '<script src="/static/call.js"></script>': (
            f'<script id="call-data" type="application/json">{_script_json(data)}</script>\n'
            f"<script>\n{safe_js}\n</script>"
        ),
    }
    for old, new in replacements.items():
        if old not in page:  # the template and this function must stay in step
            raise RuntimeError(f"call.html template lacks {old!r}")
        page = page.replace(old, new)
    return page
