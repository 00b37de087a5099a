"""Issue 14's fields in the dev server: contract checks and the page/list data."""

from __future__ import annotations

import copy

import pytest

from devserver_helpers import TELEPHONY, ended, started
from pipecat_roark.devserver import checks
from pipecat_roark.devserver.store import CallRecord
from pipecat_roark.devserver.view import cost_view, summary, timeline_events

TURNS = [
    {"role": "user", "content": "hi", "timestamp": "2025-05-01T10:00:00.050Z", "endTimestamp": "2025-05-01T10:00:00.200Z"},
    {"role": "assistant", "content": "Hello", "timestamp": "2025-05-01T10:00:00.250Z",
     "endTimestamp": "2025-05-01T10:00:00.400Z"},
]
COST = {"currency": "USD", "totalUsd": 0.3, "complete": False, "byComponent": {"llm": 0.3},
        "components": [{"component": "llm", "model": "gpt-4o", "usd": 0.3, "status": "priced"},
                       {"component": "stt", "model": "x", "status": "unknown"}]}
TT = {"turns": {"user": 1, "assistant": 1}, "interruptions": {"caller": 0, "pipeline": 0, "total": 0},
      "overlapMs": 0, "talkTimeMs": {"user": 150, "assistant": 150}, "talkRatio": 0.5,
      "longestMonologueMs": {"user": 150, "assistant": 150}, "longSilences": [], "longSilenceThresholdMs": 3000}
GOOD = ended("c", seconds=0.5, agentSpokeFirst=False, transcript=TURNS, callEndedStatus="bot_ended",
             callEndedBy="bot", lastSpeaker="bot", telephony=TELEPHONY, cost=COST, turnTaking=TT,
             events=[{"kind": "dtmf", "name": "dtmf", "direction": "inbound", "data": {"digits": "1"},
                      "timestamp": "2025-05-01T10:00:00.100Z", "audioOffsetMs": 100},
                     {"kind": "user", "name": "transfer", "timestamp": "2025-05-01T10:00:00.300Z",
                      "audioOffsetMs": 300}])


def with_(path, value):
    p = copy.deepcopy(GOOD)
    obj = p
    keys = path.split(".")
    for k in keys[:-1]:
        obj = obj[int(k)] if isinstance(obj, list) else obj[k]
    if value is KeyError:
        del obj[keys[-1]]
    else:
        obj[int(keys[-1]) if isinstance(obj, list) else keys[-1]] = value
    return p


def test_the_extensions_as_the_package_sends_them_pass():
    assert checks.check_event(GOOD) == []
    assert checks.check_event(started("c", telephony=TELEPHONY)) == []


@pytest.mark.parametrize("payload, expected", [
    (with_("callEndedStatus", "hung_up"), "callEndedStatus must be one of caller_hung_up, bot_ended"),
    (with_("callEndedBy", "agent"), "callEndedBy must be one of caller, bot, system"),
    (with_("lastSpeaker", "system"), "lastSpeaker must be 'caller' or 'bot'"),
    (with_("telephony.provider", KeyError), "telephony.provider is required"),
    (with_("telephony.carrierSampleRate", "8k"), "carrierSampleRate must be a positive int"),
    (with_("events.0.direction", KeyError), "a dtmf event needs direction"),
    (with_("events.1.audioOffsetMs", 50), "events are not in time order"),
    (with_("events", []), "events is an empty list"),
    (with_("cost.components.1.usd", 0), "an unknown component must not carry usd (unknown is never zero)"),
    (with_("cost.totalUsd", 0.5), "is not the sum of the priced components"),
    (with_("cost.complete", True), "complete is true but some component is unknown"),
    (with_("turnTaking.talkRatio", 1.5), "talkRatio must be between 0 and 1"),
    (with_("turnTaking.interruptions.total", 2), "caller + pipeline != total"),
])
def test_each_wrong_extension_is_named(payload, expected):
    problems = checks.check_event(payload)
    assert any(expected in p for p in problems), problems


def test_a_telephony_without_provider_on_call_started_is_named():
    problems = checks.check_event(started("c", telephony={"callId": "CA1"}))
    assert any("telephony.provider is required" in p for p in problems)


def test_the_list_row_and_the_page_data():
    rec = CallRecord("c", "2025-05-01T10:00:00Z", [], started("c", telephony=TELEPHONY), GOOD, {}, [])
    row = summary(rec)
    assert (row["endStatus"], row["endedBy"], row["costUsd"], row["costComplete"], row["telephonyProvider"]) == (
        "bot_ended", "bot", 0.3, False, "twilio")
    evs = timeline_events(GOOD)
    assert [(e["label"], e["offsetMs"]) for e in evs] == [("DTMF 1 (caller)", 100), ("transfer", 300)]
    cost = cost_view(GOOD)
    assert [(c["component"], c["usd"]) for c in cost["components"]] == [("llm", 0.3), ("stt", None)]
