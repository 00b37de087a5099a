"""redact=: the built-in rules, custom rules, failures, JSON, payloads (pure: no Pipecat, no network)."""

import json
import re

import pytest

from pipecat_roark.call import Call

from .test_call import PlacedCall
from pipecat_roark.config import build_settings
from pipecat_roark.models import CallEnded
from pipecat_roark.redaction import REDACTION_FAILED, RedactionError, Redactor, build_redactor, luhn_ok

R = Redactor(True)
S = 1_000_000_000


# -- built-in rules: what they catch -------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("mail me at jane.doe@example.com please", "mail me at [EMAIL] please"),
    ("JANE_O'Brien+tag@Mail.Example.co.uk.", "[EMAIL]."),
    ("email:j@x.io,k@y.org", "email:[EMAIL],[EMAIL]"),
    ("münchen@bücher.de", "[EMAIL]"),
])
def test_email_true_positives(text, expected):
    assert R.redact(text) == expected


@pytest.mark.parametrize("text", [
    "meet me @ noon", "user@localhost", "a@b", "price is 5@3 dollars", "@handle on social", "jane at example dot com",
])
def test_email_true_negatives(text):
    assert Redactor(["email"]).redact(text) == text


@pytest.mark.parametrize("number", [
    "(415) 555-0132", "415-555-0132", "415.555.0132", "415 555 0132", "555-0132",
    "020 7946 0958", "+44 20 7946 0958", "+44 (0)20 7946 0958", "+1 (415) 555-0132", "+14155550132",
    "1-800-555-0199", "01 23 45 67 89", "+33 1 23 45 67 89", "030 12345678", "0171 1234567", "00 49 30 12345678",
])
def test_phone_true_positives(number):
    assert R.redact(f"call me on {number}, thanks") == "call me on [PHONE], thanks"


@pytest.mark.parametrize("text", [
    "I was born in 1987 and moved in 2019",
    "see you at 10:30 or 14:45:00",
    "on 2024-01-15, 15.01.2024, 01/15/2024 or 15 01 2024",
    "from 2019-2020",
    "it cost $1,250,000 or 1.250.000 € or 12 500 000 euros or $ 415 555 0132",
    "a 12.5% rise, 3.14159, version 1.2.3, host 192.168.10.100",
    "order 427, order 1234 5678, order 1234567890, zip 94105-1234, 1 000 000 people",
    "4111 1111 1111 1112",  # a card-shaped number that fails the Luhn check
    "+1",
])
def test_phone_true_negatives(text):
    assert R.redact(text) == text


def test_a_phone_number_inside_a_longer_run_of_numbers():
    assert R.redact("my number is 415 555 0132 4 times") == "my number is [PHONE] 4 times"
    assert R.redact("at 10:30 415-555-0132") == "at 10:30 [PHONE]"


@pytest.mark.parametrize("card", [
    "4111 1111 1111 1111", "4111-1111-1111-1111", "4111111111111111", "5500 0000 0000 0004",
    "3782 822463 10005", "6011111111111117", "4222222222222",
])
def test_card_true_positives(card):
    assert R.redact(f"my card is {card}.") == "my card is [CARD]."


@pytest.mark.parametrize("text", [
    "order 4111 1111 1111 1112", "tracking 1234567890123", "0000 0000 0000 0000", "id 41111111111111111111111",
    "12 items",
])
def test_card_true_negatives(text):
    assert Redactor(["card"]).redact(text) == text


def test_card_runs_before_phone_whatever_the_order_given():
    r = Redactor(["phone", "card"])
    assert r.rules == ["card", "phone"]
    assert r.redact("4111 1111 1111 1111 or (415) 555-0132") == "[CARD] or [PHONE]"


def test_luhn():
    assert luhn_ok("4111111111111111") and luhn_ok("378282246310005")
    assert not luhn_ok("4111111111111112") and not luhn_ok("0000000000000")


def test_rule_names_are_case_insensitive_and_have_plurals():
    assert Redactor(["Email", "phones", "credit_card"]).rules == ["email", "card", "phone"]


# -- custom rules ----------------------------------------------------------------------


