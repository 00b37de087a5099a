"""The inline part: the processor users splice right after ``transport.output()``.

Placed there it sees the bot audio the transport actually wrote, the caller's
audio passed through, the words the transport released as they were played,
and the end frame once everything queued before it has played. What it does
with each frame is :class:`~pipecat_roark.capture.Capture`'s job; this module
is the Pipecat side: a processor that never holds a frame up, and the
``AudioBufferProcessor`` events users attach to (``on_audio_data`` /
``on_track_audio_data``), fired with every chunk, the tail included.

A user who brings their own ``AudioBufferProcessor`` gets the same capture
through :class:`AudioTap`, which hooks that processor instead.
"""

from __future__ import annotations

from typing import Any, Optional

from loguru import logger
from pipecat.frames.frames import Frame, InputAudioRawFrame, OutputAudioRawFrame, StartFrame
from pipecat.processors.audio.audio_buffer_processor import AudioBufferProcessor
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from ._compat import start_field
from .capture import END_FRAMES, EVENT_FRAMES, Capture, CaptureSink, end_reason
from .config import DEFAULT_CHUNK_BYTES
from .timeline import BOT, USER


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
        return bool(t and (t.bufs[0] or t.bufs[1] or self._capture.holding))

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        # FrameProcessor's own bookkeeping (start, interruptions, metrics),
        # not AudioBufferProcessor's buffering.
        await FrameProcessor.process_frame(self, frame, direction)
        cap = self._capture
        if direction == FrameDirection.DOWNSTREAM and not cap.failed:
            try:
                # Audio, most frames of a call, is handled here without a
                # coroutine of its own (held and written in batches).
                if isinstance(frame, InputAudioRawFrame):
                    chunks = cap.push_audio(frame, USER)
                elif isinstance(frame, OutputAudioRawFrame):
                    chunks = cap.push_audio(frame, BOT)
                else:
                    chunks = None
                    await self._observe(frame)
                if chunks:
                    await self._deliver(chunks)
            except Exception:  # never let capture break the call
                cap.note_error(f"{self}", type(frame).__name__)
        await self.push_frame(frame, direction)

    async def _observe(self, frame: Frame) -> None:
        cap = self._capture
        if isinstance(frame, EVENT_FRAMES):
            await self._deliver(cap.event(frame))
        elif isinstance(frame, StartFrame):
            # 1.x sets the rate in setup(); 0.0.10x only has it on the frame.
            if not cap.init_rate:
                cap.init_rate = self._sample_rate or start_field(frame, "audio_out_sample_rate") or None
            cap.start(frame, self.get_clock())
            if cap.tracks is not None:
                self._sample_rate = cap.tracks.rate
            self._recording = self._record

    async def _deliver(self, chunks: list) -> None:
        if not chunks or not self._record:
            return
        rate = self._sample_rate
        for _, stereo, user, bot in chunks:
            if _has_handlers(self, "on_audio_data"):
                await self._call_event_handler("on_audio_data", stereo, rate, 2)
            if _has_handlers(self, "on_track_audio_data"):
                await self._call_event_handler("on_track_audio_data", user, bot, rate, 2)

    async def finish(self, reason: str) -> None:
        """End the call here (idempotent): the tail goes to Roark and to the user's handlers first."""
        try:
            await self._deliver(self._capture.end(reason))
        except Exception:
            logger.exception(f"{self}: error while flushing the recording")

    async def cleanup(self) -> None:
        # StopFrame skips processors' cleanup, but where it runs (End,
        # Cancel, or a pipeline torn down without either) the tail is cut here.
        await self.finish("pipeline-finished")
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
        if direction == FrameDirection.DOWNSTREAM and not cap.failed:
            try:
                if isinstance(frame, InputAudioRawFrame):
                    await cap.audio(frame, USER)
                elif isinstance(frame, OutputAudioRawFrame):
                    await cap.audio(frame, BOT)
                elif isinstance(frame, EVENT_FRAMES) and not isinstance(frame, END_FRAMES):
                    cap.event(frame)
            except Exception:
                cap.note_error("pipecat-roark tap", type(frame).__name__)
        await self._original(frame, direction)
        if direction == FrameDirection.DOWNSTREAM and isinstance(frame, END_FRAMES):
            # The user's processor emitted its tail (as a task) while handling
            # the frame; the end is reported after it.
            cap.end(end_reason(frame))

    async def finish(self, reason: str) -> None:
        """End the call (idempotent); the user's processor keeps its own buffer."""
        self._capture.end(reason)

    async def _on_audio_data(self, processor: Any, audio: bytes, sample_rate: int, num_channels: int) -> None:
        # Handlers run as tasks started in the order the events fired; take
        # the index before the first await so numbering follows production.
        index = self._capture.next_chunk
        self._capture.next_chunk += 1
        if self._sink is not None and audio:
            self._sink.chunk(index, bytes(audio), sample_rate=sample_rate, num_channels=num_channels)
