"""What each shipped clip says, and who says it.

This is the single source of truth for ``scripts/make_clips.py`` (which
synthesizes ``clips/<name>.wav`` from it once, with espeak-ng) and for the
stand-in TTS (which looks up a bot clip by its text). The WAV files are
committed; nothing here needs espeak at runtime.
"""

from __future__ import annotations

#: Caller utterances: name -> text spoken in the clip.
CALLER_CLIPS: dict[str, str] = {
    "hello": "Hello?",
    "order_status": "Hi, I'd like to check my order status.",
    "order_number": "It's order number four two seven.",
    "change_address": "Actually, wait, can you also change the address?",
    "thanks": "Thanks, that's all.",
}

#: Bot sentences the stand-in TTS voices verbatim: name -> text. One clip per
#: sentence, because Pipecat's TTS services synthesize a reply sentence by
#: sentence.
BOT_CLIPS: dict[str, str] = {
    "greeting": "Acme support, how can I help?",
    "ask_number": "Sure, what's the order number?",
    "shipped": "Order four two seven shipped.",
    "arrives": "It arrives Friday.",
    "go_ahead": "Sure, go ahead.",
    "of_course": "Of course.",
    "update_address": "I can update the delivery address.",
    "new_address": "What's the new street and zip code?",
    "goodbye": "You're welcome, goodbye!",
}

#: espeak-ng voice and speed per role (recorded here so regeneration is reproducible).
CALLER_VOICE = ("en-us", 170)
BOT_VOICE = ("en-gb+f3", 180)

SAMPLE_RATE = 16000
