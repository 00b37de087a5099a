"""The scripted speech-to-speech call the tests run (~17 s of caller audio).

0.0 s  the bot greets (French, emoji)
2.8 s  caller: "Hi, I'd like to check my order status."  -> reply; transcript 0.9 s after the
       server VAD's stop, i.e. after the reply started
8.0 s  caller: "It's order number four two seven."  -> "Un instant… 🔎" + lookup_order(427);
       the tool result -> a long reply generated at 1.2x real time, its text 0.4 s ahead of its audio
11.5 s caller barges in: "Thanks, that's all." ~0.6 s into that reply (after "quatre-deux-sept",
       whose next word starts ~0.3 s later but whose text was already released) -> the fake
       cancels the reply still being generated, Pipecat truncates it; -> goodbye
"""

from __future__ import annotations

from pipecat_roark.testing.audio import CallerTimeline
from pipecat_roark.testing.realtime.script import RATE, Heard, RealtimeScript, Say, ToolCallPlan

GREETING = Say(("Bonjour", " !", " Acme", " support,", " comment", " puis-je", " vous", " aider", " ?", " 👋"),
               ("bot_greeting",))
ASK_NUMBER = Say(("Bien", " sûr", " !", " Quel", " est", " le", " numéro", " de", " commande", " ?", " 😀"),
                 ("bot_ask_number",))
ONE_MOMENT = Say(("Un", " instant…", " 🔎"), ("bot_of_course",),
                 tool=ToolCallPlan("lookup_order", {"order_id": "427"}, "call_lookup_427"))
SHIPPED = Say(("Commande", " quatre-deux-sept", " expédiée.", " Elle", " arrive", " vendredi", " —", " à",
               " bientôt", " ! 📦"),
              ("bot_shipped", "bot_arrives"), pace=1.2, text_lead_secs=0.4)
GOODBYE = Say(("Je", " vous", " en", " prie,", " au", " revoir", " !", " 👋"), ("bot_goodbye",))

ORDER_RESULT = {"order": "427", "status": "expédiée", "eta": "vendredi"}

SCRIPT = RealtimeScript(
    greeting=GREETING,
    heard=[
        Heard("Hi, I'd like to check my order status.", 0.9, reply=ASK_NUMBER),
        Heard("It's order number four two seven.", 1.4, reply=ONE_MOMENT, after_tool=SHIPPED),
        Heard("Thanks, that's all.", 0.7, reply=GOODBYE),
    ],
)

# The same call as Gemini Live transcribes the caller: the service buffers the text into
# sentences, so the first utterance reaches the pipeline as two TranscriptionFrames; the last
# has no sentence mark and is flushed 0.5 s after its last fragment.
SENTENCES = RealtimeScript(
    greeting=GREETING,
    heard=[
        Heard("Hi. I'd like to check my order status.", 0.9, reply=ASK_NUMBER),
        Heard("It's order number four two seven.", 1.4, reply=ONE_MOMENT, after_tool=SHIPPED),
        Heard("Thanks, that's all", 0.7, reply=GOODBYE),
    ],
)

CALLER = [(2800, "caller_order_status"), (8000, "caller_order_number"), (11500, "caller_thanks")]
DURATION_MS = 16000

TOOLS = {"lookup_order": ("Look up an order's status by number.",
                          {"order_id": {"type": "string", "description": "The order number"}})}


def timeline() -> CallerTimeline:
    return CallerTimeline(CALLER, duration_ms=DURATION_MS, sample_rate=RATE)


async def lookup_order(arguments: dict) -> dict:
    return dict(ORDER_RESULT)
