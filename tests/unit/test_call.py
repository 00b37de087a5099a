"""Turn assembly and payloads, with events placed by hand (no Pipecat, no network)."""

import json

from pipecat_roark.call import Call, Edge
from pipecat_roark.config import build_settings
from pipecat_roark.models import CallEnded

S = 1_000_000_000
SETTINGS = build_settings(agent_id="a", base_url="http://127.0.0.1:9", env={})


def ended(call, delivered=True):
    call.end(call.ended_t or 99 * S, call.end_reason or "ended")
    payload = call.build_ended(SETTINGS, now_wall=1_800_000_100.0, recording_delivered=delivered)
    CallEnded.model_validate(payload)  # what we build validates against the wire model
    return payload


class PlacedCall(Call):
    """A Call whose speaking edges are placed on the recording as they come
    (the session resolves them later in real calls; see test_edges/test_session)."""

    def _place(self, turn, which, t, pos, **kw):
        if turn is not None and pos is not None:
            (self.set_start if which == "start" else self.set_end)(turn, Edge(t, pos), **kw)
        return turn

    def user_started(self, t_ns, pos=None):
        return self._place(super().user_started(t_ns), "start", t_ns, pos)

    def user_stopped(self, t_ns, pos=None):
        return self._place(super().user_stopped(t_ns), "end", t_ns, pos)

    def bot_started(self, t_ns, pos=None, user_end=None):
        return self._place(super().bot_started(t_ns), "start", t_ns, pos, user_end=user_end)

    def bot_stopped(self, t_ns, pos=None):
        return self._place(super().bot_stopped(t_ns), "end", t_ns, pos)


def new_call(rate=16000):
    call = PlacedCall("c1")
    call.start(0, 1_800_000_000.0)
    call.set_recording(rate)
    return call


def test_greeting_then_user_turn_with_late_final_after_bot_started():
    c = new_call()
    c.bot_started(1 * S, 16000)
    c.bot_text(int(1.1 * S), "Hello!")
    c.bot_text(int(1.2 * S), "How can I help?")
    c.bot_stopped(2 * S, 32000)
    c.user_started(3 * S, 48000)
    c.transcription(int(3.5 * S), "I need")
    c.user_stopped(4 * S, 64000)
    c.bot_started(5 * S, 80000)
    c.transcription(int(5.2 * S), "my order")  # late final, after the bot began
    c.bot_text(int(5.3 * S), "Sure.")
    c.bot_stopped(6 * S, 96000)
    p = ended(c)
    t = p["transcript"]
    assert [x["role"] for x in t] == ["assistant", "user", "assistant"]
    assert t[0]["content"] == "Hello! How can I help?"
    assert t[1]["content"] == "I need my order"
    assert (t[1]["audioOffsetMs"], t[1]["endAudioOffsetMs"]) == (3000, 4000)
    assert p["agentSpokeFirst"] is True
    assert p["recordingSampleRate"] == 16000 and p["recordingNumChannels"] == 2


def test_back_to_back_user_turns_stay_separate():
    c = new_call()
    c.user_started(1 * S, 16000)
    c.transcription(int(1.5 * S), "one")
    c.user_stopped(2 * S, 32000)
    c.user_started(3 * S, 48000)
    c.transcription(int(3.5 * S), "two")
    c.user_stopped(4 * S, 64000)
    t = ended(c)["transcript"]
    assert [x["content"] for x in t] == ["one", "two"]
    assert ended(c)["agentSpokeFirst"] is False


def test_interruption_only_counts_while_bot_speaks():
    c = new_call()
    c.user_started(1 * S)
    c.interruption(1 * S)  # bot silent: not an interruption
    c.transcription(int(1.2 * S), "hi")
    c.user_stopped(2 * S)
    c.bot_started(3 * S)
    c.bot_text(int(3.1 * S), "Let me")
    c.user_started(int(3.5 * S))
    c.interruption(int(3.5 * S))
    c.bot_stopped(int(3.6 * S))
    t = ended(c, delivered=False)["transcript"]
    assert "interrupted" not in t[0]
    assert t[1]["interrupted"] is True and t[1]["content"] == "Let me"


