"""What the recorder does with each frame it sees: audio onto the tracks, hints to the session.

Inline and synchronous, O(1) per frame. The capture owns the recording's
timeline ("sample 0" and every position after it) and the chunk numbering;
it reports to a :class:`CaptureSink` (the call's
:class:`~pipecat_roark.session.CallSession`) with named methods:

- speaking frames become *hints*: the pipeline time, where the side's track
  stood when the frame passed (``head``), and the best estimate of the edge
  (``est``: the head minus a delay the frame declares, e.g. a VAD's
  ``start_secs``). The session resolves them on the recording later, once
  the audio after them is recorded (:mod:`pipecat_roark.edges`);
- the words the caller heard (the output transport releases a
  ``TTSTextFrame`` right before the recorder, once its audio has played);
- chunks, numbered in recording order, and the end.
"""

from __future__ import annotations

import math
import time
from typing import Any, Optional, Protocol

import numpy as np
from loguru import logger
from pipecat.audio.utils import create_stream_resampler
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    CancelFrame,
    EndFrame,
    Frame,
    InterruptionFrame,
    StartFrame,
    LLMFullResponseStartFrame,
    StopFrame,
    TTSTextFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)

from ._compat import start_field
from .config import DEFAULT_CHUNK_BYTES
from .edges import FORWARD, NEAR
from .text import clean_text
from .timeline import BOT, USER, Timeline
from .tracks import Tracks

#: Frames that matter to the capture besides audio; one isinstance check
#: rejects everything else.
EVENT_FRAMES = (
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    TTSTextFrame,
    LLMFullResponseStartFrame,
    InterruptionFrame,
    EndFrame,
    CancelFrame,
    StopFrame,
)
END_FRAMES = (EndFrame, CancelFrame, StopFrame)
#: Frames in error after which the capture gives up (and says so once).
MAX_ERRORS = 50
#: A VAD frame this much older than the ruling on the turn is not about it.
VAD_PAIRING_NS = 5_000_000_000
#: Audio frames (of either side) held before they are written to the tracks:
#: ~0.3 s of a call with 20 ms frames. Writing them in one go costs a
#: fraction of doing it frame by frame in the pipeline's task; anything that
#: reads the recording (an event frame, a position, an edge search) writes
#: what is held first, so nothing is read stale.
BATCH_FRAMES = 32

Chunk = tuple[int, bytes, bytes, bytes]  # (index, stereo, user, bot)


class CaptureSink(Protocol):
    """What the capture reports to (:class:`~pipecat_roark.session.CallSession`)."""

    def start(self, t_ns: int, wall_origin: float, sample_rate: Optional[int] = None) -> None: ...
    def attach_recording(self, timeline: Optional[Timeline], position_at: Any, health: Any) -> None: ...
    def recording_started(self, t_ns: int) -> None: ...
    def chunk(self, index: int, data: bytes, sample_rate: Optional[int] = None,
              num_channels: Optional[int] = None) -> None: ...
    def audio_advanced(self) -> None: ...
    def user_started(self, t_ns: int, head: Optional[int] = None, est: Optional[int] = None,
                     prefer: str = FORWARD) -> None: ...
    def user_stopped(self, t_ns: int, head: Optional[int] = None, est: Optional[int] = None) -> None: ...
    def bot_started(self, t_ns: int, head: Optional[int] = None) -> None: ...
    def bot_stopped(self, t_ns: int, head: Optional[int] = None) -> None: ...
    def bot_text(self, t_ns: int, text: Any, spaced: bool = False, frame_id: Optional[int] = None,
                 head: Optional[int] = None) -> None: ...
    def interruption(self, t_ns: int, head: Optional[int] = None) -> None: ...
    def bot_response_started(self, t_ns: int, head: Optional[int] = None) -> None: ...
    def end(self, t_ns: Optional[int], reason: str, hurry: bool = False) -> bool: ...


def end_reason(frame: Any, default: str = "pipeline-finished") -> str:
    """The reason a call ended, from its end frame (its own reason wins)."""
    given = getattr(frame, "reason", None)
    if given:
        return clean_text(given, 500)
    if isinstance(frame, CancelFrame):
        return "cancelled"
    if isinstance(frame, StopFrame):
        return "stopped"
    if isinstance(frame, EndFrame):
        return "ended"
    return default


