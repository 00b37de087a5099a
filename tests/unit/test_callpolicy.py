"""CallPolicy: one call's decisions, as the call owner uses them."""

import asyncio

from loguru import logger

from pipecat_roark.callpolicy import CallPolicy
from pipecat_roark.calllogs import sink_installed
from pipecat_roark.config import build_settings
from pipecat_roark.models import CallEnded
from pipecat_roark.policy import CapturePolicy, SamplingCounts, should_ship


def _ids(rate, shipped):
    return next(f"c{i}" for i in range(10_000) if should_ship(f"c{i}", rate) is shipped)


def test_sampled_out_call_records_and_collects_nothing_and_is_counted():
    counts = SamplingCounts()
    p = CallPolicy(_ids(0.1, False), capture=CapturePolicy(logs=True), sampling=0.1, defer_audio=True, counts=counts)
    assert not p.shipped and not p.record_audio and p.logs is None and p.gate is None
    assert p.chunk(0, b"x") == []
    assert counts.snapshot() == {"shipped": 0, "skipped": 1}
    t = CallPolicy(_ids(0.1, False), capture=CapturePolicy(), sampling=0.1, is_test=True, counts=counts)
    assert t.shipped and counts.snapshot() == {"shipped": 1, "skipped": 1}


def test_plain_call_passes_chunks_through():
    p = CallPolicy("c", capture=CapturePolicy(), counts=SamplingCounts())
    assert p.record_audio and p.chunk(3, b"ab") == [(3, b"ab")] and p.ended_extra() == {}
    off = CallPolicy("c", capture=CapturePolicy(audio=False), counts=SamplingCounts())
    assert not off.record_audio and off.chunk(0, b"ab") == []


def test_deferred_then_allowed_then_discarded():
    p = CallPolicy("c", capture=CapturePolicy(), defer_audio=True, counts=SamplingCounts())
    assert p.chunk(0, b"a") == [] and p.chunk(1, b"b") == []
    assert p.ended_extra() == {"audio_consent": "not_given"}
    assert p.allow_audio() == [(0, b"a"), (1, b"b")]
    assert p.chunk(2, b"c") == [(2, b"c")] and p.ended_extra() == {"audio_consent": "granted"}
    p.discard_audio()
    assert not p.record_audio and p.chunk(3, b"d") == [] and p.ended_extra() == {"audio_consent": "revoked"}


def test_discard_without_defer_stops_the_recording():
    p = CallPolicy("c", capture=CapturePolicy(), counts=SamplingCounts())
    assert p.chunk(0, b"a") == [(0, b"a")]
    p.discard_audio()
    assert p.chunk(1, b"b") == [] and not p.record_audio and p.ended_extra()["audio_consent"] == "discarded"


async def test_logs_from_settings_end_up_in_call_ended_and_redacted():
    s = build_settings(agent_id="a", api_key="k", capture_logs=True, redact=lambda t: t.replace("4111", "####"),
                       env={})
    got = {}

    async def call():
        p = CallPolicy.from_settings("call-x", s, counts=SamplingCounts())
        got["p"] = p
        await asyncio.create_task(asyncio.sleep(0))
        logger.warning("card 4111 declined")

    await asyncio.create_task(call())
    p = got["p"]
    p.close()
    p.close()
    assert not sink_installed()
    extra = p.ended_extra()
    wire = CallEnded(pipecat_call_id="call-x", event_timestamp="t", call_ended_at="t", call_ended_reason="r",
                     **extra).to_wire()
    s.redactor.payload(wire)
    assert [line["message"] for line in wire["logs"]] == ["card #### declined"]
    assert p.apply(wire) == wire  # nothing turned off


def test_apply_filters_by_policy():
    p = CallPolicy("c", capture=CapturePolicy(transcript=False), counts=SamplingCounts())
    assert p.apply({"transcript": [1], "metrics": [2]}) == {"metrics": [2], "captureOff": ["transcript"]}