def test_resolved_start_replaces_the_hint_and_orders_the_turns():
    c = new_call()
    bot = c.bot_started(1 * S)
    c.bot_text(int(1.3 * S), "Hi")
    user = c.user_started(int(1.6 * S))  # the caller barged in; the ruling came with the sound
    c.interruption(int(1.6 * S))
    c.transcription(int(2.5 * S), "wait")
    c.bot_stopped(int(1.7 * S))
    c.user_stopped(3 * S)
    # Resolved later on the recording: the caller's sound began at 1.55 s.
    c.set_start(user, Edge(int(1.55 * S), 24800))
    c.set_start(bot, Edge(int(1.25 * S), 20000))
    c.set_end(bot, Edge(int(1.75 * S), 28000))
    t = ended(c)["transcript"]
    assert [(x["role"], x["audioOffsetMs"]) for x in t] == [("assistant", 1250), ("user", 1550)]
    assert t[0]["interrupted"] is True and t[0]["bargeInLatencyMs"] == 200


def test_interruption_closes_the_turn_it_cut():
    c = new_call()
    c.bot_started(1 * S, 16000)
    c.bot_text(int(1.1 * S), "First reply")
    c.user_started(2 * S, 32000)
    c.interruption(2 * S)
    c.bot_stopped(int(2.1 * S), 33600)
    c.bot_text(int(2.2 * S), "Second reply")  # no caller words yet: still a new turn
    c.bot_started(int(2.2 * S), 35200)
    c.bot_stopped(3 * S, 48000)
    c.transcription(int(2.5 * S), "stop")
    c.user_stopped(int(2.4 * S), 38400)
    t = ended(c)["transcript"]
    assert [(x["role"], x["content"]) for x in t] == [
        ("assistant", "First reply"), ("user", "stop"), ("assistant", "Second reply")]
    assert t[0]["interrupted"] is True and "interrupted" not in t[2]


def test_offsets_omitted_without_delivered_recording():
    c = new_call()
    c.user_started(1 * S, 16000)
    c.transcription(int(1.2 * S), "hi")
    c.user_stopped(2 * S, 32000)
    p = ended(c, delivered=False)
    assert "audioOffsetMs" not in p["transcript"][0]
    assert "recordingSampleRate" not in p and "recordingNumChannels" not in p


def test_transcription_only_turns_split_by_bot_reply():
    c = new_call()
    c.transcription(1 * S, "hello")
    c.transcription(int(1.5 * S), "there")
    c.bot_text(2 * S, "Hi")
    c.transcription(3 * S, "bye")
    t = ended(c, delivered=False)["transcript"]
    assert [(x["role"], x["content"]) for x in t] == [("user", "hello there"), ("assistant", "Hi"), ("user", "bye")]


def test_inter_frame_spacing_follows_pipecat_rule():
    c = new_call()
    c.bot_text(1, "Hel", spaced=True)
    c.bot_text(2, "lo ", spaced=True)
    c.bot_text(3, "world", spaced=True)
    t = ended(c, delivered=False)["transcript"]
    assert t[0]["content"] == "Hello world"


def test_tool_records_once_each_with_json_string_arguments():
    c = new_call()
    for _ in range(2):  # Pipecat may deliver a tool frame several times
        c.tool_call(1 * S, "t1", "lookup_order", {"order": 427, "ok": True})
    c.tool_result(2 * S, "t1", {"status": "shipped"}, final=False)
    c.tool_result(int(2.5 * S), "t1", {"status": "delivered"})
    c.tool_result(3 * S, "t1", {"status": "ignored"})
    c.tool_result(3 * S, "t2", None, name="hangup", arguments='{"why": "done"}')
    tools = ended(c)["toolCalls"]
    assert [(x["kind"], x["toolCallId"]) for x in tools] == [
        ("tool_call", "t1"), ("tool_result", "t1"), ("tool_call", "t2"), ("tool_result", "t2")]
    assert json.loads(tools[0]["arguments"]) == {"order": 427, "ok": True}
    assert tools[0]["arguments"] == '{"order":427,"ok":true}'
    assert tools[1]["content"] == '{"status":"delivered"}'
    assert tools[2]["arguments"] == '{"why": "done"}' and tools[3]["content"] == ""


def test_end_is_recorded_once_and_empty_turns_dropped():
    c = new_call()
    c.user_started(1 * S)
    c.user_stopped(2 * S)  # VAD fired, nothing transcribed
    assert c.end(5 * S, "cancelled") is True
    assert c.end(6 * S, "ended") is False
    p = ended(c, delivered=False)
    assert p["callEndedReason"] == "cancelled"
    assert "transcript" not in p and "agentSpokeFirst" not in p
    assert p["callStartedAt"] and p["callEndedAt"].endswith("Z")


