"""What a user would check on the server side: payloads and the recording."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import numpy as np

from pipecat_roark.testing.scenario import CallerTurn, CallScript

#: A sample louder than this is sound (the ground truth, measured on the
#: uploaded recording sample by sample, independently of the recorder).
SOUND = 300
#: Pauses shorter than this inside one utterance do not split it.
MERGE_MS = 400


def recording(server_or_store, call_id: str) -> tuple[np.ndarray, int]:
    store = getattr(server_or_store, "store", server_or_store)
    rec = store.get_call(call_id)
    rate = rec.ended["recordingSampleRate"]
    assert rec.ended["recordingNumChannels"] == 2
    pcm = np.frombuffer(store.pcm(call_id), dtype="<i2")
    assert len(pcm) % 2 == 0
    return pcm.reshape(-1, 2), rate


def sound_spans(channel: np.ndarray, rate: int, merge_ms: float = MERGE_MS) -> list[tuple[float, float]]:
    """Stretches of sound in ms, pauses under ``merge_ms`` merged."""
    idx = np.flatnonzero(np.abs(channel.astype(np.int32)) > SOUND)
    if not len(idx):
        return []
    breaks = np.flatnonzero(np.diff(idx) > merge_ms * rate / 1000)
    starts = np.concatenate(([idx[0]], idx[breaks + 1]))
    ends = np.concatenate((idx[breaks], [idx[-1]]))
    return [(s * 1000 / rate, (e + 1) * 1000 / rate) for s, e in zip(starts, ends)]


@dataclass
class EdgeErrors:
    errors: list[float]
    detail: list[str]

    @property
    def median(self) -> float:
        return statistics.median(self.errors)

    @property
    def worst(self) -> float:
        return max(self.errors)


def edge_errors(turns: list[dict], pcm: np.ndarray, rate: int) -> EdgeErrors:
    """|reported - real| for every start and end of every turn, in ms.

    A turn's real extent is the union of the stretches of sound on its
    channel that it overlaps (an event-loop stall padded with silence can
    split one utterance in two); every turn must overlap some sound. Turns
    wrongly merged or split are caught by the callers' checks of the words.
    """
    spans = {"user": sound_spans(pcm[:, 0], rate), "assistant": sound_spans(pcm[:, 1], rate)}
    errors, detail = [], []
    for turn in turns:
        start, end = turn["audioOffsetMs"], turn["endAudioOffsetMs"]
        hit = [s for s in spans[turn["role"]] if min(end, s[1]) > max(start, s[0])]
        assert hit, f"turn {turn['content']!r} ({start}-{end} ms) overlaps no sound"
        real = (min(s[0] for s in hit), max(s[1] for s in hit))
        for name, got, truth in (("start", start, real[0]), ("end", end, real[1])):
            errors.append(abs(got - truth))
            detail.append(f"{turn['role']:9} {name:5} reported {got} real {truth:.0f} :: {turn['content'][:40]}")
    return EdgeErrors(errors, detail)


def short_script(**kw) -> CallScript:
    """~10 s: greeting, a question and its answer, a second question and its answer."""
    return CallScript(
        greeting="Acme support, how can I help?",
        turns=[
            CallerTurn("order_status", 2600, reply="Sure, what's the order number?"),
            CallerTurn("thanks", 7600, reply="You're welcome, goodbye!"),
        ],
        duration_ms=11000,
        **kw,
    )
