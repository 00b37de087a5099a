"""`pipecat-roark export`: a real call stored by the dev server, written as Pipecat's eval
conversation (read back by Pipecat's own judge where installed), as JSON and as WAV."""

from __future__ import annotations

import io
import json
import math
import wave
from pathlib import Path

import numpy as np
import pytest

from pipecat_roark import RoarkObserver
from pipecat_roark.cli import main
from pipecat_roark.devserver.store import Store
from pipecat_roark.export import ExportError, export_call, to_eval_conversation
from pipecat_roark.testing.scenario import ORDER_TOOL, CallerTurn, CallScript, build_call, run_call

try:
    from pipecat.evals.conversation import EvalConversation
    from pipecat.evals.conversation_observer import EvalConversationObserver
except ImportError:  # Pipecat < 1.13
    EvalConversation = EvalConversationObserver = None

#: What Pipecat's judge saw, per conversation (filled by the classifier below).
JUDGED: list = []


def make_classifier(config):
    """judge.eval.factory for the test simulation: a classifier that says yes and remembers what it was shown."""
    from pipecat.classifiers.base_classifier import BaseClassifier, YesNoResult

    class Recording(BaseClassifier):
        async def _ask(self, state, questions, images=()):
            JUDGED.append(state)
            return {name: YesNoResult(probability=0.9) for name in questions}, None

    return Recording()


async def _judge_file(path: Path):
    """What `pipecat eval judge scenario.yaml PATH` does with a conversation file (cli/commands/eval.py)."""
    from pipecat.evals.simulation import EvalSimulationScenario
    from pipecat.evals.simulation_judge import EvalSimulationJudge

    simulation = EvalSimulationScenario(
        name="order_status", persona="a customer", goal="learn where the order is",
        success="The bot told the caller the order's status",
        judge={"factory": f"{__name__}.make_classifier", "explainer": False},
    )
    messages = json.loads(path.read_text())
    return await EvalSimulationJudge(simulation, explain_below=math.inf).judge(messages)


SCRIPT = CallScript(
    greeting="Acme support, how can I help?",
    turns=[
        CallerTurn("order_status", 2600, reply="Sure, what's the order number?"),
        CallerTurn("order_number", 8800, tool_call=ORDER_TOOL),
        CallerTurn("thanks", 15000, reply="You're welcome, goodbye!"),
    ],
    duration_ms=18000,
)


async def test_export_of_a_real_call(server, data_dir, tmp_path, capsys):
    roark = RoarkObserver(agent_id="support-bot", base_url=server.base_url)
    observers = [roark]
    pipecat_record: list = []
    if EvalConversationObserver is not None:
        eval_observer = EvalConversationObserver()

        @eval_observer.event_handler("on_conversation_ended")
        async def on_ended(observer, message):
            pipecat_record.extend(message.conversation)

        observers.append(eval_observer)
    call = build_call(SCRIPT, audio_processor=roark.audio_processor, observers=observers)
    result = await run_call(call)
    assert result.script_completed
    cid = roark.pipecat_call_id
    assert server.store.get_call(cid).ended is not None
    server.store.close()

    # pipecat-eval, through the command line, with a prefix of the id
    out = tmp_path / "call.conversation.json"
    assert main(["export", cid[:12], "--format", "pipecat-eval", "--data-dir", str(data_dir), "--out", str(out)]) == 0
    messages = json.loads(out.read_text())
    roles = [m["role"] for m in messages]
    assert roles == ["assistant", "user", "assistant", "user", "tool_call", "assistant", "user", "assistant"], messages
    assert messages[0]["content"] == "Acme support, how can I help?"
    assert messages[4] == {"role": "tool_call", "name": "lookup_order", "arguments": {"order_id": "427"},
                           "cancelled": False}
    assert "shipped" in messages[5]["content"].lower()

    if EvalConversationObserver is not None:
        assert pipecat_record
        # Pipecat's own observer of the same call recorded the same conversation.
        def norm(ms):
            return [{**m, "content": " ".join(m["content"].lower().replace(",", "").split())} if "content" in m else m
                    for m in ms]

        assert norm(messages) == norm(pipecat_record)

    # Read back by Pipecat's judge, as `pipecat eval judge` does.
    try:
        import pipecat.evals.simulation_judge  # noqa: F401
    except ImportError:
        pass
    else:
        JUDGED.clear()
        judgement = await _judge_file(out)
        assert judgement.goal.verdict == "yes"
        seen = json.dumps(JUDGED)
        assert "lookup_order" in seen and "Acme support, how can I help?" in seen and "427" in seen

    # json: the call page's data
    out_json = tmp_path / "call.json"
    assert main(["export", cid, "-f", "json", "--data-dir", str(data_dir), "-o", str(out_json)]) == 0
    detail = json.loads(out_json.read_text())
    assert json.dumps(detail).count("lookup_order") >= 1 and detail["problems"] == []

    # wav: the recording, as the dev server serves it
    out_wav = tmp_path / "call.wav"
    assert main(["export", cid, "-f", "wav", "--data-dir", str(data_dir), "-o", str(out_wav)]) == 0
    store = Store(data_dir)
    try:
        assert out_wav.read_bytes() == store.wav_bytes(cid)
        rate = store.get_call(cid).ended["recordingSampleRate"]
    finally:
        store.close()
    with wave.open(io.BytesIO(out_wav.read_bytes())) as w:
        assert w.getnchannels() == 2 and w.getframerate() == rate and w.getnframes() > rate * 15
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, 2)
    assert np.abs(pcm[:, 0]).max() > 1000 and np.abs(pcm[:, 1]).max() > 1000  # both sides spoke


