"""Harness options that other tests rely on (built, not run)."""

import pytest

from pipecat_roark.testing.scenario import CallerTurn, CallScript, build_call
from pipecat_roark.testing.services import ScriptedStreamingSTTService, ScriptedSTTService, ToolCall


def script():
    return CallScript(turns=[CallerTurn("order_status", 600, reply="Sure, what's the order number?")])


def test_turns_from_the_stt_alone():
    call = build_call(script(), vad="none", event_log=False)
    assert isinstance(call.stt, ScriptedStreamingSTTService)
    assert call.aggregators.user()._params.vad_analyzer is None
    assert isinstance(build_call(script(), event_log=False).stt, ScriptedSTTService)
    with pytest.raises(ValueError):
        build_call(script(), vad="none", stt="segmented", event_log=False)


def test_misplaced_audio_processor_for_tests():
    from pipecat.processors.frame_processor import FrameProcessor

    proc = FrameProcessor()
    call = build_call(script(), audio_processor=proc, audio_processor_at="after_input", event_log=False)
    names = [p.name for p in call.pipeline.processors]
    assert names.index(proc.name) == names.index(call.transport.input().name) + 1


def test_tools_that_fail_time_out_or_say_nothing_after():
    failing = ToolCall(name="f", arguments={}, result=None, followup="", error="boom", timeout_secs=1.5,
                       cancel_on_interruption=False)
    s = CallScript(turns=[CallerTurn("order_status", 600, tool_call=failing)])
    call = build_call(s, event_log=False)
    item = call.llm._functions["f"]
    assert item.timeout_secs == 1.5 and item.cancel_on_interruption is False
    # An empty followup is not waited for.
    call.llm._answered.add(0)
    call.llm._check_done()
    assert call.llm.script_done.is_set()