def test_call_ended_keeps_null_call_started_at():
    c = Call("c2")
    c.end(0, "cancelled")
    p = c.build_ended(SETTINGS, now_wall=1_800_000_000.0, recording_delivered=False)
    assert "callStartedAt" in p and p["callStartedAt"] is None


# -- latency, interruptions, metrics, tools, errors (extensions) ----------------


def exchange(c, user_at, user_end, bot_at, text="Sure.", user_end_pos=None, rate=16000):
    """A caller utterance [user_at, user_end] s and the bot's reply from bot_at s."""
    c.user_started(int(user_at * S), int(user_at * rate))
    c.transcription(int((user_end + 0.1) * S), "question")
    c.user_stopped(int(user_end * S), int(user_end * rate))
    c.bot_started(int(bot_at * S), int(bot_at * rate),
                  user_end=user_end_pos if user_end_pos is not None else int(user_end * rate))
    c.bot_text(int((bot_at + 0.1) * S), text)


def test_response_latency_is_measured_on_the_recording():
    c = new_call()
    c.bot_started(int(0.1 * S), 1600)  # the greeting answers nobody
    c.bot_text(int(0.2 * S), "Hello!")
    c.bot_stopped(1 * S, 16000)
    exchange(c, 2.0, 3.0, 4.2, user_end_pos=int(3.05 * 16000))  # the recording says the caller stopped at 3.05 s
    c.bot_stopped(5 * S, 80000)
    exchange(c, 6.0, 7.0, 7.5)
    c.bot_stopped(8 * S, 128000)
    p = ended(c)
    t = p["transcript"]
    assert [x.get("responseLatencyMs") for x in t] == [None, None, 1150, None, 500]
    assert p["callSummary"]["latency"] == {"count": 2, "medianMs": 825, "p95Ms": 1150, "maxMs": 1150}


def test_latency_falls_back_to_the_clock_without_a_recording():
    c = Call("c1")
    c.start(0, 1_800_000_000.0)
    c.user_started(1 * S)
    c.transcription(int(1.5 * S), "hi")
    c.user_stopped(2 * S)
    c.bot_started(int(2.8 * S))
    c.bot_text(3 * S, "Hello")
    t = ended(c, delivered=False)["transcript"]
    assert t[1]["responseLatencyMs"] == 800


def test_barge_in_latency_and_silent_bot_interruption():
    c = new_call()
    c.user_started(1 * S, 16000)
    c.interruption(1 * S, 16000)  # broadcast at every user turn: the bot is silent
    c.transcription(int(1.5 * S), "hi")
    c.user_stopped(2 * S, 32000)
    c.bot_started(3 * S, 48000, user_end=32000)
    c.bot_text(int(3.1 * S), "Let me tell you")
    c.user_started(int(4.0 * S), 64000)
    c.interruption(int(4.3 * S), 68800)  # the caller's sound over the bot began at 4.0 s
    c.bot_stopped(int(4.4 * S), 70400)  # the last audio written reached the recording at 4.4 s
    c.transcription(int(4.6 * S), "stop")
    c.user_stopped(5 * S, 80000)
    p = ended(c)
    t = p["transcript"]
    assert [x.get("interrupted", False) for x in t] == [False, True, False]
    assert t[1]["interrupted"] is True and t[1]["bargeInLatencyMs"] == 400
    assert p["callSummary"]["interruptions"] == 1