def test_custom_patterns_strings_compiled_and_with_replacements():
    r = Redactor([
        r"\bACME-\d{4}\b",
        re.compile(r"\bsecret\w*", re.I),
        (r"(?P<key>pin)\s*(?:is\s*)?\d{4}", r"\g<key> ****"),
        (re.compile(r"\bSSN (\d{3})-\d{2}-\d{4}"), lambda m: f"SSN {m.group(1)}-XX-XXXX"),
    ])
    assert r.redact("ticket ACME-1234 and ACME-12345") == "ticket [REDACTED] and ACME-12345"
    assert r.redact("my SecretWord") == "my [REDACTED]"
    assert r.redact("my pin is 1234") == "my pin ****"
    assert r.redact("SSN 123-45-6789") == "SSN 123-XX-XXXX"


def test_builtins_first_then_custom_rules_in_order():
    r = Redactor([r"\[EMAIL\]", "email"])
    assert r.redact("jane@x.com") == "[REDACTED]"


def test_a_callable_alone_or_among_rules():
    assert Redactor(lambda t: t.replace("Jane", "[NAME]")).redact("Jane called") == "[NAME] called"
    r = build_redactor(["email", lambda t: t.replace("Jane", "[NAME]")])
    assert r.redact("Jane: jane@x.com") == "[NAME]: [EMAIL]"


def test_a_redactor_instance_is_used_as_is():
    r = Redactor(["email"])
    assert build_redactor(r) is r
    assert build_redactor([r, "card"]).rules == ["card", "email"]


@pytest.mark.parametrize("off", [None, False, []])
def test_off_values(off):
    assert build_redactor(off) is None


def test_true_means_every_builtin_rule():
    assert build_redactor(True).rules == ["email", "card", "phone"]


# -- failures never send the text, never raise -------------------------------------------


def test_a_callable_that_raises_replaces_the_text_and_reports_without_the_text():
    def boom(text):
        raise ValueError(f"cannot handle {text}")

    reasons = []
    r = Redactor(["email", boom])
    assert r.text("call jane@x.com", reasons.append) == REDACTION_FAILED
    assert len(reasons) == 1 and "boom" in reasons[0] and "ValueError" in reasons[0]
    assert "jane" not in reasons[0]
    with pytest.raises(RedactionError):
        r.redact("anything")


def test_a_callable_that_returns_a_non_string():
    reasons = []
    assert Redactor(lambda t: None).text("hello", reasons.append) == REDACTION_FAILED
    assert "returned NoneType" in reasons[0]
    assert Redactor([(r"x", lambda m: 1)]).text("x", reasons.append) == REDACTION_FAILED


def test_a_failing_report_callback_is_ignored():
    def bad_report(reason):
        raise RuntimeError("no")

    assert Redactor(lambda t: 1 / 0).text("x", bad_report) == REDACTION_FAILED


def test_empty_and_non_string_values():
    assert R.text("") == "" and R.text(None) == ""
    assert R.text(4111111111111111) == "[CARD]"


# -- JSON: tool arguments and results stay valid ------------------------------------------


def test_tool_arguments_stay_valid_json_with_string_values_redacted_and_keys_kept():
    args = json.dumps({
        "card_number": "4111 1111 1111 1111", "contact": {"email": "jane@x.com", "phones": ["(415) 555-0132"]},
        "as_number": 4111111111111111, "qty": 2, "ok": True, "price": 9.5, "none": None, "jane@x.com": "key kept",
    }, indent=2)
    out = R.json_text(args, keep_json=True)
    assert json.loads(out) == {
        "card_number": "[CARD]", "contact": {"email": "[EMAIL]", "phones": ["[PHONE]"]},
        "as_number": "[CARD]", "qty": 2, "ok": True, "price": 9.5, "none": None, "jane@x.com": "key kept",
    }
    assert "\n" not in out  # re-dumped compactly


def test_json_left_byte_for_byte_when_nothing_changes():
    text = '{"order_id": "427",  "n": 1.10}'
    assert R.json_text(text, keep_json=True) == text


