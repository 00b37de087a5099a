"""What the app calls on a RoarkObserver: its properties, extensions, consent, its own events, aflush.

A mixin of :class:`~pipecat_roark.observer.RoarkObserver`, kept apart from
the frame path in :mod:`pipecat_roark.observer`: these run when the app asks,
a few times per call, from the app's own code. A wrong argument is answered
there (ValueError / TypeError); anything else that fails is logged, never
raised into the app or the call.
The observer's ``__init__`` sets the attributes declared below.
"""

from __future__ import annotations

from typing import Any, Optional

from pipecat.processors.audio.audio_buffer_processor import AudioBufferProcessor

from .call_outcome import CallOutcomeExtension, check_end_status
from .capture_control import CaptureControl
from .config import Settings
from .delivery import CallDelivery
from .session import CallLog, CallSession
from .text import clean_text


class ObserverAPI:
    """The user-facing methods and properties of :class:`~pipecat_roark.observer.RoarkObserver`."""

    _call_id: str
    _settings: Settings
    _log: CallLog
    _enabled: bool
    _session: CallSession
    _delivery: CallDelivery
    _processor: AudioBufferProcessor
    _outcome: CallOutcomeExtension
    _control: Optional[CaptureControl]
    _ext_frames: tuple

    @property
    def pipecat_call_id(self) -> str:
        """The id sent with every request of this call."""
        return self._call_id

    @property
    def audio_processor(self) -> AudioBufferProcessor:
        """Put this right after ``transport.output()`` in the pipeline."""
        return self._processor

    @property
    def enabled(self) -> bool:
        return self._enabled

    @property
    def session(self) -> CallSession:
        """The call's owner (its state, edges, events and delivery)."""
        return self._session

    def add_extension(self, ext: Any) -> Any:
        """Plug a :class:`~pipecat_roark.session.CallExtension` into this call (before it starts)."""
        self._session.extensions.append(ext)
        frames = tuple(getattr(ext, "frames", ()) or ())
        if frames:
            self._ext_frames = tuple(dict.fromkeys(self._ext_frames + frames))
            self._observe_also(self._ext_frames)
        return ext

    def allow_audio(self) -> int:
        """The caller consented (``defer_audio=True``): the recording held so far, and the rest, goes to Roark.

        Returns the number of held chunks released. Call it before the call ends.
        """
        try:
            return self._control.allow_audio() if self._control is not None else 0
        except Exception:
            self._log.exception("allow_audio() failed")
            return 0

    def discard_audio(self) -> int:
        """The caller refused: every byte of this call's audio not yet sent is dropped, and no more is recorded.

        Works with or without ``defer_audio`` (without it, chunks already
        uploaded have left). call-ended then says ``audioConsent``. Returns
        the bytes freed from the consent buffer.
        """
        try:
            return self._control.discard_audio() if self._control is not None else 0
        except Exception:
            self._log.exception("discard_audio() failed")
            return 0

    @property
    def delivery_stats(self):
        return self._delivery.stats

    async def aflush(self, reason: str = "flushed", status: Optional[str] = None) -> bool:
        """Finalize the call now (idempotent). For transports that end without an EndFrame.

        ``status``: the call's ``callEndedStatus`` (one of
        :data:`pipecat_roark.outcome.END_STATUSES`; it wins over what was
        seen). The recording's tail is handed on first (to Roark and to the
        ``on_audio_data`` handlers). Returns True once call-ended has been
        delivered; waits at most ``finalize_timeout_secs``.
        """
        status = check_end_status(status)  # a wrong status fails in the caller's code
        if not self._enabled:
            return False
        reason = clean_text(reason, 500) or "flushed"  # whatever was passed: a call must still end
        self._outcome.flush(reason, status)
        try:
            await self._end_here(reason)
        except Exception:
            self._log.exception("error while flushing")
        return await self._session.wait_final(self._settings.finalize_timeout_secs)

    async def event(self, name: str, data: Optional[dict[str, Any]] = None) -> bool:
        """Put the app's own event (a transfer, a handoff, a guardrail hit...) on the call's timeline.

        Sent in call-ended's ``events`` with its offset on the recording.
        ``data``: a dict of JSON values. Raises ValueError / TypeError for a
        bad name or data; returns False when the call has already ended.
        """
        return self.event_nowait(name, data)

    def event_nowait(self, name: str, data: Optional[dict[str, Any]] = None) -> bool:
        """:meth:`event` for synchronous code (an event handler, a callback)."""
        if not self._enabled:
            self._outcome.check_event(name, data)  # the same answer to bad input, recorded or not
            return False
        return self._outcome.user_event(name, data)