def test_metrics_get_their_turn_and_the_interrupted_flag():
    c = new_call()
    c.add_metrics(int(0.05 * S), [{"kind": "tts", "metric": "ttfb", "ttfb": 0.1}])  # before any turn: the first
    c.bot_started(int(0.2 * S), 3200)
    c.bot_text(int(0.3 * S), "Hello!")
    c.bot_stopped(1 * S, 16000)
    c.user_started(2 * S, 32000)
    c.transcription(int(2.5 * S), "tell me")
    c.user_stopped(3 * S, 48000)
    c.add_metrics(int(3.3 * S), [{"kind": "llm", "metric": "ttfb", "ttfb": 0.25},
                                 {"kind": "stt", "metric": "ttfb", "ttfb": 0.3}], pos=52800)
    c.bot_started(int(3.6 * S), 57600, user_end=48000)
    c.bot_text(int(3.7 * S), "Well")
    c.add_metrics(int(3.8 * S), [{"kind": "tts", "metric": "usage", "characters": 40}])
    c.user_started(int(4.5 * S), 72000)
    c.interruption(int(4.6 * S), 73600)
    c.bot_stopped(int(4.7 * S), 75200)
    c.transcription(int(4.9 * S), "wait")
    c.add_metrics(int(5.2 * S), [{"kind": "llm", "metric": "ttfb", "ttfb": 0.26}])
    p = ended(c)
    m = p["metrics"]
    assert [x["turnIndex"] for x in m] == [0, 1, 1, 2, 3]
    assert [x.get("interrupted", False) for x in m] == [False, True, False, True, False]  # STT is no generation
    assert m[1]["audioOffsetMs"] == 3300 and m[1]["timestamp"].endswith("Z")
    assert p["callSummary"]["usage"]["ttsCharacters"] == 40


def test_metrics_and_errors_are_bounded_and_counted():
    import pipecat_roark.call as call_mod

    c = new_call()
    for i in range(call_mod.MAX_METRICS + 5):
        c.add_metrics(i, [{"kind": "tts", "metric": "usage", "characters": 1}])
    for i in range(3):
        assert (c.error(i, "boom", "TTS#0") is not None) == (i == 0)  # repeats are counted, not kept
    for i in range(call_mod.MAX_ERRORS + 2):
        c.error(i, f"e{i}", "X#0")
    p = ended(c, delivered=False)
    assert len(p["metrics"]) == call_mod.MAX_METRICS
    assert p["callSummary"]["metricsDropped"] == 5
    assert p["callSummary"]["usage"]["ttsCharacters"] == call_mod.MAX_METRICS + 5  # totals keep counting
    assert len(p["errors"]) == call_mod.MAX_ERRORS and p["errors"][0] == {
        "message": "boom", "processor": "TTS#0", "fatal": False, "timestamp": p["errors"][0]["timestamp"], "count": 3}
    assert p["callSummary"]["errors"] == 3 + (call_mod.MAX_ERRORS - 1) + 3 and p["callSummary"]["errorsDropped"] == 3


def test_tool_outcomes():
    c = new_call()
    c.tool_call(1 * S, "ok", "lookup", {})
    c.tool_result(int(1.3 * S), "ok", {"a": 1})
    c.tool_call(2 * S, "bad", "lookup", {})
    c.tool_result(int(2.2 * S), "bad", "The function failed", error="RuntimeError: db down")
    c.tool_call(3 * S, "old", "lookup", {})
    c.tool_failed(int(3.1 * S), "lookup", "db down", final=True)  # Pipecat < 1.9: only the ErrorFrame
    c.tool_call(4 * S, "cut", "slow", {})
    c.tool_cancelled(int(4.5 * S), "cut")
    c.tool_call(5 * S, "late", "slow", {})
    c.tool_cancelled(6 * S, "late", timed_out=True)
    c.tool_call(6 * S, "none01", "slow", {})  # 0.0.x: a timeout is an empty result at the deadline
    c.tool_result(int(16.02 * S), "none01", None, timeout_secs=10.0)
    c.tool_call(7 * S, "open", "forever", {})
    c.end(20 * S, "ended")
    p = ended(c)
    results = {r["toolCallId"]: r for r in p["toolCalls"] if r["kind"] == "tool_result"}
    assert {k: r["status"] for k, r in results.items()} == {
        "ok": "completed", "bad": "failed", "old": "failed", "cut": "cancelled", "late": "timed_out",
        "none01": "timed_out", "open": "no_result"}
    assert results["bad"]["error"] == "RuntimeError: db down" and results["old"]["error"] == "db down"
    assert results["ok"]["durationMs"] == 300 and results["open"]["durationMs"] == 13000
    assert results["open"]["content"] == "" and "error" not in results["ok"]
    assert p["callSummary"]["toolCalls"] == {"total": 7, "completed": 1, "failed": 2, "cancelled": 1, "timedOut": 2,
                                             "noResult": 1}


