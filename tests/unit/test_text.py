import json

from pipecat_roark.text import MAX_TEXT_CHARS, clean_text, tool_arguments, tool_result_content


class Weird:
    def __repr__(self):
        return "<weird>"


def test_lone_surrogates_and_huge_text_are_made_safe():
    s = clean_text("a\ud800b" + "x" * (MAX_TEXT_CHARS * 3))
    s.encode("utf-8")  # does not raise
    assert len(s) < MAX_TEXT_CHARS + 50 and s.endswith("[truncated]")


def test_arguments_are_always_a_json_string():
    assert tool_arguments({"a": 1}) == '{"a":1}'
    assert tool_arguments('{"already": "json"}') == '{"already": "json"}'
    assert json.loads(tool_arguments("not json")) == "not json"
    assert json.loads(tool_arguments({"obj": Weird(), "s": {1, 2}, "nan": float("nan")})) == {
        "obj": "<weird>", "s": [1, 2], "nan": None}
    assert tool_arguments(None) == "{}"


def test_result_content_rules():
    assert tool_result_content(None) == ""
    assert tool_result_content("text") == "text"
    assert tool_result_content(3) == "3" and tool_result_content(True) == "true"
    assert tool_result_content([1, {"b": "é"}]) == '[1,{"b":"é"}]'


class Unprintable:
    def __repr__(self):
        raise RuntimeError("repr refused")

    __str__ = __repr__


class NaNToDict:
    def to_dict(self):
        return {"x": float("nan")}


def _strict(text):
    def reject(name):
        raise ValueError(name)

    return json.loads(text, parse_constant=reject)


def test_objects_whose_repr_raises_are_recorded_not_raised():
    # Found by test_capture_properties: json's default= hook called repr() unguarded.
    args = tool_arguments({"obj": Unprintable(), "n": 1})
    assert _strict(args) == {"obj": "<unprintable Unprintable>", "n": 1}
    assert _strict(tool_arguments(Unprintable())) == "<unprintable Unprintable>"
    assert tool_result_content([Unprintable()]) == '["<unprintable Unprintable>"]'


def test_arguments_stay_strict_json():
    # Found by test_capture_properties: a long argument cut at MAX_TEXT_CHARS was no
    # longer JSON, and NaN/Infinity (from a JSON string or a to_dict()) passed through.
    long_json = json.dumps({"k": "v" * (MAX_TEXT_CHARS * 2)})
    for value in (long_json, {"k": "v" * (MAX_TEXT_CHARS * 2)}, "x" * (MAX_TEXT_CHARS * 2)):
        out = _strict(tool_arguments(value))
        assert isinstance(out, str) and out.endswith("[truncated]")
    assert _strict(tool_arguments('{"a": NaN}')) == '{"a": NaN}'  # sent as a JSON string
    assert _strict(tool_arguments({"o": NaNToDict()})) == {"o": {"x": None}}
    assert tool_arguments('{"a": 1}') == '{"a": 1}'  # real JSON still passes unchanged
