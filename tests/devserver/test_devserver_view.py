"""The call page's pure shapes: who cut a turn off, which reply a TTFB row belongs to, file names."""

from pipecat_roark.devserver.view import (
    download_name,
    interruption_cause,
    interruption_counts,
    latency_rows,
    ttfb_rows,
)


def turn(role, **kw):
    return {"role": role, "content": "x", **kw}


def test_interruption_cause_reads_the_field_and_falls_back_to_a_barge_in():
    assert interruption_cause(turn("assistant", interrupted=True, interruptionCause="pipeline")) == "pipeline"
    assert interruption_cause(turn("assistant", interrupted=True, interruptionCause="caller")) == "caller"
    assert interruption_cause(turn("assistant", interrupted=True)) == "caller"  # older clients
    assert interruption_cause(turn("assistant", interrupted=True, interruptionCause="???")) == "caller"
    assert interruption_cause(turn("assistant", interrupted=False, interruptionCause="pipeline")) is None
    assert interruption_cause(turn("user", interrupted=True)) is None


def test_counts_and_latency_rows_carry_the_cause():
    transcript = [
        turn("user"),
        turn("assistant", interrupted=True, interruptionCause="pipeline", audioOffsetMs=100, endAudioOffsetMs=300),
        turn("user"),
        turn("assistant", interrupted=True, bargeInLatencyMs=120, responseLatencyMs=700, audioOffsetMs=900),
        turn("assistant", responseLatencyMs=400),
    ]
    assert interruption_counts(transcript) == {"caller": 1, "pipeline": 1}
    assert [(r["turnIndex"], r["cause"]) for r in latency_rows(transcript)] == [(1, "pipeline"), (3, "caller"), (4, None)]


def test_a_ttfb_row_names_the_bots_reply():
    transcript = [turn("user"), turn("assistant", interrupted=True, interruptionCause="pipeline"), turn("user"),
                  turn("user"), turn("assistant")]
    metrics = [
        {"kind": "llm", "metric": "ttfb", "ttfb": 0.2, "turnIndex": 0, "interrupted": True},
        {"kind": "tts", "metric": "ttfb", "ttfb": 0.1, "turnIndex": 3},
        {"kind": "stt", "metric": "ttfb", "ttfb": 0.1, "turnIndex": 2},  # no reply before the next caller turn
        {"kind": "llm", "metric": "ttfb", "ttfb": 0.3, "turnIndex": 4},  # an assistant turn is its own reply
        {"kind": "llm", "metric": "ttfb", "ttfb": 0.3},  # no turn at all
    ]
    rows = {r["turnIndex"]: r for r in ttfb_rows(metrics, transcript)}
    assert (rows[0]["replyTurnIndex"], rows[0]["replyCause"]) == (1, "pipeline")
    assert (rows[3]["replyTurnIndex"], rows[3]["replyCause"]) == (4, None)
    assert rows[2]["replyTurnIndex"] is None
    assert rows[4]["replyTurnIndex"] == 4
    assert rows[None]["replyTurnIndex"] is None


def test_download_names_are_the_call_id():
    assert download_name("pc-1234", "wav") == "pc-1234.wav"
    assert download_name("team/call 1?", "json") == "team_call_1_.json"
    assert download_name('a"b\r\nc', "wav") == "a_b__c.wav"  # nothing that could break the header
    assert download_name("..", "wav") == "call.wav"
    assert len(download_name("x" * 500, "json")) == 125


def test_low_confidence_turns_are_user_turns_below_the_threshold_and_never_guessed():
    from pipecat_roark.devserver.view import low_confidence_turns

    turns = [
        {"role": "user", "sttQuality": {"confidence": 0.42}},
        {"role": "assistant", "sttQuality": {"confidence": 0.1}},  # not an STT's turn
        {"role": "user", "sttQuality": {"confidence": 0.6}},  # at the threshold: fine
        {"role": "user"},  # no confidence given: not "low"
        {"role": "user", "sttQuality": {"confidence": True}},
    ]
    assert low_confidence_turns(turns) == [0]
    assert low_confidence_turns(turns, threshold=0.7) == [0, 2]


def test_log_rows_keep_order_offsets_and_counts():
    from pipecat_roark.devserver.view import log_rows

    rows = log_rows({"logs": [{"timestamp": "t", "level": "ERROR", "message": "m", "audioOffsetMs": 5, "count": 3},
                              {"level": "WARNING", "message": "before sample 0"}, "junk"]})
    assert [(r["level"], r["audioOffsetMs"], r["count"]) for r in rows] == [("ERROR", 5, 3), ("WARNING", None, 1)]
