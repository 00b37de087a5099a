"""callEndedStatus, who ended the call, who spoke last (pure; real Pipecat frame classes)."""

import pytest
from pipecat.frames.frames import CancelFrame, EndFrame, ErrorFrame, StopFrame, TextFrame

from pipecat_roark.models import CallEnded
from pipecat_roark.outcome import (
    END_STATUSES,
    ENDED_BY,
    OutcomeTracker,
    decide_outcome,
    last_speaker,
    status_from_reason,
    validate_status,
)

try:  # 1.3+
    from pipecat.frames.frames import CancelWorkerFrame as CancelBotFrame
    from pipecat.frames.frames import EndWorkerFrame as EndBotFrame
except ImportError:  # 0.0.10x
    from pipecat.frames.frames import CancelTaskFrame as CancelBotFrame
    from pipecat.frames.frames import EndTaskFrame as EndBotFrame


def run(*steps, reason=None):
    t = OutcomeTracker()
    for step in steps:
        if callable(step):
            step(t)
        else:
            t.frame(step)
    t.ended()
    return t.outcome(reason)


# -- every reason the Pipecat suite and this package produce --------------------------------------

@pytest.mark.parametrize("reason, expected", [
    ("pipeline-finished", None),  # teardown without a frame: says nothing specific
    ("flushed", None),
    ("cancelled", "cancelled"),
    ("ended", "bot_ended"),
    ("stopped", "bot_ended"),
    ("interrupt signal", "cancelled"),  # 1.x runner, SIGINT
    ("idle timeout", "idle_timeout"),  # 1.x idle monitor
    ("fatal error: connection refused", "error"),  # 1.x fatal ErrorFrame
    ("DeepgramSTTService#0 can no longer do its job", "error"),  # 1.x unusable-processor policy CANCEL
    ("worker 'llm' errored", "error"),
    ("context exited with error", "error"),
    ("transferred to a human", "transferred"),
    ("voicemail detected", "voicemail"),
    ("max call duration reached", "max_duration"),
    ("caller hung up", "caller_hung_up"),
    ("client disconnected", "caller_hung_up"),
    ("participant left", "caller_hung_up"),
    ("customer said goodbye", None),
])
def test_reasons_map_to_a_status(reason, expected):
    status, _ = status_from_reason(reason)
    if expected is None:
        assert status in (None, "unknown")
        assert decide_outcome(reason=reason).status == "unknown"
    else:
        assert status == expected
        assert decide_outcome(reason=reason).status == expected


# -- end frames and causes ---------------------------------------------------------------------------

def test_an_end_frame_queued_by_the_app_is_the_bot_ending_the_call():
    o = run(EndFrame())
    assert (o.status, o.ended_by, o.decided_by) == ("bot_ended", "bot", "frame")
    assert run(StopFrame()).status == "bot_ended"


def test_the_bot_pushing_an_end_worker_frame_is_bot_ended_even_if_the_carrier_then_hangs_up():
    o = run(EndBotFrame(), EndFrame(), lambda t: t.client_disconnected())
    assert (o.status, o.ended_by) == ("bot_ended", "bot")


def test_an_end_worker_frame_whose_reason_names_the_outcome_refines_it():
    o = run(EndBotFrame(reason="voicemail detected"), EndFrame(reason="voicemail detected"))
    assert (o.status, o.ended_by, o.decided_by) == ("voicemail", "bot", "reason")
    assert run(EndBotFrame(reason="transfer"), EndFrame(reason="transfer")).status == "transferred"


def test_the_bot_disconnecting_the_call_is_not_the_caller_hanging_up():
    o = run(EndBotFrame(reason="bot disconnected the call"), EndFrame(reason="bot disconnected the call"))
    assert (o.status, o.ended_by) == ("bot_ended", "bot")


def test_a_caller_disconnect_then_the_usual_cancel_is_a_hang_up():
    # The usual handler: on_client_disconnected -> worker.cancel() -> CancelFrame(reason=None).
    o = run(lambda t: t.client_disconnected(), CancelFrame(), reason="cancelled")
    assert (o.status, o.ended_by, o.decided_by) == ("caller_hung_up", "caller", "caller_disconnected")


def test_a_plain_cancel_is_cancelled_by_the_system():
    o = run(CancelFrame(), reason="cancelled")
    assert (o.status, o.ended_by) == ("cancelled", "system")
    o = run(CancelBotFrame(), CancelFrame())
    assert (o.status, o.ended_by) == ("cancelled", "bot")


def test_idle_timeout_on_1x_by_reason_and_on_0_0_10x_by_the_event():
    assert run(CancelFrame(reason="idle timeout")).status == "idle_timeout"  # 1.x
    o = run(lambda t: t.idle_timeout(), CancelFrame(), reason="cancelled")  # 0.0.10x: no reason
    assert (o.status, o.ended_by) == ("idle_timeout", "system")


def test_a_fatal_error_frame_then_the_cancel_is_an_error():
    o = run(ErrorFrame(error="boom", fatal=True), CancelFrame())  # 0.0.10x: CancelFrame() without reason
    assert (o.status, o.ended_by, o.decided_by) == ("error", "system", "fatal_error")
    # A non-fatal error is not a cause.
    assert run(ErrorFrame(error="blip"), EndFrame()).status == "bot_ended"
    # An error text that mentions a transfer does not make the call "transferred".
    assert run(ErrorFrame(error="transfer API down", fatal=True), CancelFrame()).status == "error"


def test_causes_after_the_end_do_not_count():
    t = OutcomeTracker()
    t.frame(EndFrame())
    t.ended()
    t.client_disconnected()
    t.idle_timeout()
    assert t.outcome().status == "bot_ended"


