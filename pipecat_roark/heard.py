"""What the caller heard of a reply whose words ran ahead of its audio.

Speech-to-speech services (OpenAI Realtime and Live, Gemini Live, ...) send
a reply's transcript as text deltas that can run ahead of its audio, with no
word timings. The output transport releases a delta once the audio queued
before it has played, so on a barge-in it may already have released words
whose audio the cut never played. Those words are dropped by one stated rule:

    within a response, a word is heard if the characters before it are fewer
    than the characters the response speaks per second of its audio times
    the seconds of it that were played.

That is, words are taken as evenly spread over the response's audio by
their length. The service's own output gives the rate (every delta and
every audio frame it pushed for the response); the recording gives the
seconds played. A turn cut this way is flagged ``approximate`` on the wire.

Pure bookkeeping, bounded: the numbers of the latest responses only.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Optional

from .text import clean_text

#: Responses and text deltas remembered (a call's recent past is all that is asked about).
MAX_RESPONSES = 64
MAX_DELTAS = 4096


@dataclass
class Response:
    chars: int = 0  # characters of its words (spacing left out)
    audio_secs: float = 0.0


@dataclass(frozen=True)
class Delta:
    """A delta of a service's reply: which response, and the characters before it in that response."""

    response: int
    chars_before: int


class ServiceOutput:
    """The text and audio a speech-to-speech service produced, per response, as it pushed them."""

    def __init__(self) -> None:
        self._responses: OrderedDict[int, Response] = OrderedDict()
        self._deltas: OrderedDict[int, Delta] = OrderedDict()
        self._current = 0
        self.active = False

    def response_started(self) -> None:
        if self._responses.get(self._current) is not None and (
                self._responses[self._current].chars or self._responses[self._current].audio_secs):
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

    def audio(self, secs: float) -> None:
        if self.active:
            self._now().audio_secs += secs

    def delta(self, frame_id: int) -> Optional[Delta]:
        return self._deltas.get(frame_id)

    def response(self, index: int) -> Optional[Response]:
        return self._responses.get(index)


def heard_count(deltas: list[Delta], played_secs: float, response: Response) -> Optional[int]:
    """How many of a response's released ``deltas`` (in order) were heard; None if the rule cannot say."""
    if response.audio_secs <= 0 or response.chars <= 0 or played_secs < 0:
        return None
    budget = played_secs * response.chars / response.audio_secs
    for n, d in enumerate(deltas):
        if d.chars_before >= budget:
            return n
    return len(deltas)
