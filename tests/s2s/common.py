"""Shared by the speech-to-speech call tests: run one call, read what Roark got, find the truth.

Importable only on Pipecat 1.x.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import pytest

from pipecat_roark import RoarkObserver
from pipecat_roark.devserver.server import DevServer
from pipecat_roark.testing.realtime.call import RealtimeCallResult, run_openai_realtime_call
from tests.integration.helpers import sound_spans
from tests.s2s import scripts
from tests.s2s.truth import Placed, place_response

API_KEY = "rk_test_s2s_local"


@dataclass
class Outcome:
    call: "RealtimeCallResult"
    call_id: str
    ended: Optional[dict[str, Any]]
    problems: list[str]
    events: list[str]
    pcm: Optional[np.ndarray]
    rate: Optional[int]

    @property
    def turns(self) -> list[dict[str, Any]]:
        return (self.ended or {}).get("transcript") or []

    def role(self, role: str) -> list[dict[str, Any]]:
        return [t for t in self.turns if t["role"] == role]


async def run(data_dir, service: str, fake_options=None, script=None) -> Outcome:
    async with DevServer(data_dir=data_dir, port=0, api_key=API_KEY) as server:
        roark = RoarkObserver(agent_id="s2s-openai-realtime", api_key=API_KEY, base_url=server.base_url)
        call = await run_openai_realtime_call(
            script or scripts.SCRIPT, scripts.timeline(), observers=[roark], audio_processor=roark.audio_processor,
            tools=scripts.TOOLS, tool_handlers={"lookup_order": scripts.lookup_order}, service=service,
            fake_options=fake_options,
        )
        rec = server.store.get_call(roark.pipecat_call_id)
        pcm = rate = None
        if rec is not None and rec.ended and rec.ended.get("recordingNumChannels") == 2:
            rate = rec.ended["recordingSampleRate"]
            pcm = np.frombuffer(server.store.pcm(roark.pipecat_call_id), dtype="<i2").reshape(-1, 2)
        return Outcome(call, roark.pipecat_call_id, rec.ended if rec else None,
                       list(rec.problems) if rec else ["call not received"],
                       [e.get("event") for e in rec.events] if rec else [], pcm, rate)


def run_once(tmp_path_factory, service: str, fake_options=None, script=None) -> Outcome:
    """One call in a fresh event loop, private spool, clean Roark environment (for a module fixture)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ROARK_SPOOL_DIR", str(tmp_path_factory.mktemp("spool")))
        for name in ("ROARK_API_KEY", "ROARK_BASE_URL", "ROARK_INTEGRATION_ID", "ROARK_OBSERVABILITY_ENABLED"):
            mp.delenv(name, raising=False)
        return asyncio.run(run(tmp_path_factory.mktemp("roark"), service, fake_options, script))


# --------------------------------------------------------------------------- #
# Truth, from the fake and the recording
# --------------------------------------------------------------------------- #


def responses(o: Outcome):
    return {(r.kind, r.utterance): r for r in o.call.truth.responses}


def placed_responses(o: Outcome) -> dict[tuple, Placed]:
    """Each response's audio found verbatim on the bot channel, in order."""
    assert o.pcm is not None, "no recording"
    right = o.pcm[:, 1]
    out, cursor = {}, 0
    for r in o.call.truth.responses:
        if r.sent_samples == 0:
            continue
        p = place_response(right, r.audio[: r.sent_samples], cursor)
        assert p is not None, f"{r.kind} {r.utterance}: its audio is not on the bot channel"
        out[(r.kind, r.utterance)] = p
        cursor = p.start + p.played
    return out


def cut_played(o: Outcome) -> tuple[Placed, int]:
    """The cut reply on the recording, and how much of it was played (samples).

    Played = up to where the bot's sound stopped (the end of the bot-channel
    sound span its audio starts in): the audio at the cut can be quiet, so
    the verbatim prefix alone can end a little early.
    """
    placed = placed_responses(o)[("after_tool", 1)]
    start_ms = placed.start * 1000 / o.rate
    span = [s for s in sound_spans(o.pcm[:, 1], o.rate) if s[0] <= start_ms + 1 and s[1] > start_ms]
    assert span, "the cut reply is not on the bot channel"
    return placed, int(round(span[0][1] * o.rate / 1000)) - placed.start


def cut_truth(o: Outcome) -> tuple[str, int]:
    """The cut reply's heard words (per the recording) and its played samples."""
    r = responses(o)[("after_tool", 1)]
    _, played = cut_played(o)
    # The truth must be unambiguous: no word starts within 60 ms of the cut.
    margin = min(abs(off - played) for off in r.offsets)
    assert margin > 0.06 * o.rate, f"harness: the cut falls {margin * 1000 / o.rate:.0f} ms from a word start"
    return r.heard_text(played), played


def collapse(text: str) -> str:
    return " ".join(text.split())


def expected_user_texts(script=None) -> list[str]:
    return [h.transcript for h in (script or scripts.SCRIPT).heard]


def caller_spans(o: Outcome) -> list[tuple[float, float]]:
    spans = sound_spans(o.pcm[:, 0], o.rate)
    assert len(spans) == 3, spans
    return spans


def assistant_at(o: Outcome, start_ms: float) -> Optional[dict[str, Any]]:
    """The assistant turn whose reported start is within 50 ms of ``start_ms``."""
    hits = [t for t in o.role("assistant") if abs(t.get("audioOffsetMs", -1e9) - start_ms) <= 50]
    return hits[0] if hits else None


ACCEPTED_SPLITS = "the tool announcement and its follow-up: one turn or two"


def expected_assistant(o: Outcome) -> list[list[str]]:
    heard, _ = cut_truth(o)
    g = scripts
    head, tail = [collapse(g.GREETING.text), collapse(g.ASK_NUMBER.text)], [collapse(g.GOODBYE.text)]
    return [head + [collapse(g.ONE_MOMENT.text + " " + heard)] + tail,
            head + [collapse(g.ONE_MOMENT.text), collapse(heard)] + tail]


