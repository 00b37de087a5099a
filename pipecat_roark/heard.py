"""What the caller heard of a reply whose words ran ahead of its audio.

Speech-to-speech services (OpenAI Realtime and Live, Gemini Live, ...) send
a reply's transcript as text deltas that can run ahead of its audio, with no
word timings. The output transport releases a delta once the audio queued
before it has played, so on a barge-in it may already have released words
whose audio the cut never played. Those words are dropped by one stated rule:

    within a response, a word is heard if the characters before it are fewer
    than the bot's speaking rate (characters per second of speech) times the
    seconds of speech of that response that were played.

That is, the bot's words are taken as evenly spread over its speech by their
length. The speaking rate is measured on the service's own output: the
characters of its text deltas over the seconds of speech in the audio it
produced (10 ms blocks loud enough to be speech: a stream that carries
silence, like OpenAI Live's, counts only its speech), summed over the
responses before the cut one that were not cut themselves. The cut
response's own ratio is not used while there are such responses: the
service stopped producing it part-way with its text ahead of its audio, so
its text per second of audio is too high (on a full-duplex service, whose
model falls silent by itself, it is exactly what was played plus the text
ahead). Before any uncut response, the cut one's own ratio is all there is
(it errs towards keeping words). The recording gives the seconds played, as
seconds of speech on the bot channel from the response's first sound to the
cut. A turn cut this way is flagged ``approximate`` on the wire.

A "response" is what the service brackets with ``LLMFullResponseStartFrame``;
on OpenAI Live that is everything the model says with pauses under 0.8 s,
which can be several utterances (an announcement, then the answer after a
tool): counting only seconds of speech keeps the pauses between them out.

Utterances joined in one response: the service's deltas carry their own
spacing, but a new utterance's first delta carries none, and nothing else
in the frames marks it (OpenAI Live's timed fragments lose their times on
the way to frames). The text does: a delta beginning with a capital letter
right after one ending a sentence (``.``, ``!``, ``?``, ``…`` or a pictograph
such as an emoji), with no space on either side, begins a new utterance and
gets a space (:func:`starts_utterance`). Fragments split inside a word
practically never look like that (a dotted name split at its dot, ``Node.``
+ ``JS``, would); an abbreviation (``U.S.`` + ``A.``) is kept whole. An
utterance ending without punctuation joined to the next is left as it is.

Pure bookkeeping, bounded: the numbers of the latest responses only.
"""

from __future__ import annotations

import unicodedata
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from .text import clean_text

#: Responses and text deltas remembered (a call's recent past is all that is asked about).
MAX_RESPONSES = 64
MAX_DELTAS = 4096
#: Blocks of the service's audio whose peak reaches this (of 32767) are speech
#: (the recording's silence level for a clean line, timeline.MIN_THRESHOLD).
SPEECH_PEAK = 250
BLOCK_SECS = 0.01


@dataclass
class Response:
    chars: int = 0  # characters of its words (spacing left out)
    audio_secs: float = 0.0  # seconds of speech in the audio the service produced for it
    cut: bool = False  # a barge-in cut it: its ratio is not the bot's speaking rate


@dataclass(frozen=True)
class Delta:
    """A delta of a service's reply: which response, and the characters before it in that response."""

    response: int
    chars_before: int


def speech_secs(pcm: bytes, sample_rate: int, num_channels: int = 1) -> float:
    """Seconds of speech in 16-bit PCM: its 10 ms blocks whose peak reaches :data:`SPEECH_PEAK`.

    A last partial block counts by its length. Channels are not told apart
    (the services speak mono).
    """
    if not pcm or sample_rate <= 0:
        return 0.0
    a = np.frombuffer(pcm, dtype="<i2", count=len(pcm) // 2)
    channels = max(1, int(num_channels or 1))
    blk = max(1, int(sample_rate * BLOCK_SECS)) * channels
    full = len(a) // blk * blk
    voiced = 0.0
    if full:
        blocks = a[:full].reshape(-1, blk)
        # max and -min, not abs: abs(-32768) overflows int16.
        peaks = np.maximum(blocks.max(axis=1).astype(np.int32), -blocks.min(axis=1).astype(np.int32))
        voiced = float(np.count_nonzero(peaks >= SPEECH_PEAK)) * BLOCK_SECS
    if full < len(a):
        rest = a[full:].astype(np.int32)
        if max(int(rest.max()), -int(rest.min())) >= SPEECH_PEAK:
            voiced += (len(a) - full) / channels / sample_rate
    return voiced


#: What ends a sentence when a capital follows without a space.
_SENTENCE_ENDS = ".!?…"


def starts_utterance(before: str, text: str) -> bool:
    """``text`` (a delta) begins a new utterance joined to ``before`` with no space between."""
    if not before or not text or before[-1].isspace() or text[0].isspace():
        return False
    first, last = text[0], before[-1]
    if not (first.isalpha() and first.isupper()):
        return False
    if last in _SENTENCE_ENDS:
        # "U.S." + "A.": a capital before the dot is an abbreviation's letter.
        return not (last == "." and len(before) >= 2 and before[-2].isupper())
    return unicodedata.category(last) == "So"  # an emoji or other pictograph


class ServiceOutput:
    """The text and audio a speech-to-speech service produced, per response, as it pushed them."""

    def __init__(self) -> None:
        self._responses: OrderedDict[int, Response] = OrderedDict()
        self._deltas: OrderedDict[int, Delta] = OrderedDict()
        self._current = 0
        self.active = False

    def response_started(self) -> None:
        resp = self._responses.get(self._current)
        if resp is not None and (resp.chars or resp.audio_secs):
            self._current += 1

    def _now(self) -> Response:
        resp = self._responses.get(self._current)
        if resp is None:
            resp = self._responses[self._current] = Response()
            while len(self._responses) > MAX_RESPONSES:
                self._responses.popitem(last=False)
        return resp

    def text(self, frame_id: int, text: Any) -> None:
        self.active = True
        resp = self._now()
        self._deltas[frame_id] = Delta(self._current, resp.chars)
        resp.chars += len("".join(clean_text(text).split()))
        while len(self._deltas) > MAX_DELTAS:
            self._deltas.popitem(last=False)

    def audio(self, pcm: bytes, sample_rate: int, num_channels: int = 1) -> None:
        if self.active:
            secs = speech_secs(pcm, sample_rate, num_channels)
            if secs:
                self._now().audio_secs += secs

    def delta(self, frame_id: int) -> Optional[Delta]:
        return self._deltas.get(frame_id)

    def response(self, index: int) -> Optional[Response]:
        return self._responses.get(index)

    def speaking_rate(self, index: int) -> Optional[float]:
        """Characters per second of speech for response ``index`` (see the module docstring)."""
        chars = secs = 0.0
        for i, r in self._responses.items():
            if i < index and not r.cut and r.chars > 0 and r.audio_secs > 0:
                chars += r.chars
                secs += r.audio_secs
        if secs > 0:
            return chars / secs
        own = self._responses.get(index)
        if own is not None and own.chars > 0 and own.audio_secs > 0:
            return own.chars / own.audio_secs
        return None


def heard_count(deltas: list[Delta], played_secs: float, rate: Optional[float]) -> Optional[int]:
    """How many of a response's released ``deltas`` (in order) were heard; None if the rule cannot say.

    ``rate``: characters per second of speech; ``played_secs``: seconds of
    the response's speech that were played.
    """
    if rate is None or rate <= 0 or played_secs < 0:
        return None
    budget = played_secs * rate
    for n, d in enumerate(deltas):
        if d.chars_before >= budget:
            return n
    return len(deltas)
