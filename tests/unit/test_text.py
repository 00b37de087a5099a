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
