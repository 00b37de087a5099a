"""The default ~25 s demo call, run once in real time, checked end to end."""

import asyncio

import numpy as np
import pytest

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    EndFrame,
    FunctionCallInProgressFrame,
    FunctionCallResultFrame,
    InterruptionFrame,
    MetricsFrame,
    TranscriptionFrame,
    TTSTextFrame,
    VADUserStartedSpeakingFrame,
)
from pipecat.metrics.metrics import LLMUsageMetricsData, TTFBMetricsData, TTSUsageMetricsData
from pipecat.processors.frame_processor import FrameDirection

from pipecat_roark.testing import ORDER_TOOL, StereoRecorder, build_call, default_demo_script, run_call
from pipecat_roark.testing.audio import SPEECH_THRESHOLD, speech_bounds

RATE = 16000
TOLERANCE = int(0.040 * RATE)  # 40 ms


@pytest.fixture(scope="module")
def demo():
    async def go():
        recorder = StereoRecorder(sample_rate=RATE)
        call = build_call(
            default_demo_script(),
            audio_processor=recorder.processor,
            enable_metrics=True,
            end_silence_secs=0,
        )
        result = await run_call(call)
        return call, result, recorder

    return asyncio.run(go())


def t(call, event) -> float:
    return call.transport.input().stream_secs_at_clock(event.clock_ns)


def test_demo_ends_gracefully(demo):
    call, result, _ = demo
    assert result.ended_by == "end"
    assert result.script_completed
    assert 20 < result.wall_secs < 45
    assert call.events.of(EndFrame, source=call.aggregators.assistant())
    assert [d.kind for d in call.llm.decisions] == [
        "reply", "tool", "followup", "reply", "late", "reply",
    ]


def test_demo_transcripts(demo):
    call, _, _ = demo
    pushed = [e.frame for e in call.events.of(TranscriptionFrame, source=call.stt)]
    assert [f.text for f in pushed] == [
        "Hi, I'd like to check my order status.",
        "It's order number four two seven.",
        "Actually, wait,",
        "can you also change the address?",
        "Thanks, that's all.",
    ]
    assert all(f.user_id == "caller" and f.language is not None for f in pushed)
    assert call.stt.all_transcribed


def test_demo_late_segment_arrives_after_bot_started(demo):
    call, _, _ = demo
    out = call.transport.output()
    first, late = [
        e for e in call.events.of(TranscriptionFrame, source=call.stt)
        if e.frame.text in ("Actually, wait,", "can you also change the address?")
    ]
    span = call.ground_truth[2]
    assert t(call, first) > span.end_secs  # after the caller stopped
    bot_starts = [t(call, e) for e in call.events.of(BotStartedSpeakingFrame, source=out)]
    assert any(t(call, first) < b < t(call, late) for b in bot_starts)


def test_demo_tool_call(demo):
    call, _, _ = demo
    (progress,) = call.events.of(FunctionCallInProgressFrame, source=call.llm)
    (result,) = call.events.of(FunctionCallResultFrame, source=call.llm)
    assert progress.frame.function_name == result.frame.function_name == "lookup_order"
    assert progress.frame.tool_call_id == result.frame.tool_call_id
    assert dict(progress.frame.arguments) == {"order_id": "427"}
    assert result.frame.result == ORDER_TOOL.result
    spoken = [s.text for s in call.tts.spoken]
    assert "Order four two seven shipped." in spoken and "It arrives Friday." in spoken