def test_transcript_ruled_turns_adopt_early_words_and_close_when_ruled_over():
    c = new_call()
    # STT-only: the words are pushed before the ruling on them; the edges are
    # placed on the recording later (where the words were spoken).
    c.transcription(int(3.2 * S), "first question")
    first = Call.user_started(c, int(3.25 * S))
    Call.user_stopped(c, int(3.3 * S))
    c.set_start(first, Edge(2 * S, 32000))
    c.set_end(first, Edge(3 * S, 48000))
    c.transcription(int(5.2 * S), "second question")  # after the ruling on the first: a new utterance
    second = Call.user_started(c, int(5.25 * S))
    Call.user_stopped(c, int(5.3 * S))
    c.set_start(second, Edge(4 * S, 64000))
    c.set_end(second, Edge(5 * S, 80000))
    c.bot_started(6 * S, 96000, user_end=80000)
    c.bot_text(int(6.1 * S), "Answer")
    t = ended(c)["transcript"]
    assert [(x["role"], x["content"], x.get("audioOffsetMs")) for x in t] == [
        ("user", "first question", 2000), ("user", "second question", 4000), ("assistant", "Answer", 6000)]
    assert t[2]["responseLatencyMs"] == 1000


def test_a_late_final_of_a_turn_ruled_before_its_words_stays_in_it():
    c = new_call()
    c.user_started(2 * S, 32000)  # ruled as the sound began (a turn strategy, no VAD frames)
    c.user_stopped(3 * S, 48000)
    c.bot_started(int(3.5 * S), 56000)
    c.transcription(int(3.8 * S), "late words")  # the final came after the bot began
    c.bot_text(4 * S, "Reply")
    t = ended(c)["transcript"]
    assert [(x["role"], x["content"]) for x in t] == [("user", "late words"), ("assistant", "Reply")]


def test_closed_assistant_turns_are_reported_once():
    c = new_call()
    c.bot_started(1 * S, 16000)
    c.bot_text(int(1.1 * S), "Hi")
    c.bot_stopped(2 * S, 32000)
    assert c.take_closed() == []  # the bot may go on: not over yet
    c.user_started(3 * S, 48000)
    (turn,) = c.take_closed()
    assert turn.content == "Hi" and c.take_closed() == []
    c.transcription(int(3.2 * S), "yes")
    c.user_stopped(4 * S, 64000)
    c.bot_started(5 * S, 80000, user_end=64000)
    c.bot_text(int(5.1 * S), "Ok")
    c.close_all()
    (turn,) = c.take_closed()
    report = c.turn_report(turn)
    assert report["content"] == "Ok" and report["userContent"] == "yes" and report["responseLatencyMs"] == 1000


# -- bot backchannels (words of a BotBackchannelFrame, Pipecat >= 1.13) ----------


def _caller_then_backchannel(text_at: str, words_first_user: bool = False):
    """Greeting, then the caller talks; the bot says "Mm-hmm." over them; then the reply."""
    c = new_call()
    c.bot_started(int(0.1 * S), pos=1600)
    c.bot_text(int(0.2 * S), "Hello!")
    c.bot_stopped(int(1.0 * S), pos=16000)
    if words_first_user:
        c.transcription(int(2.0 * S), "I want to")  # the STT's words rule the turn
        c.user_started(int(2.01 * S), pos=32000)
    else:
        c.user_started(int(2.0 * S), pos=32000)
    # The words released a moment before the bot reports speaking (early), with it, or
    # after its audio (late: a TTS without word times), even after it stopped.
    if text_at == "early":
        c.bot_text(int(3.0 * S), "Mm-hmm.", backchannel=True)
    c.bot_started(int(3.0 * S), pos=48000)
    if text_at == "exact":
        c.bot_text(int(3.0 * S), "Mm-hmm.", backchannel=True)
    if text_at == "late":
        c.bot_text(int(3.35 * S), "Mm-hmm.", backchannel=True)
    c.bot_stopped(int(3.4 * S), pos=54400)
    if text_at == "after_stop":
        c.bot_text(int(3.45 * S), "Mm-hmm.", backchannel=True)
    if words_first_user:  # the rest of the caller's words, before the STT rules the end
        c.transcription(int(4.4 * S), "change my address")
        c.user_stopped(int(4.5 * S), pos=72000)
    else:
        c.user_stopped(int(4.5 * S), pos=72000)
        c.transcription(int(4.6 * S), "I want to change my address")
    c.bot_started(int(5.0 * S), pos=80000, user_end=72000)
    c.bot_text(int(5.1 * S), "Sure, go ahead.")
    c.bot_stopped(int(6.0 * S), pos=96000)
    return c


