"""An offline transport that behaves like a real one, in real time.

:class:`OfflineCallTransport` is a :class:`~pipecat.transports.base_transport.BaseTransport`
with an input side that "hears" a scripted caller and an output side that
"plays" the bot's audio like a sound device:

- :class:`CallerInputTransport` pushes the caller's audio
  (:class:`~pipecat_roark.testing.audio.CallerTimeline`) as 20 ms
  ``InputAudioRawFrame``\\ s (``UserAudioRawFrame`` when a ``user_id`` is
  given), each due when its last sample has been "captured": frame *k* is
  pushed at ``t0 + (k + 1) * 20 ms`` on the monotonic clock. It sleeps until
  that due time rather than for a fixed period, so scheduling delays never
  accumulate. Sample *i* of the stream happens at ``t0 + i / sample_rate``;
  the timeline knows where every clip's speech starts and ends, so that is
  the ground truth for where the caller spoke.
- :class:`DeviceOutputTransport` accepts every audio chunk and returns from
  ``write_audio_frame`` once the chunk has finished playing on a simulated
  device clock. Pipecat's base output transport writes its 40 ms chunks as
  fast as ``write_audio_frame`` returns and has no pacing of its own (on
  0.0.108 and 1.14), so pacing here does not double up. Because the write
  blocks, an interruption cuts the bot off at most one chunk late, and the
  frames the transport re-pushes downstream (audio, then word frames) reach
  processors after it (e.g. an ``AudioBufferProcessor``) at playback pace.

Voice activity detection: on Pipecat 1.x input transports have no VAD; the
idiomatic place is ``LLMUserAggregatorParams(vad_analyzer=...)``, which is
also available (and preferred) on 0.0.10x. ``TransportParams.vad_analyzer``
still exists but is deprecated on 0.0.10x; :class:`OfflineCallTransport`
accepts ``vad_analyzer=`` only there.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
from loguru import logger

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    CancelFrame,
    EndFrame,
    Frame,
    InputAudioRawFrame,
    OutputAudioRawFrame,
    StartFrame,
    UserAudioRawFrame,
)
from pipecat.processors.frame_processor import FrameDirection
from pipecat.transports.base_input import BaseInputTransport
from pipecat.transports.base_output import BaseOutputTransport
from pipecat.transports.base_transport import BaseTransport, TransportParams

from pipecat_roark._compat import PIPECAT_1X, EndWorkerFrame
from pipecat_roark.testing.audio import CallerTimeline

FRAME_MS = 20


def transport_params(
    *,
    sample_rate: int = 16000,
    audio_out_sample_rate: Optional[int] = None,
    end_silence_secs: int = 2,
    vad_analyzer: Any = None,
    **overrides: Any,
) -> TransportParams:
    """TransportParams for an audio call: input at ``sample_rate``, output enabled.

    ``vad_analyzer`` is only accepted on Pipecat 0.0.10x (transport-level VAD
    is gone in 1.x; put it in ``LLMUserAggregatorParams(vad_analyzer=...)``).
    """
    kwargs: dict[str, Any] = dict(
        audio_in_enabled=True,
        audio_in_sample_rate=sample_rate,
        audio_in_channels=1,
        audio_out_enabled=True,
        audio_out_sample_rate=audio_out_sample_rate,
        audio_out_channels=1,
        audio_out_end_silence_secs=end_silence_secs,
    )
    if vad_analyzer is not None:
        if PIPECAT_1X:
            raise TypeError(
                "Pipecat 1.x input transports have no VAD: pass the analyzer as "
                "LLMUserAggregatorParams(vad_analyzer=...) instead"
            )
        kwargs["vad_analyzer"] = vad_analyzer
    kwargs.update(overrides)
    return TransportParams(**kwargs)


class CallerInputTransport(BaseInputTransport):
    """Input transport that streams a :class:`CallerTimeline` in real time.

    Args:
        timeline: The caller's audio and its ground truth.
        params: Transport parameters (``audio_in_enabled`` must be True; the
            input sample rate should match ``timeline.sample_rate``).
        user_id: When given, frames are ``UserAudioRawFrame``\\ s carrying it,
            as multi-party transports (Daily, LiveKit) send them.
        frame_ms: Audio frame length (20 ms like most transports).
        transport: The owning :class:`OfflineCallTransport`, for its events.
    """

    def __init__(
        self,
        timeline: CallerTimeline,
        params: TransportParams,
        *,
        user_id: Optional[str] = None,
        frame_ms: int = FRAME_MS,
        transport: Optional["OfflineCallTransport"] = None,
        **kwargs,
    ):
        super().__init__(params, **kwargs)
        rate = params.audio_in_sample_rate or timeline.sample_rate
        if rate != timeline.sample_rate:
            raise ValueError(
                f"audio_in_sample_rate ({rate}) must match the timeline ({timeline.sample_rate})"
            )
        self._timeline = timeline
        self._user_id = user_id
        self._frame_samples = timeline.sample_rate * frame_ms // 1000
        self._frame_secs = self._frame_samples / timeline.sample_rate
        self._owner = transport
        self._feed_task: Optional[asyncio.Task] = None
        self._stream_started = asyncio.Event()
        self.stream_t0_monotonic: Optional[float] = None
        self.stream_t0_wall: Optional[float] = None
        self.stream_t0_clock_ns: Optional[int] = None
        self.samples_sent = 0
        self.last_push_monotonic: Optional[float] = None
        self.max_lateness_secs = 0.0

    @property
    def timeline(self) -> CallerTimeline:
        return self._timeline

    @property
    def stream_started(self) -> asyncio.Event:
        """Set once the first frame's capture has begun (t0 is known)."""
        return self._stream_started

    def stream_secs_at_monotonic(self, t: float) -> float:
        """Caller-stream position (seconds) that was being captured at monotonic time ``t``."""
        assert self.stream_t0_monotonic is not None, "stream not started"
        return t - self.stream_t0_monotonic

    def stream_secs_at_wall(self, t: float) -> float:
        """Caller-stream position (seconds) that was being captured at wall time ``t``."""
        assert self.stream_t0_wall is not None, "stream not started"
        return t - self.stream_t0_wall

    def stream_secs_at_clock(self, clock_ns: int) -> float:
        """Caller-stream position (seconds) at a pipeline-clock time (``FramePushed.timestamp``)."""
        assert self.stream_t0_clock_ns is not None, "stream not started"
        return (clock_ns - self.stream_t0_clock_ns) / 1e9

    async def start(self, frame: StartFrame):
        await super().start(frame)
        await self.set_transport_ready(frame)
        if self._feed_task is None:
            self._feed_task = self.create_task(self._feed())

    async def stop(self, frame: EndFrame):
        await self._stop_feeding()
        await super().stop(frame)

    async def cancel(self, frame: CancelFrame):
        await self._stop_feeding()
        await super().cancel(frame)

    async def cleanup(self):
        await self._stop_feeding()
        await super().cleanup()

    async def _stop_feeding(self):
        if self._feed_task:
            task, self._feed_task = self._feed_task, None
            await self.cancel_task(task)
            if self._owner is not None:
                await self._owner._client_disconnected()

    def _make_frame(self, audio: bytes) -> InputAudioRawFrame:
        rate = self._timeline.sample_rate
        if self._user_id is not None:
            return UserAudioRawFrame(
                user_id=self._user_id, audio=audio, sample_rate=rate, num_channels=1
            )
        return InputAudioRawFrame(audio=audio, sample_rate=rate, num_channels=1)

    async def _feed(self):
        n = self._frame_samples
        # The clocks are read together so positions can be converted between them.
        self.stream_t0_clock_ns = self.get_clock().get_time()
        self.stream_t0_monotonic = t0 = time.monotonic()
        self.stream_t0_wall = time.time()
        self._stream_started.set()
        if self._owner is not None:
            await self._owner._client_connected()
        k = 0
        while True:
            due = t0 + (k + 1) * self._frame_secs
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                # Behind (a stalled loop): deliver the backlog at once, like a
                # socket buffer would, without dropping or re-timing audio.
                self.max_lateness_secs = max(self.max_lateness_secs, -delay)
            audio = self._timeline.render(k * n, n).astype("<i2").tobytes()
            await self.push_audio_frame(self._make_frame(audio))
            self.samples_sent += n
            self.last_push_monotonic = time.monotonic()
            k += 1