def test_demo_barge_in_cuts_the_bot_off(demo):
    call, _, _ = demo
    out = call.transport.output()
    barge = call.ground_truth[3]
    vad_start = min(
        (e for e in call.events.of(VADUserStartedSpeakingFrame)
         if t(call, e) > barge.start_secs),
        key=lambda e: e.clock_ns,
    )
    starts = [t(call, e) for e in call.events.of(BotStartedSpeakingFrame, source=out)]
    stops = [t(call, e) for e in call.events.of(BotStoppedSpeakingFrame, source=out)]
    began = max(s for s in starts if s < barge.start_secs)
    ended = min(s for s in stops if s > began)
    # The bot was speaking when the caller started, and stopped right after VAD fired.
    assert began < barge.start_secs < ended
    assert 0 <= ended - t(call, vad_start) < 0.2
    assert any(abs(t(call, e) - t(call, vad_start)) < 0.05
               for e in call.events.of(InterruptionFrame, direction=FrameDirection.DOWNSTREAM))
    # ... well before its answer had been played out.
    reply = [s for s in call.tts.spoken if s.text in (
        "Of course.", "I can update the delivery address.", "What's the new street and zip code?")]
    assert len(reply) == 3
    full = sum(s.duration_secs + 0.15 for s in reply)
    assert ended - began < full - 1.0
    # Words never played are never released by the output transport.
    released = [e.frame.text for e in call.events.of(TTSTextFrame, source=out)]
    synthesized = [e.frame.text for e in call.events.of(TTSTextFrame, source=call.tts)]
    assert "zip" in synthesized and "zip" not in released


def test_demo_recording_has_the_caller_on_the_left(demo):
    call, _, recorder = demo
    left = recorder.left
    spans = call.ground_truth
    for span in spans:
        lo = span.start_sample - 8000
        b0, b1 = speech_bounds(left[lo : span.end_sample + 8000])
        assert abs(lo + b0 - span.start_sample) <= TOLERANCE, span
        assert abs(lo + b1 - span.end_sample) <= TOLERANCE, span
    # Nothing but the caller on the left.
    mask = np.ones(len(left), dtype=bool)
    for span in spans:
        mask[span.start_sample : span.end_sample] = False
    assert np.abs(left[mask].astype(np.int32)).max() < SPEECH_THRESHOLD


def test_demo_recording_has_the_bot_on_the_right(demo):
    call, _, recorder = demo
    right = recorder.right.astype(np.int32)
    inp, out = call.transport.input(), call.transport.output()
    played = [c for c in out.played if not c.silent]
    assert played
    # Every played bot chunk is on the right channel near where it played.
    # Pipecat's stock AudioBufferProcessor places the bot 20-45 ms early at
    # 16 kHz, more when the loop is busy: allow 150 ms.
    for chunk in played[:: max(1, len(played) // 40)]:
        a = int(inp.stream_secs_at_monotonic(chunk.start) * RATE) - int(0.15 * RATE)
        b = int(inp.stream_secs_at_monotonic(chunk.end) * RATE) + int(0.15 * RATE)
        assert np.abs(right[max(0, a) : b]).max() > 0
    # The bot is silent while the caller gives the order number.
    span = call.ground_truth[1]
    assert np.abs(right[span.start_sample : span.end_sample]).max() < SPEECH_THRESHOLD
    # Both channels are the same length (aligned).
    assert recorder.audio.shape[1] == 2


def test_demo_metrics(demo):
    call, _, _ = demo
    data = [d for e in call.events.first_pushes(MetricsFrame) for d in e.frame.data]
    ttfb = {d.processor for d in data if isinstance(d, TTFBMetricsData) and d.value > 0}
    assert {call.stt.name, call.llm.name, call.tts.name} <= ttfb
    assert any(isinstance(d, LLMUsageMetricsData) for d in data)
    assert any(isinstance(d, TTSUsageMetricsData) for d in data)


def test_demo_vad_onset_lag(demo):
    """Documents where Silero puts ``timestamp - start_secs``: after the real onset."""
    call, _, _ = demo
    inp = call.transport.input()
    starts = [e.frame for e in call.events.first_pushes(VADUserStartedSpeakingFrame)]
    for span in call.ground_truth:
        first = min(
            (f for f in starts if inp.stream_secs_at_wall(f.timestamp) > span.start_secs),
            key=lambda f: f.timestamp,
        )
        lag = inp.stream_secs_at_wall(first.timestamp - first.start_secs) - span.start_secs
        assert 0.05 < lag < 0.45, (span.clip, lag)