def test_json_scalars_and_non_json_text():
    assert R.json_text('"call 415-555-0132"', keep_json=True) == '"call [PHONE]"'
    assert R.json_text("4111111111111111", keep_json=True) == '"[CARD]"'
    assert R.json_text("4111111111111111") == "[CARD]"  # a result: scalars are text
    assert R.json_text("not json: jane@x.com") == "not json: [EMAIL]"
    assert R.json_text("{broken jane@x.com") == "{broken [EMAIL]"


def test_failures_inside_json_keep_it_valid():
    out = Redactor(lambda t: 1 / 0).json_text('{"a": "x", "b": [1, "y"]}', keep_json=True)
    assert json.loads(out) == {"a": REDACTION_FAILED, "b": [1, REDACTION_FAILED]}


def test_very_deep_json_falls_back_to_text():
    deep = "[" * 100 + '"jane@x.com"' + "]" * 100
    assert "jane" not in R.json_text(deep, keep_json=True)


# -- construction errors ---------------------------------------------------------------------


@pytest.mark.parametrize("value, error, says", [
    (["emial"], ValueError, "unknown rule name 'emial'; built-in rules are 'email', 'card', 'phone'"),
    ([r"(unclosed"], ValueError, "is not a valid regular expression"),
    ([""], ValueError, "empty pattern"),
    ([r"\d*"], ValueError, "matches the empty string"),
    ([(r"a", r"\1")], ValueError, "refer only to groups the pattern has"),
    ([(r"a", "b", "c")], ValueError, "must be (pattern, replacement)"),
    ([(r"a", 5)], TypeError, "replacement must be a string"),
    ([re.compile(rb"x")], TypeError, "bytes patterns"),
    ([5], TypeError, "expected a rule name"),
    ([True], TypeError, "use redact=True"),
    (5, TypeError, "redact must be None/False (off), True"),
    ("yes", ValueError, "unknown rule name 'yes'"),
    ({"x": "y"}, TypeError, "list of (pattern, replacement) tuples"),
])
def test_bad_values_fail_at_construction_naming_the_fix(value, error, says):
    with pytest.raises(error, match=re.escape(says)) as e:
        build_redactor(value)
    assert str(e.value).startswith("RoarkObserver: redact")


def test_build_settings_validates_redact():
    with pytest.raises(ValueError, match="RoarkObserver: redact"):
        build_settings(agent_id="a", base_url="http://127.0.0.1:9", env={}, redact=["nope"])
    assert build_settings(agent_id="a", base_url="http://127.0.0.1:9", env={}).redactor is None
    assert build_settings(agent_id="a", base_url="http://127.0.0.1:9", env={}, redact=True).redactor.rules == [
        "email", "card", "phone"]


# -- the call-ended payload ---------------------------------------------------------------------


def _call_with_personal_data() -> Call:
    c = PlacedCall("c1")
    c.start(0, 1_800_000_000.0)
    c.set_recording(16000)
    c.user_started(1 * S, 16000)
    c.transcription(int(1.5 * S), "I'm jane@x.com, call me at (415) 555-0132", user_id="+14155550132")
    c.user_stopped(2 * S, 32000)
    c.bot_started(3 * S, 48000)
    c.bot_text(int(3.1 * S), "Got it, jane@x.com.")
    c.bot_stopped(4 * S, 64000)
    c.tool_call(5 * S, "t1", "charge", {"card": "4111 1111 1111 1111", "amount": 12}, pos=80000)
    c.tool_result(6 * S, "t1", {"charged": "4111111111111111", "receipt_to": "jane@x.com"}, pos=96000)
    c.tool_call(7 * S, "t2", "notify", "text 415-555-0132", pos=112000)
    c.tool_result(8 * S, "t2", "sent to 415-555-0132", error="failed for jane@x.com", pos=128000)
    c.error(9 * S, "upstream rejected jane@x.com", "LLM")
    c.end(10 * S, "ended")
    return c


