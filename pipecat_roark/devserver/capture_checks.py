"""Checks of the capture-control extensions of call-ended (issue 15).

``captureOff``, ``audioConsent``, ``logs`` / ``logsDropped`` and each user
turn's ``sttQuality``: their shapes, and that what the payload says was left
out is indeed absent (a field present although its switch is off, or audio
uploaded although consent was not given, is the leak these features exist
to prevent).
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

SWITCHES = ("audio", "transcript", "tools", "metrics", "logs", "traces")
CONSENT = ("granted", "discarded", "revoked", "not_given")
#: call-ended fields each switch governs.
GOVERNED = {"transcript": ("transcript",), "tools": ("toolCalls",), "metrics": ("metrics",), "logs": ("logs",),
            "audio": ("recordingSampleRate", "recordingNumChannels")}
LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _offset(where: str, v: Any) -> list[str]:
    if not _is_int(v) or v < 0:
        return [f"{where} must be an int >= 0, got {v!r}"]
    return []


def check_capture_fields(p: Mapping[str, Any]) -> list[str]:
    """Problems with captureOff / audioConsent / logs in a call-ended payload."""
    w = "call-ended"
    problems: list[str] = []
    off = p.get("captureOff")
    if "captureOff" in p:
        if not isinstance(off, list) or not all(isinstance(s, str) for s in off):
            problems.append(f"{w}: captureOff must be a list of switch names, got {off!r}")
            off = []
        for name in off:
            if name not in SWITCHES:
                problems.append(f"{w}: captureOff names an unknown switch {name!r} (known: {', '.join(SWITCHES)})")
            for key in GOVERNED.get(name, ()):
                if key in p:
                    problems.append(f"{w}: {key} sent although captureOff says {name!r} is off")
    consent = p.get("audioConsent")
    if "audioConsent" in p:
        if consent not in CONSENT:
            problems.append(f"{w}: audioConsent must be one of {', '.join(CONSENT)}, got {consent!r}")
        elif consent in ("discarded", "not_given"):
            for key in ("recordingSampleRate", "recordingNumChannels", "recordingStartedAt"):
                if key in p:
                    problems.append(f"{w}: {key} sent although audioConsent is {consent!r} (no recording)")
    if "logs" in p:
        logs = p["logs"]
        if not isinstance(logs, list) or not logs:
            problems.append(f"{w}: logs must be a non-empty list (omit it when there are none), got {logs!r}")
        else:
            for i, line in enumerate(logs):
                problems += check_log_line(line, f"logs[{i}]")
    if "logsDropped" in p and (not _is_int(p["logsDropped"]) or p["logsDropped"] < 1):
        problems.append(f"{w}: logsDropped must be an int >= 1, got {p['logsDropped']!r}")
    return problems


def check_log_line(line: Any, where: str) -> list[str]:
    if not isinstance(line, dict):
        return [f"{where} must be an object"]
    problems = []
    for key in ("timestamp", "level", "message"):
        if not isinstance(line.get(key), str):
            problems.append(f"{where}: {key} must be a string, got {line.get(key)!r}")
    if isinstance(line.get("level"), str) and line["level"] not in LOG_LEVELS:
        problems.append(f"{where}: level {line['level']!r} is not a log level")
    if "audioOffsetMs" in line:
        problems += _offset(f"{where}: audioOffsetMs", line["audioOffsetMs"])
    if "count" in line and (not _is_int(line["count"]) or line["count"] < 2):
        problems.append(f"{where}: count must be an int >= 2 (identical lines folded), got {line['count']!r}")
    return problems


def check_stt_quality(turn: Mapping[str, Any], where: str) -> list[str]:
    """Problems with a turn's sttQuality (user turns only; absent values omitted, never zero)."""
    if "sttQuality" not in turn:
        return []
    q = turn["sttQuality"]
    if turn.get("role") != "user":
        return [f"{where}: sttQuality is only meaningful on user turns"]
    if not isinstance(q, dict):
        return [f"{where}: sttQuality must be an object"]
    problems = []
    if "confidence" in q and (not _is_num(q["confidence"]) or not 0 < q["confidence"] <= 1):
        problems.append(f"{where}: sttQuality.confidence must be in (0, 1] (omit it when unknown), got {q['confidence']!r}")
    if "confidenceFrom" in q and q["confidenceFrom"] not in ("provider", "words"):
        problems.append(f"{where}: sttQuality.confidenceFrom must be 'provider' or 'words', got {q['confidenceFrom']!r}")
    words = q.get("words", [])
    if not isinstance(words, list):
        return problems + [f"{where}: sttQuality.words must be a list"]
    for i, word in enumerate(words):
        ww = f"{where}: sttQuality.words[{i}]"
        if not isinstance(word, dict):
            problems.append(f"{ww} must be an object")
            continue
        for key in ("audioOffsetMs", "endAudioOffsetMs"):
            if key in word:
                problems += _offset(f"{ww}.{key}", word[key])
        if "confidence" in word and (not _is_num(word["confidence"]) or not 0 < word["confidence"] <= 1):
            problems.append(f"{ww}.confidence must be in (0, 1], got {word['confidence']!r}")
    return problems


def check_consent_uploads(end: Mapping[str, Any] | None, uploaded: Sequence[int]) -> list[str]:
    """Audio that arrived for a call whose caller did not consent."""
    consent = (end or {}).get("audioConsent")
    if consent in ("discarded", "not_given") and uploaded:
        return [f"{len(uploaded)} recording chunk(s) arrived although audioConsent is {consent!r}"]
    if "audio" in ((end or {}).get("captureOff") or []) and uploaded:
        return [f"{len(uploaded)} recording chunk(s) arrived although captureOff says audio is off"]
    return []
