"""Contract checks of issue 14's extensions: outcome, telephony, timeline events, cost, turn-taking.

Pure, like :mod:`.checks` (which calls these): what a client sent in, problem
sentences out. The allowed values are the package's own (models.py), so the
dev server and the client cannot drift apart silently.
"""

from __future__ import annotations

from typing import Any, Mapping

from ..outcome import END_STATUSES

PARTIES = ("caller", "bot", "system")
SPEAKERS = ("caller", "bot")
PROVIDERS = ("twilio", "telnyx", "plivo", "exotel", "vonage", "genesys", "daily")
EVENT_KINDS = ("dtmf", "user")
COST_COMPONENTS = ("stt", "llm", "tts", "s2s")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _non_negative_int(where: str, v: Any) -> list[str]:
    return [] if _is_int(v) and v >= 0 else [f"{where} must be an int >= 0, got {v!r}"]


def check_telephony(tel: Any, where: str) -> list[str]:
    """The ``telephony`` object (call-started, and again on call-ended)."""
    if not isinstance(tel, dict):
        return [f"{where}: telephony must be an object, got {type(tel).__name__}"]
    problems = []
    if not isinstance(tel.get("provider"), str) or not tel.get("provider"):
        problems.append(f"{where}: telephony.provider is required (one of {', '.join(PROVIDERS)})")
    for key in ("callId", "streamId", "accountId", "fromNumber", "toNumber", "encoding"):
        if key in tel and not isinstance(tel[key], str):
            problems.append(f"{where}: telephony.{key} must be a string")
    if "direction" in tel and tel["direction"] not in ("inbound", "outbound"):
        problems.append(f"{where}: telephony.direction must be 'inbound' or 'outbound', got {tel['direction']!r}")
    if "carrierSampleRate" in tel and not (_is_int(tel["carrierSampleRate"]) and tel["carrierSampleRate"] > 0):
        problems.append(f"{where}: telephony.carrierSampleRate must be a positive int, got {tel['carrierSampleRate']!r}")
    return problems


def check_started(p: Mapping[str, Any]) -> list[str]:
    return check_telephony(p["telephony"], "call-started") if "telephony" in p else []


def _check_events(events: Any) -> list[str]:
    if not isinstance(events, list):
        return ["call-ended: events must be a list"]
    if not events:
        return ["call-ended: events is an empty list (omit it when there are none)"]
    problems = []
    last = -1
    for i, e in enumerate(events):
        w = f"events[{i}]"
        if not isinstance(e, dict):
            problems.append(f"{w} must be an object")
            continue
        if e.get("kind") not in EVENT_KINDS:
            problems.append(f"{w}: kind must be one of {', '.join(EVENT_KINDS)}, got {e.get('kind')!r}")
        if not isinstance(e.get("name"), str) or not e.get("name"):
            problems.append(f"{w}: name is required")
        if not isinstance(e.get("timestamp"), str):
            problems.append(f"{w}: missing required field 'timestamp'")
        if "data" in e and not isinstance(e["data"], dict):
            problems.append(f"{w}: data must be an object")
        if e.get("kind") == "dtmf":
            if e.get("direction") not in ("inbound", "outbound"):
                problems.append(f"{w}: a dtmf event needs direction 'inbound' or 'outbound'")
            if not isinstance((e.get("data") or {}).get("digits"), str):
                problems.append(f"{w}: a dtmf event needs data.digits")
        if "audioOffsetMs" in e:
            problems += _non_negative_int(f"{w}: audioOffsetMs", e["audioOffsetMs"])
            if _is_int(e["audioOffsetMs"]):
                if e["audioOffsetMs"] < last:
                    problems.append(f"{w}: events are not in time order (audioOffsetMs goes back)")
                last = e["audioOffsetMs"]
    return problems