def _store_with(data_dir: Path, call_id: str, events: list[dict], chunks: dict[int, bytes] = {}) -> None:
    store = Store(data_dir)
    try:
        for e in events:
            store.record_event(call_id, json.dumps(e), 200)
        for i, data in chunks.items():
            store.save_chunk(call_id, i, data, "audio/pcm")
    finally:
        store.close()


def test_export_errors_say_what_to_do(tmp_path, capsys):
    empty = tmp_path / "nothing"
    with pytest.raises(ExportError, match="holds no dev server store"):
        export_call(empty, "x", "json")
    assert not empty.exists()  # looking does not create a store
    d = tmp_path / "store"
    _store_with(d, "call-running", [{"event": "call-started", "pipecatCallId": "call-running"}])
    _store_with(d, "call-other", [{"event": "call-started", "pipecatCallId": "call-other"}])
    with pytest.raises(ExportError, match="no call 'nope'.*most recent: call-other, call-running"):
        export_call(d, "nope", "json")
    with pytest.raises(ExportError, match="matches 2 calls"):
        export_call(d, "call-", "json")
    with pytest.raises(ExportError, match="has not ended"):
        export_call(d, "call-running", "pipecat-eval")
    with pytest.raises(ExportError, match="has no recording"):
        export_call(d, "call-running", "wav")
    assert main(["export", "nope", "--data-dir", str(d)]) == 1
    assert "no call 'nope'" in capsys.readouterr().err


def test_default_file_name_and_stdout(tmp_path, monkeypatch, capsys):
    d = tmp_path / "store"
    ended = {"event": "call-ended", "pipecatCallId": "a/b", "transcript": [
        {"role": "user", "content": "hi", "timestamp": "2026-01-01T00:00:01Z", "endTimestamp": "2026-01-01T00:00:02Z"}]}
    _store_with(d, "a/b", [ended])
    monkeypatch.chdir(tmp_path)
    assert main(["export", "a/b", "--data-dir", str(d)]) == 0
    (written,) = tmp_path.glob("*.conversation.json")
    assert written.name.startswith("a_b-") and json.loads(written.read_text()) == [{"role": "user", "content": "hi"}]
    capsys.readouterr()
    assert main(["export", "a/b", "--data-dir", str(d), "-o", "-"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"role": "user", "content": "hi"}]


# -- the conversion rules (pure) ---------------------------------------------------------------

def _t(s: float) -> str:
    return f"2026-01-01T00:00:{s:06.3f}Z"


def turn(role, content, at):
    return {"role": role, "content": content, "timestamp": _t(at), "endTimestamp": _t(at + 0.5)}


def test_bot_segments_join_and_tool_calls_go_before_the_bot_turn():
    ended = {
        "transcript": [
            turn("assistant", "Hello.", 0), turn("user", "Book a table.", 2),
            turn("assistant", "One moment.", 4), turn("assistant", "Done, Friday at seven.", 7),
            turn("user", "  ", 9), turn("user", "Thanks.", 10),
        ],
        "toolCalls": [
            {"kind": "tool_call", "toolCallId": "t1", "name": "book", "arguments": '{"day": "Friday"}', "timestamp": _t(5)},
            {"kind": "tool_result", "toolCallId": "t1", "content": "{}", "timestamp": _t(6), "status": "completed"},
            {"kind": "tool_call", "toolCallId": "t2", "name": "notify", "arguments": "not json", "timestamp": _t(6.5)},
            {"kind": "tool_result", "toolCallId": "t2", "content": "", "timestamp": _t(8), "status": "timed_out"},
        ],
    }
    got = to_eval_conversation(ended)
    assert got == [
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "Book a table."},
        {"role": "tool_call", "name": "book", "arguments": {"day": "Friday"}, "cancelled": False},
        {"role": "tool_call", "name": "notify", "arguments": {"arguments": "not json"}, "cancelled": True},
        {"role": "assistant", "content": "One moment. Done, Friday at seven."},
        {"role": "user", "content": "Thanks."},
    ]
    if EvalConversation is not None:
        # Pipecat's own builder, fed the same happenings in the same order, agrees.
        conv = EvalConversation()
        conv.add_assistant_message("Hello.")
        conv.add_user_message("Book a table.")
        conv.add_assistant_message("One moment.")
        conv.add_tool_call("book", {"day": "Friday"})
        conv.add_tool_call("notify", {"arguments": "not json"})
        conv.cancel_tool_call("notify")
        conv.add_assistant_message("Done, Friday at seven.")
        conv.add_user_message("  ")
        conv.add_user_message("Thanks.")
        conv.end_bot_turn()
        assert conv.messages == got


def test_empty_and_odd_payloads():
    assert to_eval_conversation({}) == []
    assert to_eval_conversation({"transcript": None, "toolCalls": [None, 3]}) == []
    odd = {"transcript": [{"role": "user", "content": "no time"}, turn("assistant", "timed", 1)]}
    assert [m["role"] for m in to_eval_conversation(odd)] == ["assistant", "user"]  # untimed sorts last