@dataclass(frozen=True)
class PlayedChunk:
    """One chunk the simulated device played: monotonic start/end and whether it was silent."""

    start: float
    end: float
    num_samples: int
    sample_rate: int
    silent: bool


class DeviceOutputTransport(BaseOutputTransport):
    """Output transport that "plays" audio in real time on a simulated device.

    ``write_audio_frame`` returns True once the chunk has played: the device
    clock advances by each chunk's duration, so consecutive chunks play
    back-to-back without drift; after an idle gap longer than
    ``gap_tolerance_secs`` the device starts again from "now".

    Args:
        params: Transport parameters (``audio_out_enabled`` must be True).
        transport: The owning :class:`OfflineCallTransport`.
        gap_tolerance_secs: Lateness of a write still treated as continuous
            playback (absorbs event-loop jitter).
        history: How many played chunks to remember in :attr:`played`.
    """

    def __init__(
        self,
        params: TransportParams,
        *,
        transport: Optional["OfflineCallTransport"] = None,
        gap_tolerance_secs: float = 0.02,
        history: int = 100_000,
        **kwargs,
    ):
        super().__init__(params, **kwargs)
        self._owner = transport
        self._gap_tolerance = gap_tolerance_secs
        self._play_until = 0.0
        self.played: deque[PlayedChunk] = deque(maxlen=history)
        self.bot_speaking = False
        self.last_audio_end_monotonic = 0.0
        self.bot_started_count = 0
        self.bot_stopped_count = 0
        self._bot_idle = asyncio.Event()
        self._bot_idle.set()

    @property
    def bot_idle(self) -> asyncio.Event:
        """Set while the bot is not speaking (between BotStopped and BotStarted)."""
        return self._bot_idle

    async def start(self, frame: StartFrame):
        await super().start(frame)
        await self.set_transport_ready(frame)

    async def write_audio_frame(self, frame: OutputAudioRawFrame) -> bool:
        bytes_per_sample = 2 * max(1, frame.num_channels)
        num_samples = len(frame.audio) // bytes_per_sample
        duration = num_samples / frame.sample_rate
        now = time.monotonic()
        if now > self._play_until + self._gap_tolerance:
            # The device ran dry (or this is the first chunk): it starts now.
            self._play_until = now
        start = self._play_until
        self._play_until += duration
        delay = self._play_until - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        silent = not np.any(np.frombuffer(frame.audio, dtype="<i2"))
        self.played.append(
            PlayedChunk(start, self._play_until, num_samples, frame.sample_rate, silent)
        )
        if not silent:
            self.last_audio_end_monotonic = self._play_until
        return True

    async def push_frame(self, frame: Frame, direction: FrameDirection = FrameDirection.DOWNSTREAM):
        # Bot speaking frames are broadcast (one copy each way): count once.
        if direction == FrameDirection.DOWNSTREAM:
            if isinstance(frame, BotStartedSpeakingFrame):
                self.bot_speaking = True
                self.bot_started_count += 1
                self._bot_idle.clear()
            elif isinstance(frame, BotStoppedSpeakingFrame):
                self.bot_speaking = False
                self.bot_stopped_count += 1
                self._bot_idle.set()
        await super().push_frame(frame, direction)

    async def end_call(self):
        """End the call gracefully from inside the pipeline, as a bot's "hang up" tool would.

        Pushes ``EndWorkerFrame`` (``EndTaskFrame`` on 0.0.10x) upstream; the
        worker then sends an ``EndFrame`` down, which this transport passes
        on once queued audio has played.
        """
        await self.push_frame(EndWorkerFrame(), FrameDirection.UPSTREAM)


