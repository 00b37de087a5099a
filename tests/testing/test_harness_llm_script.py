"""How the scripted LLM picks its answers (decision logic only)."""

import json

from pipecat.processors.aggregators.llm_context import LLMContext

from pipecat_roark.testing import ORDER_TOOL, ScriptedLLMService, ScriptedReply


def _llm():
    return ScriptedLLMService(
        [
            ScriptedReply(user="", text="Hello there."),
            ScriptedReply(user="I'd like to check my order status.", text="What's the number?"),
            ScriptedReply(user="It's order number four two seven.", tool_call=ORDER_TOOL),
            ScriptedReply(
                user="Actually, wait, can you also change the address?",
                text="Sure, go ahead.",
                late_text="Of course.",
            ),
            ScriptedReply(user="Thanks, that's all.", text="Goodbye!"),
        ]
    )


def test_decisions_follow_the_conversation():
    llm = _llm()
    ctx = LLMContext([{"role": "system", "content": "test"}])
    d = llm._decide(ctx)
    assert (d.kind, d.text) == ("greeting", "Hello there.")

    ctx.add_message({"role": "user", "content": "Hi, I'd like to check my order status."})
    assert llm._decide(ctx).text == "What's the number?"

    ctx.add_message({"role": "user", "content": "It's order number four two seven."})
    d = llm._decide(ctx)
    assert d.kind == "tool"
    llm._tool_calls["call_1"] = d.reply_index
    ctx.add_message({"role": "tool", "tool_call_id": "call_1", "content": json.dumps(ORDER_TOOL.result)})
    d = llm._decide(ctx)
    assert (d.kind, d.text) == ("followup", "Order four two seven shipped. It arrives Friday.")

    # First part of a split transcript, then its late part as a turn of its own.
    ctx.add_message({"role": "user", "content": "Actually, wait,"})
    assert llm._decide(ctx).text == "Sure, go ahead."
    ctx.add_message({"role": "user", "content": "can you also change the address?"})
    d = llm._decide(ctx)
    assert (d.kind, d.text) == ("late", "Of course.")
    assert not llm.script_done.is_set()

    ctx.add_message({"role": "user", "content": "thanks that's all"})
    assert llm._decide(ctx).text == "Goodbye!"
    llm._check_done()
    assert llm.script_done.is_set()

    ctx.add_message({"role": "user", "content": "What's the weather?"})
    assert llm._decide(ctx).kind == "fallback"


def test_tools_schema_and_registration():
    llm = _llm()
    schema = llm.tools_schema()
    assert [t.name for t in schema.standard_tools] == ["lookup_order"]
    assert llm.has_function("lookup_order")
    assert ScriptedLLMService([ScriptedReply(user="x", text="y")]).tools_schema() is None