class Capture:
    """Frames in (inline, in pipeline order); hints, chunks and the end out."""

    def __init__(self, sink: Optional[CaptureSink], *, store_audio: bool, track_positions: Optional[bool] = None,
                 chunk_bytes: int = DEFAULT_CHUNK_BYTES, sample_rate: Optional[int] = None,
                 mirror: Optional[dict] = None):
        self.sink = sink
        self.store_audio = store_audio
        # Positions need the audio's levels but not the audio itself (a
        # user's own processor stores it).
        self.track_positions = store_audio if track_positions is None else track_positions
        self.chunk_bytes = chunk_bytes
        self.init_rate = sample_rate
        self.mirror = mirror  # Tracks options that mirror a user's AudioBufferProcessor
        self.tracks: Optional[Tracks] = None
        self.started = False
        self.ended = False
        self.next_chunk = 0
        self._clock: Any = None
        # The latest VAD frames (t, head, est), paired with the ruling on the turn.
        self._vad_start: Optional[tuple[int, int, int]] = None
        self._vad_stop: Optional[tuple[int, int, int]] = None
        #: Gave up after MAX_ERRORS frames it could not record (a plain
        #: attribute: read for every frame).
        self.failed = False
        self._errors = 0
        self._abp_resamplers: Any = None  # only when mirroring a user's processor
        # Audio frames not written yet: (track, pcm, rate, arrival), and the
        # chunks a read cut while writing them (handed on with the next batch).
        self._held: list[tuple[int, bytes, int, float]] = []
        self._cut: list[Chunk] = []
        self._audio_seen = False

    # -- helpers -----------------------------------------------------------

    def note_error(self, where: str, frame_type: str) -> None:
        """A frame the capture could not handle: skip it; give up only if it keeps happening."""
        self._errors += 1
        if self._errors == 1:
            logger.opt(exception=True).error(f"{where}: skipped a {frame_type} it could not record; the call continues")
        if self._errors >= MAX_ERRORS:
            self.failed = True
            logger.error(f"{where}: {self._errors} frames could not be recorded; recording stopped, the call continues")

    @property
    def holding(self) -> bool:
        """Audio frames received but not written to the tracks yet."""
        return bool(self._held)

    def now_ns(self) -> Optional[int]:
        """The pipeline clock, once the capture has seen the StartFrame."""
        try:
            return self._clock.get_time() if self._clock is not None else None
        except Exception:
            return None

    def _t(self) -> int:
        return self.now_ns() or 0

    def health(self) -> dict[str, Any]:
        """What the recording holds: its length and whether each channel carried sound."""
        tracks = self.tracks
        if tracks is None:
            return {"tracked": False, "stored": self.store_audio, "rate": None}
        self._write_held()
        tl = tracks.timeline
        block_ms = tl.block * 1000 / tl.sample_rate
        return {
            "tracked": True,
            "stored": self.store_audio,
            "rate": tl.sample_rate,
            "samples": tl.now if tracks.first_audio else 0,
            "sound_ms": [int(tl.tracks[i].voiced_blocks * block_ms) for i in (USER, BOT)],
        }

    def position_at(self, t_ns: int) -> Optional[int]:
        """Best estimate of the recording position at pipeline time ``t_ns``."""
        tracks = self.tracks
        if tracks is None:
            return None
        self._write_held()
        if not any(tracks.expected):
            return None
        # "Now" in time, counting audio received but still held for batched
        # resampling (its samples are written up to 0.5 s later).
        now_pos = max(tracks.timeline.now, int(max(tracks.expected)))
        pos = now_pos - int((self._t() - t_ns) * tracks.rate / 1e9)
        return max(0, pos)

    # -- frames ------------------------------------------------------------

    def start(self, frame: StartFrame, clock: Any) -> None:
        if self.started:
            return
        self.started = True
        self._clock = clock
        rate = self.init_rate or start_field(frame, "audio_out_sample_rate") or 24000
        if self.track_positions:
            self.tracks = Tracks(rate, self.store_audio, self.chunk_bytes, **(self.mirror or {}))
            self.tracks.timeline.sync = self._write_held
        t = self._t()
        if self.sink is not None:
            self.sink.attach_recording(self.tracks.timeline if self.tracks is not None else None,
                                       self.position_at, self.health)
            self.sink.start(t, time.time() - t / 1e9, rate if self.store_audio else None)

    def push_audio(self, frame: Any, track: int) -> list[Chunk]:
        """An audio frame through the recorder (runs for every one: kept short).

        Frames are held and written to the tracks ``BATCH_FRAMES`` at a time,
        each with its own arrival time, so the recording is the one writing
        them frame by frame would give. Returns the chunks cut meanwhile.
        """
        if self.tracks is None or self.ended:
            return []
        pcm = frame.audio
        rate = frame.sample_rate
        if len(pcm) & 1 or frame.num_channels != 1 or not pcm or not rate:
            pcm = _mono(frame)
            if not pcm:
                return []
        held = self._held
        held.append((track, pcm, rate, time.monotonic()))
        if self._audio_seen:
            return self._write_batch() if len(held) >= BATCH_FRAMES else []
        self._audio_seen = True
        if self.sink is not None:
            # Sample 0 is the start of this first frame's audio.
            self.sink.recording_started(self._t() - int(len(pcm) / 2 / rate * 1e9))
        return self._write_batch()

    def _write_batch(self) -> list[Chunk]:
        """Write what is held, resolve the edges it completes; the chunks cut since the last batch."""
        self._write_held()
        if self.sink is not None:
            self.sink.audio_advanced()
        cut, self._cut = self._cut, []
        return cut

    def _write_held(self) -> None:
        """Write the held frames to the tracks, in arrival order, cutting chunks as they fill."""
        held = self._held
        tracks = self.tracks
        if not held or tracks is None:
            return
        self._held = []  # before writing: a read made while writing finds nothing held
        tracks.append_frames(held, self._cut_chunks)

    def _cut_chunks(self) -> None:
        self._cut.extend(self._chunks(False))

    async def audio(self, frame: Any, track: int) -> list[Chunk]:
        """An audio frame seen through a user's own AudioBufferProcessor (AudioTap): frame by frame."""
        tracks = self.tracks
        if tracks is None or self.ended:
            return []
        if not tracks.mirror:
            return self.push_audio(frame, track)
        pcm = _mono(frame)
        if not pcm:
            return []
        first = not any(tracks.expected)
        # Following a user's AudioBufferProcessor: resample exactly as it
        # does (Pipecat's stream resampler, frame by frame).
        if frame.sample_rate != tracks.rate:
            if self._abp_resamplers is None:
                self._abp_resamplers = (create_stream_resampler(), create_stream_resampler())
            pcm = await self._abp_resamplers[track].resample(pcm, frame.sample_rate, tracks.rate)
        tracks.append(track, pcm, time.monotonic())
        sink = self.sink
        if sink is not None:
            if first:
                sink.recording_started(self._t() - int(len(pcm) / 2 / frame.sample_rate * 1e9))
            sink.audio_advanced()
        return self._chunks(False)

    def _chunks(self, final: bool) -> list[Chunk]:
        if self.tracks is None:
            return []
        out = []
        for stereo, user, bot in self.tracks.take_chunks(final):
            index = self.next_chunk
            self.next_chunk += 1
            if self.sink is not None:
                self.sink.chunk(index, stereo)
            out.append((index, stereo, user, bot))
        return out

    def _head(self, track: int) -> Optional[int]:
        """Where ``track`` stands on the recording (0 before the first audio: that will be sample 0)."""
        tracks = self.tracks
        if tracks is None:
            return None
        return tracks.timeline.pos(track)

    def event(self, frame: Frame) -> list[Chunk]:
        """A non-audio frame of EVENT_FRAMES. Returns chunks cut (at the end)."""
        if isinstance(frame, END_FRAMES):
            # A CancelFrame is the host tearing the call down: it is not to be kept waiting.
            return self.end(end_reason(frame), hurry=isinstance(frame, CancelFrame))
        # The frames held came before this one: written first (and the edges
        # they complete resolved) so it is placed after them.
        cut = self._write_batch() if self._held else []
        sink = self.sink
        t = self._t()
        tracks = self.tracks
        if isinstance(frame, TTSTextFrame):
            if sink is not None:
                sink.bot_text(t, frame.text, bool(getattr(frame, "includes_inter_frame_spaces", False)),
                              frame_id=frame.id, head=self._head(BOT))
            return cut
        if isinstance(frame, LLMFullResponseStartFrame):
            # In playing order (the transport passes it after the audio queued
            # before it, and before the response's words): a new response.
            if sink is not None:
                sink.bot_response_started(t, self._head(BOT))
            return cut
        if tracks is not None:
            # Positions are read now: write what the resamplers hold first
            # (a few times per turn, not per frame).
            tracks.flush_pending(USER)
            tracks.flush_pending(BOT)
        if isinstance(frame, VADUserStartedSpeakingFrame):
            head = self._head(USER)
            if head is not None:
                self._vad_start = (t, head, head - tracks.timeline.samples(_vad_delay(frame, "start_secs")))
        elif isinstance(frame, VADUserStoppedSpeakingFrame):
            head = self._head(USER)
            if head is not None:
                self._vad_stop = (t, head, head - tracks.timeline.samples(_vad_delay(frame, "stop_secs")))
        elif isinstance(frame, UserStartedSpeakingFrame):
            if tracks is not None:
                tracks.speaking[USER] = True
            if sink is not None:
                vad, self._vad_start = self._vad_start, None
                head = self._head(USER)
                if vad is not None and t - vad[0] <= VAD_PAIRING_NS:
                    # The VAD frame, corrected by its delay, is close to the sound.
                    sink.user_started(t, vad[1], vad[2], NEAR)
                else:
                    # A ruling with no VAD frame of its own (turn strategy, STT or
                    # server VAD): it may come before, with or after the sound.
                    sink.user_started(t, head, head, FORWARD)
        elif isinstance(frame, UserStoppedSpeakingFrame):
            if tracks is not None:
                tracks.speaking[USER] = False
            if sink is not None:
                vad, self._vad_stop = self._vad_stop, None
                if vad is not None and t - vad[0] <= VAD_PAIRING_NS:
                    sink.user_stopped(t, vad[1], vad[2])
                else:
                    head = self._head(USER)
                    sink.user_stopped(t, head, head)
        elif isinstance(frame, BotStartedSpeakingFrame):
            if tracks is not None:
                tracks.speaking[BOT] = True
            if sink is not None:
                sink.bot_started(t, self._head(BOT))
        elif isinstance(frame, BotStoppedSpeakingFrame):
            if tracks is not None:
                tracks.speaking[BOT] = False
            if sink is not None:
                sink.bot_stopped(t, self._head(BOT))
        elif isinstance(frame, InterruptionFrame):
            if sink is not None:
                sink.interruption(t, tracks.timeline.now if tracks is not None and tracks.first_audio else None)
        return cut

    def stop_audio(self) -> list[Chunk]:
        """Stop recording (flushing the tail) without ending the call."""
        if self.ended or self.tracks is None:
            return []
        self._write_held()
        chunks, self._cut = self._cut, []
        for track in (USER, BOT):
            self.tracks.flush_pending(track, last=True)
        chunks += self._chunks(True)
        if self.sink is not None:
            self.sink.audio_advanced()
        # Later edges have no position on a recording; the session resolves
        # what is queued at the end with what was recorded.
        self.tracks.store = False
        self.track_positions = False
        self.tracks = None
        return chunks

    def discard_audio(self) -> None:
        """Consent refused (issue 15, capture_control.py): store no more audio and forget what is held.

        Unlike :meth:`stop_audio` nothing is flushed or handed on: the tracks'
        buffers and the resamplers' pending audio are dropped as they are.
        Later speaking frames are placed by their time alone.
        """
        self.store_audio = False
        self.track_positions = False
        self._held, self._cut = [], []
        tracks, self.tracks = self.tracks, None
        if tracks is not None:
            tracks.store = False
            for buf in tracks.bufs:
                buf.clear()
            for batcher in tracks.batchers:
                batcher._pending.clear()

    def end(self, reason: str, hurry: bool = False) -> list[Chunk]:
        """Flush the tail, hand it on, then end the call. Idempotent."""
        if self.ended:
            return []
        self.ended = True
        chunks: list[Chunk] = []
        try:
            tracks = self.tracks
            if tracks is not None:
                if self._held:
                    chunks = self._write_batch()
                chunks += self._cut
                self._cut = []
                for track in (USER, BOT):
                    tracks.flush_pending(track, last=True)
                if tracks.first_audio:
                    # The transport's closing silence is played but not pushed on;
                    # keep the recording as long as the call.
                    tracks.pad_to_now(time.monotonic())
            chunks += self._chunks(True)
        finally:
            if self.sink is not None:
                self.sink.end(self.now_ns(), reason, hurry=hurry)
        return chunks


def _mono(frame: Any) -> bytes:
    """A frame's audio as whole mono s16 samples (b"" when it has none or no rate)."""
    pcm = frame.audio
    if len(pcm) % 2:
        pcm = pcm[:-1]  # a torn sample: keep the rest rather than fail
    channels = getattr(frame, "num_channels", 1) or 1
    if channels == 2 and len(pcm) >= 4:
        pcm = pcm[: len(pcm) // 4 * 4]
        # Rare: a stereo source. Record its left channel.
        pcm = np.frombuffer(pcm, dtype="<i2")[0::2].tobytes()
    if not pcm or not frame.sample_rate:
        return b""
    return pcm


def _vad_delay(frame: Any, name: str) -> float:
    """The VAD's confirmation delay on its frame, as a sane number of seconds (0 if odd)."""
    value = getattr(frame, name, 0.0)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return 0.0
    return min(max(float(value), 0.0), 10.0)