class OfflineCallTransport(BaseTransport):
    """A complete offline transport: scripted caller in, simulated speaker out.

    Events (like network transports): ``on_client_connected(transport, client)``
    when the caller's audio starts, and ``on_client_disconnected(transport,
    client)`` when it stops. ``client`` is the ``user_id`` (or ``"caller"``).

    Args:
        timeline: The caller's audio.
        params: Transport parameters; defaults to :func:`transport_params`
            at the timeline's sample rate.
        user_id: Carried on every input frame as ``UserAudioRawFrame.user_id``.
        vad_analyzer: Transport-level VAD (Pipecat 0.0.10x only, deprecated
            there). Prefer ``LLMUserAggregatorParams(vad_analyzer=...)``.
        gap_tolerance_secs: See :class:`DeviceOutputTransport`.
    """

    def __init__(
        self,
        timeline: CallerTimeline,
        *,
        params: Optional[TransportParams] = None,
        user_id: Optional[str] = "caller",
        vad_analyzer: Any = None,
        gap_tolerance_secs: float = 0.02,
        name: Optional[str] = None,
        input_name: Optional[str] = None,
        output_name: Optional[str] = None,
    ):
        super().__init__(name=name, input_name=input_name, output_name=output_name)
        if params is None:
            params = transport_params(sample_rate=timeline.sample_rate, vad_analyzer=vad_analyzer)
        elif vad_analyzer is not None:
            if PIPECAT_1X:
                raise TypeError(
                    "Pipecat 1.x input transports have no VAD: pass the analyzer as "
                    "LLMUserAggregatorParams(vad_analyzer=...) instead"
                )
            params.vad_analyzer = vad_analyzer
        self._params = params
        self._timeline = timeline
        self._user_id = user_id
        self._connected = False
        self._input = CallerInputTransport(
            timeline, params, user_id=user_id, transport=self, name=self._input_name
        )
        self._output = DeviceOutputTransport(
            params, transport=self, gap_tolerance_secs=gap_tolerance_secs, name=self._output_name
        )
        self._register_event_handler("on_client_connected")
        self._register_event_handler("on_client_disconnected")

    @property
    def timeline(self) -> CallerTimeline:
        return self._timeline

    def input(self) -> CallerInputTransport:
        return self._input

    def output(self) -> DeviceOutputTransport:
        return self._output

    async def _client_connected(self):
        if not self._connected:
            self._connected = True
            await self._call_event_handler("on_client_connected", self._user_id or "caller")

    async def _client_disconnected(self):
        if self._connected:
            self._connected = False
            try:
                await self._call_event_handler("on_client_disconnected", self._user_id or "caller")
            except Exception as e:  # pragma: no cover - a handler's problem, not ours
                logger.warning(f"{self}: on_client_disconnected handler failed: {e}")