def test_the_payload_is_redacted_where_it_is_built():
    reasons = []
    settings = build_settings(agent_id="a", base_url="http://127.0.0.1:9", env={}, redact=True)
    p = _call_with_personal_data().build_ended(settings, now_wall=1_800_000_100.0, recording_delivered=True,
                                               on_redaction_failure=reasons.append)
    CallEnded.model_validate(p)
    text = json.dumps(p)
    assert "jane" not in text and "4111" not in text and "555-0132" not in text and "4155550132" not in text
    t = p["transcript"]
    assert t[0]["content"] == "I'm [EMAIL], call me at [PHONE]" and t[0]["userId"] == "[PHONE]"
    assert t[1]["content"] == "Got it, [EMAIL]."
    tools = p["toolCalls"]
    assert json.loads(tools[0]["arguments"]) == {"card": "[CARD]", "amount": 12}
    assert json.loads(tools[1]["content"]) == {"charged": "[CARD]", "receipt_to": "[EMAIL]"}
    assert json.loads(tools[2]["arguments"]) == "text [PHONE]"
    assert tools[3]["content"] == "sent to [PHONE]" and tools[3]["error"] == "failed for [EMAIL]"
    assert p["errors"][0]["message"] == "upstream rejected [EMAIL]"
    assert reasons == []


def test_without_redact_the_payload_is_untouched():
    settings = build_settings(agent_id="a", base_url="http://127.0.0.1:9", env={})
    p = _call_with_personal_data().build_ended(settings, now_wall=1_800_000_100.0, recording_delivered=True)
    assert p["transcript"][0]["content"] == "I'm jane@x.com, call me at (415) 555-0132"


def test_a_failing_rule_in_the_payload_is_reported_and_nothing_leaks():
    reasons = []
    settings = build_settings(agent_id="a", base_url="http://127.0.0.1:9", env={},
                              redact=["email", lambda t: t if "4111" not in t else None])
    p = _call_with_personal_data().build_ended(settings, now_wall=1_800_000_100.0, recording_delivered=True,
                                               on_redaction_failure=reasons.append)
    CallEnded.model_validate(p)
    assert p["transcript"][0]["content"] == "I'm [EMAIL], call me at (415) 555-0132"  # phone rule not chosen
    assert json.loads(p["toolCalls"][0]["arguments"]) == {"card": REDACTION_FAILED, "amount": 12}
    assert reasons and all("returned NoneType" in r for r in reasons)


# -- the observer: redact= at construction, one warning per call, no text in it --------------------


def test_the_observer_validates_redact_and_warns_once_without_the_text():
    from loguru import logger

    from pipecat_roark import RoarkObserver

    with pytest.raises(ValueError, match="RoarkObserver: redact item 0: unknown rule name"):
        RoarkObserver(agent_id="a", base_url="http://127.0.0.1:9", redact=["emial"])

    def boom(text):
        raise RuntimeError(text)

    roark = RoarkObserver(agent_id="a", base_url="http://127.0.0.1:9", redact=["email", boom])
    call = roark.session.call
    call.start(0, 1_800_000_000.0)
    call.transcription(1 * S, "I'm jane@x.com")
    call.transcription(3 * S, "and jane again")
    call.tool_call(2 * S, "t1", "lookup", {"who": "jane"})
    call.end(4 * S, "ended")
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="DEBUG", format="{level} | {message}")
    try:
        payload = roark.session.build_ended(False)
    finally:
        logger.remove(sink)
    assert "jane" not in json.dumps(payload)
    assert payload["transcript"][0]["content"] == REDACTION_FAILED
    assert json.loads(payload["toolCalls"][0]["arguments"]) == {"who": REDACTION_FAILED}
    warnings = [line for line in lines if "redaction failed" in line]
    assert len(warnings) == 1 and warnings[0].startswith("WARNING") and "boom raised RuntimeError" in warnings[0]
    assert "jane" not in "".join(lines)


def test_a_huge_run_of_numbers_is_redacted_whole_and_fast():
    """A pathological digit stream is not searched number by number (that took ~0.5 s on the
    event loop for 32k characters); it is redacted whole, so no number in it leaks either."""
    from pipecat_roark.redaction import LONG_RUN, MAX_RUN_GROUPS, build_redactor

    r = build_redactor(True)
    text = "digits " + "4 1 1 1 " * 4000 + "4111 1111 1111 1111 end"
    assert r.text(text) == f"digits {LONG_RUN} end"
    short = " ".join(["7"] * MAX_RUN_GROUPS)  # at the limit: read number by number, nothing to redact
    assert r.text(short) == short