def test_with_pipeline_times_order_is_by_time_not_by_arrival():
    # worker.cancel() closes the websocket: the disconnect handler runs before the observer
    # (behind its queue) sees the CancelFrame that was pushed earlier.
    t = OutcomeTracker()
    t.client_disconnected(t_ns=2_000)
    t.frame(CancelFrame(), t_ns=1_000)
    t.ended()
    assert t.outcome("cancelled").status == "cancelled"
    # The caller really hung up first: the app's cancel came after.
    t = OutcomeTracker()
    t.frame(CancelFrame(), t_ns=3_000)
    t.client_disconnected(t_ns=2_000)
    assert t.outcome("cancelled").status == "caller_hung_up"
    # Two causes reported out of order: the earlier one wins.
    t = OutcomeTracker()
    t.client_disconnected(t_ns=5_000)
    t.idle_timeout(t_ns=4_000)
    t.frame(CancelFrame(), t_ns=6_000)
    assert t.outcome().status == "idle_timeout"
    # An end frame that arrives later but was pushed earlier is the end frame.
    t = OutcomeTracker()
    t.frame(EndFrame(reason="late arrival"), t_ns=9_000)
    t.frame(CancelFrame(), t_ns=8_000)
    assert (t.end_frame, t.end_reason) == ("CancelFrame", None)


def test_only_the_first_end_frame_and_the_first_cause_count():
    o = run(lambda t: t.idle_timeout(), lambda t: t.client_disconnected(), CancelFrame(), EndFrame())
    assert o.status == "idle_timeout"
    t = OutcomeTracker()
    t.frame(CancelFrame())
    t.frame(EndFrame(reason="later"))
    assert (t.end_frame, t.end_reason) == ("CancelFrame", None)


def test_unrelated_frames_change_nothing_and_nothing_seen_is_unknown():
    o = run(TextFrame(text="hi"))
    assert (o.status, o.ended_by, o.decided_by) == ("unknown", "system", "default")
    assert run(reason="pipeline-finished").status == "unknown"


# -- the user's word ------------------------------------------------------------------------------------

def test_a_status_set_by_the_user_wins_over_everything():
    o = run(lambda t: t.set_status("transferred"), lambda t: t.client_disconnected(), CancelFrame(reason="idle timeout"))
    assert (o.status, o.ended_by, o.decided_by) == ("transferred", "bot", "user")


def test_aflush_reason_and_status():
    o = run(lambda t: t.flush("caller pressed 0", "transferred"))
    assert o.status == "transferred"
    t = OutcomeTracker()
    t.flush("caller left")  # a flush from on_client_disconnected with a telling reason
    assert t.outcome().status == "caller_hung_up"
    t = OutcomeTracker()
    t.flush()
    assert t.outcome("flushed").status == "unknown"


@pytest.mark.parametrize("given, expected", [("Voicemail", "voicemail"), ("max-duration", "max_duration"),
                                             ("caller hung up", "caller_hung_up")])
def test_status_spelling_is_forgiven(given, expected):
    assert validate_status(given) == expected


@pytest.mark.parametrize("bad", ["hangup", "", None, 3])
def test_a_bad_status_fails_naming_the_allowed_values(bad):
    with pytest.raises(ValueError, match="caller_hung_up, bot_ended"):
        OutcomeTracker().set_status(bad)


def test_every_status_has_a_party_and_goes_on_the_wire():
    assert set(ENDED_BY) == set(END_STATUSES)
    for status in END_STATUSES:
        wire = CallEnded(pipecat_call_id="c", event_timestamp="t", call_ended_at="t", call_ended_reason="r",
                         call_ended_status=status, call_ended_by=ENDED_BY[status], last_speaker="bot").to_wire()
        assert (wire["callEndedStatus"], wire["callEndedBy"], wire["lastSpeaker"]) == (
            status, ENDED_BY[status], "bot")


# -- who spoke last ---------------------------------------------------------------------------------------

def test_who_spoke_last():
    assert last_speaker([]) is None
    assert last_speaker([("user", 0, 1000), ("assistant", 1200, 3000)]) == "bot"
    # The bot's turn started later but the caller talked over its end.
    assert last_speaker([("assistant", 1000, 3000), ("user", 2500, 3400)]) == "caller"
    # Same end: the later start spoke last.
    assert last_speaker([("user", 1000, 3000), ("assistant", 2000, 3000)]) == "bot"
    # Turns out of order in the list.
    assert last_speaker([("user", 5000, 6000), ("assistant", 1000, 2000)]) == "caller"


async def test_an_unusable_processor_then_a_plain_end_is_an_error():
    # 1.8+: push_error(..., force_treat_as_permanent=True) marks the processor unusable before the
    # ErrorFrame travels; with ProcessorUnusablePolicy.END the worker then ends with EndFrame().
    from pipecat.processors.frame_processor import FrameProcessor

    proc = FrameProcessor()
    if not hasattr(proc, "set_usable"):
        pytest.skip("processor usability arrived in 1.8")
    await proc.set_usable(False)
    assert proc.is_usable is False
    o = run(ErrorFrame(error="bad api key", processor=proc), EndFrame())
    assert (o.status, o.ended_by, o.decided_by) == ("error", "system", "processor_unusable")
    # ... but the bot's own end request before it still counts as the bot's.
    assert run(EndBotFrame(), ErrorFrame(error="x", processor=proc), EndFrame()).status == "bot_ended"
    # An error from a processor that is still usable is not a cause.
    assert run(ErrorFrame(error="blip", processor=FrameProcessor()), EndFrame()).status == "bot_ended"