def test_bot_backchannel_is_its_own_turn_answering_nothing_and_splitting_nothing():
    for text_at in ("early", "exact", "late", "after_stop"):
        for words_first_user in (False, True):
            p = ended(_caller_then_backchannel(text_at, words_first_user))
            got = [(t["role"], t["content"], t.get("backchannel")) for t in p["transcript"]]
            assert got == [("assistant", "Hello!", None), ("user", "I want to change my address", None),
                           ("assistant", "Mm-hmm.", True), ("assistant", "Sure, go ahead.", None)], \
                (text_at, words_first_user, got)
            bc, reply = p["transcript"][2], p["transcript"][3]
            assert (bc["audioOffsetMs"], bc["endAudioOffsetMs"]) == (3000, 3400)
            assert "responseLatencyMs" not in bc and not bc.get("interrupted")
            assert reply["audioOffsetMs"] == 5000 and reply["responseLatencyMs"] == 500


def test_bot_backchannel_is_not_cut_by_an_interruption():
    c2 = new_call()
    c2.user_started(int(1.0 * S), pos=16000)
    c2.bot_started(int(2.0 * S), pos=32000)
    c2.bot_text(int(2.01 * S), "Mm-hmm.", backchannel=True)
    c2.interruption(int(2.1 * S), pos=33600)  # a new user turn while it plays: it goes on
    c2.bot_stopped(int(2.4 * S), pos=38400)
    bc = [t for t in ended(c2)["transcript"] if t["role"] == "assistant"]
    assert len(bc) == 1 and bc[0]["backchannel"] is True and not bc[0].get("interrupted")
    assert bc[0]["endAudioOffsetMs"] == 2400


def test_bot_backchannel_told_after_its_words_were_released():
    c = new_call()
    c.user_started(int(1.0 * S), pos=16000)
    c.bot_started(int(2.0 * S), pos=32000)
    c.bot_text(int(2.01 * S), "Mm-hmm.")  # not known as a backchannel yet
    turn = c.bot_turn
    c.bot_stopped(int(2.4 * S), pos=38400)
    c.bot_backchannel_late(turn)
    c.user_stopped(int(3.0 * S), pos=48000)
    c.bot_started(int(3.5 * S), pos=56000)
    c.bot_text(int(3.6 * S), "Sure.")
    c.bot_stopped(int(4.0 * S), pos=64000)
    got = [(t["role"], t["content"], t.get("backchannel")) for t in ended(c)["transcript"]]
    assert got == [("user", "", None), ("assistant", "Mm-hmm.", True), ("assistant", "Sure.", None)] or \
        got == [("assistant", "Mm-hmm.", True), ("assistant", "Sure.", None)]


def test_bot_backchannel_words_while_the_bot_speaks_open_a_turn_of_their_own():
    c = new_call()
    c.bot_started(int(1.0 * S), pos=16000)
    c.bot_text(int(1.1 * S), "Let me check.")
    opened = c.bot_text(int(1.5 * S), "Mm-hmm.", backchannel=True)  # same sound, no stop between
    assert opened is not None and opened.backchannel and c.speaking is opened
    c.bot_stopped(int(2.0 * S), pos=32000)
    got = [(t["role"], t["content"], t.get("backchannel")) for t in ended(c)["transcript"]]
    assert got == [("assistant", "Let me check.", None), ("assistant", "Mm-hmm.", True)]


def _session():
    from pipecat_roark.session import CallLog, CallSession
    s = CallSession("c1", None, delivery=None, log=CallLog("c1"), fire=lambda *a: None,
                    has_handlers=lambda name: False, warn_once=lambda key, msg: None)
    s.call.start(0, 1_800_000_000.0)
    return s


