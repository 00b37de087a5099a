"""Redaction follows what the wire models declare personal (models.personal), not a list of names."""

from __future__ import annotations

from typing import Optional, Union

import pytest

from pipecat_roark.models import (
    CallEnded, CallStarted, PersonalField, Telephony, WireModel, personal, personal_fields, personal_keys,
)
from pipecat_roark.redaction import PHONE_NUMBER_FIELDS, Redactor


def _kinds(fields, prefix=""):
    out = {}
    for key, f in fields.items():
        if f.kind:
            out[prefix + key] = f.kind
        elif f.keys:
            out.update({f"{prefix}{key}[].{k}": v for k, v in f.keys.items()})
        else:
            out.update(_kinds(f.inner, f"{prefix}{key}."))
    return out


def test_the_declaration_names_every_field_that_carries_personal_data():
    assert _kinds(personal_fields(CallEnded)) == {
        "transcript.content": "text",
        "transcript.userId": "text",
        "transcript.sttQuality.words[].word": "drop",
        "transcript.sttQuality.words[].punctuatedWord": "drop",
        "toolCalls.arguments": "json_value",
        "toolCalls.content": "json",
        "toolCalls.error": "text",
        "errors.message": "text",
        "logs.message": "text",
        "telephony.fromNumber": "phone",
        "telephony.toNumber": "phone",
        "events.data": "values",
    }
    assert _kinds(personal_fields(CallStarted)) == {"telephony.fromNumber": "phone", "telephony.toNumber": "phone"}
    assert PHONE_NUMBER_FIELDS == ("fromNumber", "toNumber") and personal_fields(Telephony)["toNumber"].kind == "phone"


class _Note(WireModel):
    text: str = personal("text")
    author: Optional[str] = None


class _Attachment(WireModel):
    kind: str = "attachment"
    body: str = personal("json")


class _Ended(CallEnded):
    notes: Optional[list[Union[_Note, _Attachment]]] = None
    extras: Optional[dict] = personal_keys(None, secret="drop", caption="text")


def test_a_new_extension_is_redacted_by_declaring_it_only(monkeypatch):
    import pipecat_roark.redaction_payloads as redaction

    monkeypatch.setattr(redaction, "CallEnded", _Ended)
    wire = _Ended(pipecat_call_id="c", event_timestamp="t", call_ended_at="t", call_ended_reason="r",
                  notes=[_Note(text="mail jane@x.com", author="jane@x.com"),
                         _Attachment(body='{"to": "jane@x.com", "n": 1}')],
                  extras={"secret": "s", "caption": "call 415-555-0132", "other": "jane@x.com"}).to_wire()
    Redactor(True).payload(wire)
    assert wire["notes"] == [{"text": "mail [EMAIL]", "author": "jane@x.com"},
                             {"kind": "attachment", "body": '{"to":"[EMAIL]","n":1}'}]
    assert wire["extras"] == {"caption": "call [PHONE]", "other": "jane@x.com"}


def test_call_started_payloads_use_the_call_started_declaration():
    wire = {"event": "call-started", "telephony": {"fromNumber": "+14155550132"},
            "transcript": [{"content": "jane@x.com"}]}  # not a call-started field: left alone
    Redactor(True).payload(wire)
    assert wire == {"event": "call-started", "telephony": {"fromNumber": "[PHONE]"},
                    "transcript": [{"content": "jane@x.com"}]}


def test_fields_of_another_shape_are_left_alone():
    wire = {"transcript": [{"content": 5, "userId": None}, "x"], "telephony": "+14155550132",
            "events": [{"data": "jane@x.com"}], "toolCalls": {"arguments": "jane@x.com"}}
    Redactor(True).payload(wire)
    assert wire["transcript"] == [{"content": 5, "userId": None}, "x"] and wire["telephony"] == "+14155550132"
    assert wire["events"] == [{"data": "jane@x.com"}]
    assert wire["toolCalls"] == {"arguments": "[EMAIL]"}  # one record instead of a list: still redacted


def test_a_union_marking_one_name_two_ways_is_refused():
    class A(WireModel):
        x: str = personal("text")

    class B(WireModel):
        x: str = personal("phone")

    class Both(WireModel):
        items: list[Union[A, B]]

    with pytest.raises(TypeError, match="differently"):
        personal_fields(Both)

    class Bad(WireModel):
        y: str = personal("shout")  # type: ignore[arg-type]

    with pytest.raises(TypeError, match="unknown redaction kind"):
        personal_fields(Bad)
    assert isinstance(personal_fields(A)["x"], PersonalField)
