"""Local fakes of speech-to-speech model APIs, and real-time calls through them.

:mod:`.script` (pure: what the model says and hears, the truth it keeps),
:mod:`.openai_fake` (the OpenAI Realtime websocket API on 127.0.0.1),
:mod:`.live_fake` (OpenAI Live), :mod:`.gemini_fake` (Gemini Live, over TLS
with a certificate from :mod:`.tls`; needs google-genai), all three built on
:mod:`._fake_base` (the server, caller audio and response streaming they
share), and :mod:`.call` (a real Pipecat pipeline around the real service;
Pipecat 1.x). Import :mod:`.call` only on Pipecat 1.x.
"""

from pipecat_roark.testing.realtime.script import (
    RATE,
    EnergyVAD,
    Heard,
    RealtimeScript,
    ResponseTruth,
    Say,
    ToolCallPlan,
    Truth,
    UtteranceTruth,
    word_offsets,
    words_heard,
)

__all__ = [
    "RATE",
    "EnergyVAD",
    "Heard",
    "RealtimeScript",
    "ResponseTruth",
    "Say",
    "ToolCallPlan",
    "Truth",
    "UtteranceTruth",
    "word_offsets",
    "words_heard",
]