def _check_cost(cost: Any) -> list[str]:
    w = "call-ended: cost"
    if not isinstance(cost, dict):
        return [f"{w} must be an object"]
    problems = []
    total = cost.get("totalUsd")
    if not (_is_num(total) and total >= 0):
        problems.append(f"{w}.totalUsd must be a number >= 0, got {total!r}")
    if not isinstance(cost.get("complete"), bool):
        problems.append(f"{w}.complete must be a bool")
    comps = cost.get("components")
    if not isinstance(comps, list):
        return problems + [f"{w}.components must be a list"]
    priced = 0.0
    any_unknown = False
    for i, c in enumerate(comps):
        cw = f"{w}.components[{i}]"
        if not isinstance(c, dict):
            problems.append(f"{cw} must be an object")
            continue
        if c.get("component") not in COST_COMPONENTS:
            problems.append(f"{cw}: component must be one of {', '.join(COST_COMPONENTS)}, got {c.get('component')!r}")
        usd = c.get("usd")
        if c.get("status") == "unknown":
            any_unknown = True
            if usd is not None:
                problems.append(f"{cw}: an unknown component must not carry usd (unknown is never zero)")
        elif not (_is_num(usd) and usd >= 0):
            problems.append(f"{cw}: usd must be a number >= 0 for a priced component, got {usd!r}")
        else:
            priced += usd
    if _is_num(total) and abs(priced - total) > 1e-5 * max(1, len(comps)):
        problems.append(f"{w}.totalUsd ({total}) is not the sum of the priced components ({round(priced, 6)})")
    if isinstance(cost.get("complete"), bool) and cost["complete"] == any_unknown:
        problems.append(f"{w}.complete is {str(cost['complete']).lower()} but "
                        f"{'some' if any_unknown else 'no'} component is unknown")
    return problems


def _check_turn_taking(tt: Any) -> list[str]:
    w = "call-ended: turnTaking"
    if not isinstance(tt, dict):
        return [f"{w} must be an object"]
    problems = []
    for key in ("turns", "interruptions", "talkTimeMs", "longestMonologueMs"):
        if not isinstance(tt.get(key), dict):
            problems.append(f"{w}.{key} must be an object")
    problems += _non_negative_int(f"{w}.overlapMs", tt.get("overlapMs"))
    ratio = tt.get("talkRatio")
    if ratio is not None and not (_is_num(ratio) and 0 <= ratio <= 1):
        problems.append(f"{w}.talkRatio must be between 0 and 1, got {ratio!r}")
    inter = tt.get("interruptions")
    if isinstance(inter, dict) and all(_is_int(inter.get(k)) for k in ("caller", "pipeline", "total")):
        if inter["caller"] + inter["pipeline"] != inter["total"]:
            problems.append(f"{w}.interruptions: caller + pipeline != total")
    return problems


def check_ended(p: Mapping[str, Any]) -> list[str]:
    """The issue-14 fields of call-ended (all optional extensions)."""
    w = "call-ended"
    problems = []
    if "callEndedStatus" in p and p["callEndedStatus"] not in END_STATUSES:
        problems.append(f"{w}: callEndedStatus must be one of {', '.join(END_STATUSES)}, got {p['callEndedStatus']!r}")
    if "callEndedBy" in p and p["callEndedBy"] not in PARTIES:
        problems.append(f"{w}: callEndedBy must be one of {', '.join(PARTIES)}, got {p['callEndedBy']!r}")
    if "callEndedBy" in p and "callEndedStatus" not in p:
        problems.append(f"{w}: callEndedBy sent without callEndedStatus")
    if "lastSpeaker" in p:
        if p["lastSpeaker"] not in SPEAKERS:
            problems.append(f"{w}: lastSpeaker must be 'caller' or 'bot', got {p['lastSpeaker']!r}")
        if not p.get("transcript"):
            problems.append(f"{w}: lastSpeaker sent without any transcript turn")
    if "telephony" in p:
        problems += check_telephony(p["telephony"], w)
    if "events" in p:
        problems += _check_events(p["events"])
    if "cost" in p:
        problems += _check_cost(p["cost"])
    if "turnTaking" in p:
        problems += _check_turn_taking(p["turnTaking"])
    return problems


__all__ = ["check_ended", "check_started", "check_telephony"]
