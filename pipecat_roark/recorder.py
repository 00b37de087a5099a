"""The inline part: the processor users splice right after ``transport.output()``.

It is the one place that knows the recording's own timeline, so it owns:

- "sample 0" (the first audio it stores) and the position of everything after;
- the stereo recording (left = caller, right = bot), cut into numbered
  ~256 KiB chunks in the order they are produced;
- the turn edges, measured on that timeline where the sound is;
- the words the caller heard (the output transport releases a
  ``TTSTextFrame`` right before it, only once its audio has played);
- the end of the call: an ``EndFrame`` reaches it only after the transport
  has played everything queued before it.

It does this synchronously as frames pass, in O(1) per frame, and hands the
results to a sink (the observer's call session); it never waits on the
network. It is an ``AudioBufferProcessor`` so that handlers users attach to
``on_audio_data`` / ``on_track_audio_data`` keep working as documented, but
it replaces the stock buffering with a leaner one (see ``Tracks``).

A user who brings their own ``AudioBufferProcessor`` gets the same capture
through :class:`AudioTap`, which hooks that processor instead.
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
    InputAudioRawFrame,
    InterruptionFrame,
    OutputAudioRawFrame,
    StartFrame,
    StopFrame,
    TTSTextFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.audio.audio_buffer_processor import AudioBufferProcessor
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from .config import DEFAULT_CHUNK_BYTES
from .timeline import BOT, USER
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
    InterruptionFrame,
    EndFrame,
    CancelFrame,
    StopFrame,
)
#: A bot onset not found within this much audio keeps its first estimate.
ONSET_SEARCH_SECS = 2.0
#: Frames in error after which the capture gives up (and says so once).
MAX_ERRORS = 50
#: Bot audio arriving this soon after "stopped" still belongs to the turn.
TAIL_SEARCH_SECS = 0.5


class CaptureSink(Protocol):
    """What the capture reports to (implemented by the observer's session)."""

    def capture_started(self, sample_rate: Optional[int], t_ns: int, wall_origin: float) -> None: ...
    def capture_chunk(self, index: int, data: bytes, **kw: Any) -> None: ...
    def capture_event(self, kind: str, t_ns: int, pos: Optional[int], **kw: Any) -> None: ...


class Capture:
    """Frames in (inline, in pipeline order), call events and chunks out."""

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
        self._vad_onset: Optional[tuple[int, int]] = None
        self._vad_offset: Optional[tuple[int, int]] = None
        # No VAD frame yet: user turns are ruled from the transcripts (STT
        # endpointing), after the speech, so their edges are looked up.
        self._vad_seen = False
        self._user_start: Optional[tuple[int, int]] = None
        self._bot_onset_from: Optional[int] = None
        self._bot_run_onset: Optional[int] = None  # where the bot's current stretch of speech began
        self._bot_audio_seen = 0  # bot samples received while looking for the onset
        self._bot_offset_from: Optional[tuple[int, int]] = None  # (bot pos at "stopped", end reported)
        self._failed = False
        self._errors = 0
        self._abp_resamplers: Any = None  # only when mirroring a user's processor

    # -- helpers -----------------------------------------------------------

    def note_error(self, where: str, frame_type: str) -> None:
        """A frame the capture could not handle: skip it; give up only if it keeps happening."""
        self._errors += 1
        if self._errors == 1:
            logger.opt(exception=True).error(f"{where}: skipped a {frame_type} it could not record; the call continues")
        if self._errors >= MAX_ERRORS:
            self._failed = True
            logger.error(f"{where}: {self._errors} frames could not be recorded; recording stopped, the call continues")

    def _now_ns(self) -> int:
        try:
            return self._clock.get_time() if self._clock is not None else 0
        except Exception:
            return 0

    def _at(self, pos: int, ref_pos: int, ref_t: int) -> tuple[int, int]:
        """(t_ns, pos) for a position, timed relative to a known (pos, t)."""
        rate = self.tracks.rate if self.tracks else 1
        return ref_t + int((pos - ref_pos) * 1e9 / rate), pos

    def _emit(self, kind: str, t_ns: int, pos: Optional[int], **kw: Any) -> None:
        if self.sink is not None:
            self.sink.capture_event(kind, t_ns, pos, **kw)

    def _caller_end(self, bot_pos: Optional[int]) -> Optional[int]:
        """Where the caller's speech before the bot's first sound at ``bot_pos`` ended."""
        tracks = self.tracks
        if bot_pos is None or tracks is None or not tracks.first_audio:
            return None
        return tracks.timeline.speech_end_before(USER, bot_pos)

    def health(self) -> dict[str, Any]:
        """What the recording holds: its length and whether each channel carried sound."""
        tracks = self.tracks
        if tracks is None:
            return {"tracked": False, "stored": self.store_audio, "rate": None}
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
        if tracks is None or not any(tracks.expected):
            return None
        # "Now" in time, counting audio received but still held for batched
        # resampling (its samples are written up to 0.5 s later).
        now_pos = max(tracks.timeline.now, int(max(tracks.expected)))
        pos = now_pos - int((self._now_ns() - t_ns) * tracks.rate / 1e9)
        return max(0, pos)

    # -- frames ------------------------------------------------------------

    def start(self, frame: StartFrame, clock: Any) -> None:
        if self.started:
            return
        self.started = True
        self._clock = clock
        rate = self.init_rate or getattr(frame, "audio_out_sample_rate", None) or 24000
        if self.track_positions:
            self.tracks = Tracks(rate, self.store_audio, self.chunk_bytes, **(self.mirror or {}))
        t = self._now_ns()
        if self.sink is not None:
            self.sink.capture_started(rate if self.store_audio else None, t, time.time() - t / 1e9)

    async def audio(self, frame: Any, track: int) -> list[tuple[int, bytes, bytes, bytes]]:
        tracks = self.tracks
        if tracks is None or self.ended:
            return []
        pcm = frame.audio
        if len(pcm) % 2:
            pcm = pcm[:-1]  # a torn sample: keep the rest rather than fail
        channels = getattr(frame, "num_channels", 1) or 1
        if channels == 2 and len(pcm) >= 4:
            pcm = pcm[: len(pcm) // 4 * 4]
            # Rare: a stereo source. Record its left channel.
            pcm = np.frombuffer(pcm, dtype="<i2")[0::2].tobytes()
        if not pcm or not frame.sample_rate:
            return []
        first = not any(tracks.expected)
        if tracks.mirror:
            # Following a user's AudioBufferProcessor: resample exactly as it
            # does (Pipecat's stream resampler, frame by frame).
            if frame.sample_rate != tracks.rate:
                if self._abp_resamplers is None:
                    self._abp_resamplers = (create_stream_resampler(), create_stream_resampler())
                pcm = await self._abp_resamplers[track].resample(pcm, frame.sample_rate, tracks.rate)
            tracks.append(track, pcm, time.monotonic())
        else:
            tracks.append_input(track, pcm, frame.sample_rate, time.monotonic())
        if first:
            # Sample 0 is the start of this first frame's audio.
            self._emit("recording_started", self._now_ns() - int(len(pcm) / 2 / frame.sample_rate * 1e9), 0)
        if track == BOT:
            if self._bot_onset_from is not None:
                self._bot_audio_seen += len(pcm) // 2
                self._look_for_bot_onset()
            if self._bot_offset_from is not None:
                self._look_for_bot_offset()
        return self._chunks(False)

    def _chunks(self, final: bool) -> list[tuple[int, bytes, bytes, bytes]]:
        if self.tracks is None:
            return []
        out = []
        for stereo, user, bot in self.tracks.take_chunks(final):
            index = self.next_chunk
            self.next_chunk += 1
            if self.sink is not None:
                self.sink.capture_chunk(index, stereo)
            out.append((index, stereo, user, bot))
        return out

    def _look_for_bot_onset(self) -> None:
        tl = self.tracks.timeline
        start = self._bot_onset_from
        found = tl.first_voiced_at_or_after(BOT, start)
        if found is not None:
            self._bot_run_onset = found
            self._emit("bot_onset", *self._at(found, tl.pos(BOT), self._now_ns()), user_end=self._caller_end(found))
            self._bot_onset_from = None
        elif self._bot_audio_seen > ONSET_SEARCH_SECS * tl.sample_rate:
            # Counted in audio received, not position: a stall padded with
            # silence must not end the search before the speech arrives.
            self._bot_onset_from = None

    def _look_for_bot_offset(self) -> None:
        # On an interruption the transport reports "stopped" before the last
        # frames it wrote reach us; the turn ends where that audio ends.
        tl = self.tracks.timeline
        here = tl.pos(BOT)
        if here - self._bot_offset_from[0] > TAIL_SEARCH_SECS * tl.sample_rate:
            self._bot_offset_from = None
            return
        end = tl.offset(BOT, here, before_secs=TAIL_SEARCH_SECS, after_secs=0.0)
        if end > self._bot_offset_from[1]:
            self._bot_offset_from = (self._bot_offset_from[0], end)
            self._emit("bot_offset", *self._at(end, here, self._now_ns()))

    def event(self, frame: Frame) -> list[tuple[int, bytes, bytes, bytes]]:
        """A non-audio frame of EVENT_FRAMES. Returns chunks cut (at the end)."""
        t = self._now_ns()
        tracks = self.tracks
        if tracks is not None and not isinstance(frame, TTSTextFrame):
            # Edges are looked up in the audio: write what the resamplers
            # hold first (a few times per turn, not per frame).
            tracks.flush_pending(USER)
            tracks.flush_pending(BOT)
        tl = tracks.timeline if tracks is not None and tracks.first_audio else None
        if isinstance(frame, TTSTextFrame):
            self._emit("bot_text", t, None, text=frame.text, spaced=bool(getattr(frame, "includes_inter_frame_spaces", False)))
        elif isinstance(frame, VADUserStartedSpeakingFrame):
            self._vad_seen = True
            if tl is not None:
                here = tl.pos(USER)
                est = here - tl.samples(_vad_delay(frame, "start_secs"))
                self._vad_onset = self._at(tl.onset(USER, est), here, t)
        elif isinstance(frame, VADUserStoppedSpeakingFrame):
            self._vad_seen = True
            if tl is not None:
                here = tl.pos(USER)
                est = here - tl.samples(_vad_delay(frame, "stop_secs"))
                self._vad_offset = self._at(tl.offset(USER, est), here, t)
        elif isinstance(frame, UserStartedSpeakingFrame):
            if tracks is not None:
                tracks.speaking[USER] = True
            edge: tuple[int, Optional[int]] = (t, None)
            if tl is not None:
                here = tl.pos(USER)
                if self._vad_onset is not None and (self._user_start is None or self._vad_onset[0] > self._user_start[0]):
                    edge = self._vad_onset
                elif not self._vad_seen:
                    # Turns ruled from transcripts come after the utterance
                    # (or during it): it began where its sound began.
                    start = tl.speech_start_before(USER, here)
                    edge = self._at(start if start is not None else here, here, t)
                else:  # no VAD frames: the ruling came late; look back for the sound
                    edge = self._at(tl.onset(USER, here, before_secs=1.0, after_secs=0.0), here, t)
                self._user_start = edge  # type: ignore[assignment]
            self._emit("user_started", edge[0], edge[1], stt_ruled=not self._vad_seen)
        elif isinstance(frame, UserStoppedSpeakingFrame):
            if tracks is not None:
                tracks.speaking[USER] = False
            edge = (t, None)
            if tl is not None:
                here = tl.pos(USER)
                start_t = self._user_start[0] if self._user_start else -1
                if self._vad_offset is not None and self._vad_offset[0] > start_t:
                    edge = self._vad_offset
                else:
                    back = 1.5 if self._vad_seen else 4.0  # a transcript-ruled stop comes later still
                    edge = self._at(tl.offset(USER, here, before_secs=back, after_secs=0.0), here, t)
            self._emit("user_stopped", edge[0], edge[1])
        elif isinstance(frame, BotStartedSpeakingFrame):
            if tracks is not None:
                tracks.speaking[BOT] = True
            # While the bot speaks its track is not padded up to the caller's,
            # so its next audio lands at the bot track's own end.
            pos = tl.pos(BOT) if tl is not None else None
            self._bot_offset_from = None
            self._bot_run_onset = pos
            self._emit("bot_started", t, pos, user_end=self._caller_end(pos))
            if tl is not None:
                here = tl.pos(BOT)
                # The transport may report speaking after writing the first
                # audio: a run of speech that began just now is the onset.
                onset = tl.onset(BOT, here, before_secs=0.3, after_secs=0.0)
                if onset != here:
                    self._bot_run_onset = onset
                    self._emit("bot_onset", *self._at(onset, here, t), user_end=self._caller_end(onset))
                else:
                    self._bot_onset_from = here
                    self._bot_audio_seen = 0
        elif isinstance(frame, BotStoppedSpeakingFrame):
            if tracks is not None:
                tracks.speaking[BOT] = False
            edge = (t, None)
            if tl is not None:
                here = tl.pos(BOT)
                edge = self._at(tl.offset(BOT, here, before_secs=1.0, after_secs=0.0), here, t)
            self._bot_onset_from = None
            self._emit("bot_stopped", edge[0], edge[1])
            if tl is not None:
                self._bot_offset_from = (tl.pos(BOT), edge[1])
        elif isinstance(frame, InterruptionFrame):
            caller_onset = None
            if tl is not None and tracks.speaking[BOT] and self._bot_run_onset is not None:
                # Barge-in: the caller's first sound since the bot began
                # this stretch of speech.
                caller_onset = tl.first_voiced_at_or_after(USER, self._bot_run_onset)
            self._emit("interruption", t, tl.now if tl is not None else None, caller_onset=caller_onset)
        elif isinstance(frame, (EndFrame, CancelFrame, StopFrame)):
            return self.end(frame)
        return []

    def stop_audio(self) -> list[tuple[int, bytes, bytes, bytes]]:
        """Stop recording (flushing the tail) without ending the call."""
        if self.ended or self.tracks is None:
            return []
        for track in (USER, BOT):
            self.tracks.flush_pending(track, last=True)
        chunks = self._chunks(True)
        self.tracks = None  # later edges have no position on a recording
        return chunks

    def end(self, frame: Optional[Frame] = None, reason: Optional[str] = None) -> list[tuple[int, bytes, bytes, bytes]]:
        """Flush the tail and report the end. Idempotent."""
        if self.ended:
            return []
        if self.tracks is not None:
            for track in (USER, BOT):
                self.tracks.flush_pending(track, last=True)
        if self.tracks is not None and self.tracks.first_audio:
            # The transport's closing silence is played but not pushed on;
            # keep the recording as long as the call.
            self.tracks.pad_to_now(time.monotonic())
        chunks = self._chunks(True)
        self.ended = True
        t = self._now_ns()
        pos = self.tracks.timeline.now if self.tracks is not None and self.tracks.first_audio else None
        self._emit("end", t, pos, frame=frame, reason=reason)
        return chunks


class RoarkAudioRecorder(AudioBufferProcessor):
    """The processor behind ``RoarkObserver.audio_processor``.

    Records in stereo from the ``StartFrame`` on (so a bot that speaks first
    is in the recording on every Pipecat version), reports to its observer
    inline, and fires the ``AudioBufferProcessor`` events for user handlers.
    With recording off (``capture_audio=False`` or the kill switch) it still
    passes every frame through unchanged.
    """

    def __init__(self, *, sink: Optional[CaptureSink] = None, observer: Any = None, record: bool = True,
                 sample_rate: Optional[int] = None, chunk_bytes: int = DEFAULT_CHUNK_BYTES, **kwargs: Any):
        # Direct mode: frames are handled in the pushing processor's task, with
        # no queue and task switch of our own. Everything done per frame here
        # is synchronous and short, so nothing upstream waits on us.
        kwargs.setdefault("enable_direct_mode", True)
        super().__init__(sample_rate=sample_rate, num_channels=2, buffer_size=chunk_bytes // 2, **kwargs)
        self._capture = Capture(sink, store_audio=record, chunk_bytes=chunk_bytes, sample_rate=sample_rate)
        self._roark_observer = observer
        self._record = record

    @property
    def capture(self) -> Capture:
        return self._capture

    async def setup(self, setup: Any) -> None:
        await super().setup(setup)
        _ensure_observer_registered(setup, self._roark_observer)

    async def start_recording(self) -> None:
        # Recording runs from the StartFrame on; kept so code written for
        # AudioBufferProcessor does not fail.
        return None

    async def stop_recording(self) -> None:
        # AudioBufferProcessor semantics: hand over what is buffered and stop
        # recording. The call itself goes on until its end frame.
        await self._deliver(self._capture.stop_audio())

    def has_audio(self) -> bool:
        t = self._capture.tracks
        return bool(t and (t.bufs[0] or t.bufs[1]))

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        # FrameProcessor's own bookkeeping (start, interruptions, metrics),
        # not AudioBufferProcessor's buffering.
        await FrameProcessor.process_frame(self, frame, direction)
        if direction == FrameDirection.DOWNSTREAM and not self._capture._failed:
            try:
                await self._observe(frame)
            except Exception:  # never let capture break the call
                self._capture.note_error(f"{self}", type(frame).__name__)
        await self.push_frame(frame, direction)

    async def _observe(self, frame: Frame) -> None:
        cap = self._capture
        if isinstance(frame, InputAudioRawFrame):
            await self._deliver(await cap.audio(frame, USER))
        elif isinstance(frame, OutputAudioRawFrame):
            await self._deliver(await cap.audio(frame, BOT))
        elif isinstance(frame, EVENT_FRAMES):
            await self._deliver(cap.event(frame))
        elif isinstance(frame, StartFrame):
            # 1.x sets the rate in setup(); 0.0.10x only has it on the frame.
            if not cap.init_rate:
                cap.init_rate = self._sample_rate or getattr(frame, "audio_out_sample_rate", 0) or None
            cap.start(frame, self.get_clock())
            if cap.tracks is not None:
                self._sample_rate = cap.tracks.rate
            self._recording = self._record

    async def _deliver(self, chunks: list) -> None:
        if not chunks or not self._record:
            return
        rate = self._capture.tracks.rate
        for _, stereo, user, bot in chunks:
            if _has_handlers(self, "on_audio_data"):
                await self._call_event_handler("on_audio_data", stereo, rate, 2)
            if _has_handlers(self, "on_track_audio_data"):
                await self._call_event_handler("on_track_audio_data", user, bot, rate, 2)

    async def cleanup(self) -> None:
        # StopFrame skips processors' cleanup, but where it runs (End,
        # Cancel, or a pipeline torn down without either) the tail is cut here.
        try:
            await self._deliver(self._capture.end(reason="pipeline-finished"))
        except Exception:
            logger.exception(f"{self}: error while flushing the recording")
        await super().cleanup()


def _has_handlers(proc: Any, name: str) -> bool:
    handler = getattr(proc, "_event_handlers", {}).get(name)
    return bool(handler is not None and getattr(handler, "handlers", None))


def _ensure_observer_registered(setup: Any, observer: Any) -> None:
    """Register the Roark observer with the worker if the user did not.

    Pipecat 1.x silently ignores ``PipelineParams(observers=...)``; a recorder
    whose observer is not registered would upload audio for a call Roark never
    hears of. The worker's observer proxy is reachable from the processor
    setup, so the observer can be added there, before any frame flows.
    """
    if observer is None:
        return
    proxy = getattr(setup, "observer", None)
    registered = getattr(proxy, "_observers", None)
    if proxy is None or not isinstance(registered, list):
        observer._wiring_unverified()
        return
    if observer in registered:
        return
    try:
        proxy.add_observer(observer)
        observer._auto_registered()
    except Exception:
        observer._wiring_unverified()


class AudioTap:
    """Capture through a user's own ``AudioBufferProcessor``.

    The user's processor keeps recording exactly as they configured it (it is
    never reset); chunks come from its ``on_audio_data`` event, numbered in
    the order the events are produced. Turn edges come from a mirror of its
    timeline fed with the same frames, so they are as exact as the mirror of
    its alignment rules (see README).
    """

    def __init__(self, processor: AudioBufferProcessor, sink: Optional[CaptureSink], observer: Any, record: bool):
        self.processor = processor
        self._record = record
        self._observer = observer
        mirror = {
            "mirror": True,
            "gap_fill": hasattr(processor, "_fill_buffer_silence_gap"),  # Pipecat >= 1.3
            "mirror_flush_samples": max(0, int(getattr(processor, "_buffer_size", 0) or 0) // 2),
        }
        self._capture = Capture(sink, store_audio=False, track_positions=record and sink is not None,
                                sample_rate=getattr(processor, "_init_sample_rate", None), mirror=mirror)
        self._sink = sink
        self._original = processor.process_frame
        self._original_setup = processor.setup
        processor.process_frame = self._process_frame  # type: ignore[method-assign]
        processor.setup = self._setup  # type: ignore[method-assign]
        if record and sink is not None:
            processor.add_event_handler("on_audio_data", self._on_audio_data)

    @property
    def capture(self) -> Capture:
        return self._capture

    async def _setup(self, setup: Any) -> None:
        await self._original_setup(setup)
        _ensure_observer_registered(setup, self._observer)

    async def _process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        cap = self._capture
        proc = self.processor
        if direction == FrameDirection.DOWNSTREAM and isinstance(frame, StartFrame):
            await self._original(frame, direction)
            try:
                if self._record and not getattr(proc, "_recording", True):
                    await proc.start_recording()
                cap.init_rate = getattr(proc, "_sample_rate", None) or cap.init_rate
                cap.start(frame, proc.get_clock())
            except Exception:
                logger.exception("pipecat-roark: could not start capture on your AudioBufferProcessor")
            return
        if direction == FrameDirection.DOWNSTREAM and not cap._failed:
            try:
                if isinstance(frame, InputAudioRawFrame):
                    await cap.audio(frame, USER)
                elif isinstance(frame, OutputAudioRawFrame):
                    await cap.audio(frame, BOT)
                elif isinstance(frame, EVENT_FRAMES) and not isinstance(frame, (EndFrame, CancelFrame, StopFrame)):
                    cap.event(frame)
            except Exception:
                cap.note_error("pipecat-roark tap", type(frame).__name__)
        await self._original(frame, direction)
        if direction == FrameDirection.DOWNSTREAM and isinstance(frame, (EndFrame, CancelFrame, StopFrame)):
            # The user's processor emitted its tail (as a task) while handling
            # the frame; the end is reported after it.
            cap.end(frame)

    async def _on_audio_data(self, processor: Any, audio: bytes, sample_rate: int, num_channels: int) -> None:
        # Handlers run as tasks started in the order the events fired; take
        # the index before the first await so numbering follows production.
        index = self._capture.next_chunk
        self._capture.next_chunk += 1
        if self._sink is not None and audio:
            self._sink.capture_chunk(index, bytes(audio), sample_rate=sample_rate, num_channels=num_channels)


def _vad_delay(frame: Any, name: str) -> float:
    """The VAD's confirmation delay on its frame, as a sane number of seconds (0 if odd)."""
    value = getattr(frame, name, 0.0)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return 0.0
    return min(max(float(value), 0.0), 10.0)
