"""A speech-to-speech call with no user-turn frames: transcripts placed on the caller's channel.

The session and a real Timeline fed by hand (no Pipecat, no network): a
service that sends the caller's words in several transcripts (Gemini Live:
one per sentence, or per pause in its text, some while the caller still
speaks) gets one user turn per utterance on the recording.
"""

from types import SimpleNamespace

import numpy as np

from pipecat_roark.config import build_settings
from pipecat_roark.session import CallLog, CallSession
from pipecat_roark.timeline import BOT, USER, Timeline

RATE = 16000
S = 1_000_000_000


class Recording:
    """The session on a timeline whose caller track is written up to each transcript's time."""

    def __init__(self, speech: list[tuple[float, float]]):
        self.speech = speech
        delivery = SimpleNamespace(send_started=lambda *a, **k: None)
        self.session = CallSession("c1", build_settings(agent_id="a", base_url="http://127.0.0.1:9", env={}),
                                   delivery=delivery, log=CallLog("c1"), fire=lambda *a, **k: None,
                                   has_handlers=lambda name: False, warn_once=lambda *a: None)
        self.tl = Timeline(RATE)
        self.session.attach_recording(self.tl, lambda t_ns: int(t_ns * RATE // S), dict)
        self.session.start(0, 1_800_000_000.0, RATE)
        self.session.realtime_service()

    def until(self, secs: float) -> None:
        n = int(secs * RATE) - self.tl.pos(USER)
        t = (self.tl.pos(USER) + np.arange(n)) / RATE
        loud = np.zeros(n, dtype=bool)
        for a, b in self.speech:
            loud |= (t >= a) & (t < b)
        self.tl.tracks[USER].append((np.sin(2 * np.pi * 220 * t) * 8000 * loud).astype(np.int16))
        self.tl.tracks[BOT].append(np.zeros(n, dtype=np.int16))

    def transcript(self, secs: float, text: str) -> None:
        self.until(secs)
        self.session.transcription(int(secs * S), text)

    def users(self):
        return [(t.content, round(t.start.pos / RATE, 2), round(t.end.pos / RATE, 2))
                for t in self.session.call.turns if t.role == "user"]


def test_sentences_of_one_utterance_sent_while_and_after_it_was_spoken_make_one_turn():
    r = Recording([(1.0, 1.3), (1.5, 2.2), (2.4, 3.0)])  # pauses of 0.2 s inside one utterance
    r.transcript(1.45, "Hi.")  # mid-utterance, in a pause
    r.transcript(2.1, "I'd like to check")  # mid-utterance, while speaking
    r.transcript(3.6, "my order.")  # after it ended
    assert r.users() == [("Hi. I'd like to check my order.", 1.0, 3.0)]


def test_a_new_utterance_after_a_gap_is_a_new_turn():
    r = Recording([(1.0, 2.0), (3.0, 3.8)])
    r.transcript(1.5, "Hello,")  # mid-utterance: the placed turn may go on
    r.transcript(2.4, "there.")
    r.transcript(4.3, "Bye.")
    assert r.users() == [("Hello, there.", 1.0, 2.0), ("Bye.", 3.0, 3.8)]


def test_a_late_sentence_with_no_new_speech_joins_the_last_utterance():
    r = Recording([(1.0, 2.0)])
    r.transcript(2.8, "Hi.")
    r.transcript(3.2, "Check my order.")
    assert r.users() == [("Hi. Check my order.", 1.0, 2.0)]