def test_session_tells_bot_backchannel_words_known_before_or_after_their_release():
    """The observer (its own queue) may learn that words are a backchannel after the
    recorder (inline) saw them released: the turn they opened is flagged then."""
    for told_first in (True, False):
        s = _session()
        s.user_started(int(1.0 * S))
        if told_first:
            s.bot_backchannel_text(500)  # the TTS's backchannel segment...
            assert s.is_bot_backchannel(500)
            s.bot_backchannel_text(501)  # ...and its word, which names it
        s.bot_started(int(2.0 * S))
        s.bot_text(int(2.01 * S), "Mm-hmm.", True, frame_id=501)
        if not told_first:
            s.bot_backchannel_text(501)
        s.bot_stopped(int(2.4 * S))
        s.user_stopped(int(3.0 * S))
        s.bot_started(int(3.5 * S))
        s.bot_text(int(3.6 * S), "Sure.", True, frame_id=502)
        s.bot_stopped(int(4.0 * S))
        bots = [(t.content, t.backchannel) for t in s.call.turns if t.role == "assistant"]
        assert bots == [("Mm-hmm.", True), ("Sure.", False)], (told_first, bots)


def test_barge_in_latency_when_the_service_interrupts_with_no_user_turn_frame():
    """Gemini Live: an InterruptionFrame from the service, the caller's turn made later from its
    transcript and placed on the left channel; the latency runs from that placement, not the frame."""
    c = new_call()
    c.bot_started(3 * S, 48000)
    c.bot_text(int(3.1 * S), "Let me tell you")
    c.interruption(int(4.05 * S), 64800)  # the service's `interrupted`, 50 ms after the caller's onset
    c.bot_stopped(int(4.1 * S), 65600)  # the bot's sound stopped 100 ms after the onset
    c.transcription(int(5.5 * S), "stop")  # late, buffered into a sentence
    user = [t for t in c.turns if t.role == "user"][0]
    c.set_start(user, Edge(int(4.0 * S), 64000))  # where the session's edges put it: the caller's onset
    c.set_end(user, Edge(int(4.5 * S), 72000))
    t = ended(c)["transcript"]
    assert [x["role"] for x in t] == ["assistant", "user"]
    assert t[0]["interrupted"] is True and t[0]["bargeInLatencyMs"] == 100


def test_barge_in_latency_ignores_a_caller_turn_that_began_before_the_bot():
    c = new_call()
    c.bot_started(3 * S, 48000)
    c.bot_text(int(3.1 * S), "Let me tell you")
    c.interruption(int(4.05 * S), 64800)
    c.bot_stopped(int(4.1 * S), 65600)
    c.transcription(int(5.5 * S), "stop")
    user = [t for t in c.turns if t.role == "user"][0]
    c.set_start(user, Edge(int(2.5 * S), 40000))  # began before the bot: not a caller over it
    t = ended(c)["transcript"]
    bot = [x for x in t if x["role"] == "assistant"][0]
    assert bot["interrupted"] is True and bot["bargeInLatencyMs"] == 50  # from the interruption itself


def _placed_from_transcript(c, t_ns, text, start, end):
    """A user turn made from a speech-to-speech transcript and placed on the left channel (as the session does)."""
    turn = c.transcription(t_ns, text, whole_utterance=True)
    turn.text_only = False
    c.set_start(turn, Edge(t_ns, start))
    c.set_end(turn, Edge(t_ns, end))
    return turn


def test_a_later_sentence_of_the_same_utterance_joins_its_turn():
    """Gemini Live: one transcript per sentence, the second after the reply began, with no new caller speech."""
    c = new_call()
    _placed_from_transcript(c, int(3.0 * S), "Hi.", 16000, 40000)
    c.bot_started(int(3.1 * S), 44800)
    c.bot_text(int(3.2 * S), "Sure!")
    later = c.transcription(int(3.5 * S), "I'd like to check my order.", whole_utterance=True)
    assert c.join_previous_user(later)
    c.bot_stopped(4 * S, 64000)
    t = ended(c)["transcript"]
    assert [(x["role"], x["content"]) for x in t] == [("user", "Hi. I'd like to check my order."),
                                                      ("assistant", "Sure!")]
    assert t[0]["audioOffsetMs"] == 1000 and t[0]["endAudioOffsetMs"] == 2500


def test_a_transcript_joins_nothing_when_the_last_user_turn_was_never_placed():
    c = new_call()
    c.transcription(1 * S, "hello", whole_utterance=True)  # text only: not on the recording
    c.bot_text(2 * S, "Hi")
    later = c.transcription(3 * S, "bye", whole_utterance=True)
    assert not c.join_previous_user(later)
    t = ended(c, delivered=False)["transcript"]
    assert [(x["role"], x["content"]) for x in t] == [("user", "hello"), ("assistant", "Hi"), ("user", "bye")]
