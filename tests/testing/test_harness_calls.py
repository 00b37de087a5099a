"""Short real-time calls through a real Pipecat pipeline (a few seconds each)."""

import numpy as np
import pytest

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    CancelFrame,
    EndFrame,
    TranscriptionFrame,
    TTSTextFrame,
    UserAudioRawFrame,
    VADUserStartedSpeakingFrame,
)

from pipecat_roark._compat import PIPECAT_1X
from pipecat_roark.testing import (
    CallerTurn,
    CallScript,
    StereoRecorder,
    build_call,
    run_call,
    transport_params,
)
from pipecat_roark.testing.audio import speech_bounds

GREETING = "Acme support, how can I help?"
ANSWER = "Sure, what's the order number?"


def short_script(**kwargs) -> CallScript:
    kwargs.setdefault("greeting", GREETING)
    return CallScript(turns=[CallerTurn("hello", 2300, reply=ANSWER)], **kwargs)


def secs(call, event) -> float:
    """Caller-stream time (s) of a logged push."""
    return call.transport.input().stream_secs_at_clock(event.clock_ns)


async def test_short_call_ends_gracefully_in_real_time():
    rec = StereoRecorder(sample_rate=16000)
    call = build_call(short_script(greeting_via="llm"), audio_processor=rec.processor, end_silence_secs=0)
    result = await run_call(call)

    assert result.ended_by == "end" and result.script_completed
    # EndWorkerFrame upstream -> EndFrame down to the last processor; no cancel.
    assert call.events.of(EndFrame, source=call.aggregators.assistant())
    assert not call.events.of(CancelFrame, direction=None)
    assert [d.kind for d in call.llm.decisions] == ["greeting", "reply"]
    assert [s.text for s in call.tts.spoken] == [GREETING, ANSWER]

    # The caller's audio was paced by the monotonic clock: samples sent match
    # the time elapsed since t0, with no drift.
    inp = call.transport.input()
    elapsed = inp.last_push_monotonic - inp.stream_t0_monotonic
    assert abs(inp.samples_sent / 16000 - elapsed) < 0.03
    assert inp.max_lateness_secs < 0.25

    # The bot's audio played in real time: BotStarted -> BotStopped spans the
    # greeting's audio length.
    started = call.events.of(BotStartedSpeakingFrame, source=call.transport.output())
    stopped = call.events.of(BotStoppedSpeakingFrame, source=call.transport.output())
    assert len(started) == len(stopped) == 2
    greeting_secs = call.tts.spoken[0].duration_secs + 0.15
    assert (stopped[0].clock_ns - started[0].clock_ns) / 1e9 == pytest.approx(greeting_secs, abs=0.08)

    # Transcript carries the caller's id (from UserAudioRawFrame) and language.
    (tr,) = [e.frame for e in call.events.of(TranscriptionFrame, source=call.stt)]
    assert tr.text == "Hello?" and tr.user_id == "caller" and tr.finalized
    assert str(tr.language).lower().endswith("en-us") or "EN_US" in repr(tr.language)

    # Word frames: the TTS pushes them early with a pts; the output transport
    # pushes them again when their pts comes, i.e. as the word plays.
    out_words = call.events.of(TTSTextFrame, source=call.transport.output())
    assert " ".join(e.frame.text for e in out_words) == f"{GREETING} {ANSWER}"
    for e in out_words:
        assert e.frame.pts and abs(e.clock_ns - e.frame.pts) < 30e6

    # Stereo recording: the caller's clip on the left exactly where it was placed.
    audio = rec.audio
    span = call.ground_truth[0]
    left = audio[:, 0]
    window = left[span.start_sample - 8000 : span.end_sample + 8000]
    b0, b1 = speech_bounds(window)
    assert abs(span.start_sample - 8000 + b0 - span.start_sample) <= 640
    assert abs(span.start_sample - 8000 + b1 - span.end_sample) <= 640
    # ... and the bot on the right, not during the caller's turn.
    right = audio[:, 1]
    assert np.abs(right[: int(2.0 * 16000)]).max() > 3000
    assert np.abs(right[span.start_sample : span.end_sample]).max() < 328


async def test_call_can_end_by_cancel():
    call = build_call(short_script(), end_silence_secs=0)
    result = await run_call(call, end="cancel")
    assert result.ended_by == "cancel" and result.script_completed
    assert call.events.of(CancelFrame, source=call.aggregators.assistant())
    assert not call.events.of(EndFrame, direction=None)


async def test_cancel_mid_utterance_cuts_the_bot_off():
    call = build_call(short_script(), end_silence_secs=0)
    result = await run_call(call, cancel_at_secs=1.0)
    assert result.ended_by == "cancel" and not result.script_completed
    assert result.wall_secs < 3.0
    words = [e.frame.text for e in call.events.of(TTSTextFrame, source=call.transport.output())]
    assert 0 < len(words) < len(GREETING.split())
    assert call.events.of(CancelFrame, source=call.aggregators.assistant())


async def test_sentence_text_frames_follow_their_audio():
    """Without word timestamps (plain HTTP TTS) text is released after its audio plays."""
    call = build_call(short_script(), end_silence_secs=0, tts_word_timestamps=False)
    result = await run_call(call)
    assert result.ended_by == "end"
    out = call.transport.output()
    released = call.events.of(TTSTextFrame, source=out)
    assert [e.frame.text for e in released] == [GREETING, ANSWER]
    started = call.events.of(BotStartedSpeakingFrame, source=out)
    for e, start, spoken in zip(released, started, call.tts.spoken):
        assert e.frame.pts is None
        played_until = (start.clock_ns / 1e9) + spoken.duration_secs
        assert e.clock_ns / 1e9 >= played_until - 0.05


@pytest.mark.skipif(PIPECAT_1X, reason="transport-level VAD only exists on Pipecat 0.0.x")
async def test_transport_level_vad_on_0x_with_noise():
    call = build_call(short_script(noise_dbfs=-55), vad="transport", end_silence_secs=0)
    result = await run_call(call)
    assert result.ended_by == "end" and result.script_completed
    vad = call.events.first_pushes(VADUserStartedSpeakingFrame)
    assert vad and vad[0].source.startswith("CallerInputTransport")
    assert [e.frame.text for e in call.events.of(TranscriptionFrame, source=call.stt)] == ["Hello?"]


@pytest.mark.skipif(not PIPECAT_1X, reason="Pipecat 1.x has no transport-level VAD")
def test_transport_level_vad_rejected_on_1x():
    with pytest.raises(TypeError):
        transport_params(vad_analyzer=object())
    with pytest.raises(ValueError):
        build_call(short_script(), vad="transport")


async def test_input_frames_are_user_audio_frames():
    call = build_call(short_script(greeting=None, user_id="alice"), end_silence_secs=0)
    result = await run_call(call, cancel_at_secs=0.3)
    assert result.ended_by == "cancel"
    assert call.transport.input().samples_sent >= 0.2 * 16000
    assert any(
        kind == UserAudioRawFrame.__name__ and src.startswith("CallerInputTransport")
        for (src, kind) in call.events.audio_counts
    )
