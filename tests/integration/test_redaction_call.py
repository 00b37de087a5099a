"""redact=True on a real Pipecat call: what reaches the (dev) Roark server has the personal data redacted."""

import json

from pipecat_roark import RoarkObserver
from pipecat_roark.models import CallEnded
from pipecat_roark.testing.scenario import CallerTurn, CallScript, build_call, run_call
from pipecat_roark.testing.services import ToolCall

from .conftest import API_KEY

CHARGE = ToolCall(
    name="charge_card",
    arguments={"card_number": "4111 1111 1111 1111", "amount": "12.50", "note": "order 427"},
    result={"status": "charged", "card": "4111111111111111", "receipt_to": "jane.doe@example.com"},
    followup="Done, your card was {status}.",
    latency_secs=0.2,
)


async def test_a_call_with_personal_data_reaches_roark_redacted(server, logs):
    script = CallScript(
        greeting="Acme support, how can I help?",
        turns=[
            CallerTurn("order_status", 2600, transcript="Hi, I'm jane.doe@example.com, call me back at (415) 555-0132.",
                       reply="Noted: (415) 555-0132."),
            CallerTurn("order_number", 7600, tool_call=CHARGE),
        ],
        duration_ms=12000,
    )
    roark = RoarkObserver(agent_id="support-bot-v3", api_key=API_KEY, base_url=server.base_url, redact=True)
    in_process: list[dict] = []
    sent: list[dict] = []

    @roark.event_handler("on_turn_completed")
    async def on_turn(_roark, turn):
        in_process.append(turn)

    @roark.event_handler("on_call_ended")
    async def on_ended(_roark, summary, payload):
        sent.append(payload)

    call = build_call(script, audio_processor=roark.audio_processor, observers=[roark])
    result = await run_call(call)
    assert result.script_completed

    rec = server.store.get_call(roark.pipecat_call_id)
    assert rec.problems == []
    ended = rec.ended
    CallEnded.model_validate(ended)
    raw = json.dumps(ended)
    for secret in ("jane", "example.com", "555-0132", "4111"):
        assert secret not in raw, secret

    turns = [(t["role"], t["content"]) for t in ended["transcript"]]
    assert ("user", "Hi, I'm [EMAIL], call me back at [PHONE].") in turns
    assert ("assistant", "Noted: [PHONE].") in turns
    assert ("assistant", "Done, your card was charged.") in turns  # the rest of the text is intact

    tools = ended["toolCalls"]
    assert [t["kind"] for t in tools] == ["tool_call", "tool_result"]
    assert tools[0]["name"] == "charge_card"
    assert json.loads(tools[0]["arguments"]) == {"card_number": "[CARD]", "amount": "12.50", "note": "order 427"}
    assert json.loads(tools[1]["content"]) == {"status": "charged", "card": "[CARD]", "receipt_to": "[EMAIL]"}

    # on_call_ended gets what was sent; the in-process turn events keep the raw words.
    assert sent and sent[0]["transcript"] == ended["transcript"]
    assert any("jane.doe@example.com" in (t.get("userContent") or "") for t in in_process)
    # Nothing of it in this package's logs either (Pipecat's own debug logs are Pipecat's).
    ours = [line for line in logs if "| pipecat_roark." in line]
    assert ours and not any("jane.doe" in line or "4111" in line for line in ours)
