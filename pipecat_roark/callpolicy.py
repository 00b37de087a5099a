"""One call's capture policy at run time: the one object the call owner consults.

Brings together, for one call, what :mod:`policy` and :mod:`calllogs` decide:
whether the call is sampled in, whether audio is recorded and which chunks
may be sent (the consent gate), the call's log collector, and what the
call-ended payload may carry. No I/O, no Pipecat; the owner does the sending.
"""

from __future__ import annotations

from typing import Any, Optional

from .calllogs import CallLogCollector
from .policy import SAMPLING_COUNTS, AudioConsentGate, CapturePolicy, SamplingCounts, filter_ended


class CallPolicy:
    """Decisions for one call. Create it once the call id is known (observer ``__init__``)."""

    def __init__(
        self,
        call_id: str,
        *,
        capture: CapturePolicy,
        sampling: float = 1.0,
        is_test: bool = False,
        defer_audio: bool = False,
        defer_audio_max_bytes: Optional[int] = None,
        log_level: str = "WARNING",
        counts: SamplingCounts = SAMPLING_COUNTS,
    ):
        self.call_id = call_id
        self.capture = capture
        #: False: the call is left out by sampling; the owner does nothing at all.
        self.shipped = counts.decide(call_id, sampling, is_test)
        self.gate: Optional[AudioConsentGate] = None
        if defer_audio and capture.audio and self.shipped:
            self.gate = AudioConsentGate(defer_audio_max_bytes) if defer_audio_max_bytes else AudioConsentGate()
        self.logs: Optional[CallLogCollector] = None
        if capture.logs and self.shipped:
            self.logs = CallLogCollector(call_id, level=log_level)
            # Here, in the task creating the observer: the worker's tasks are created later, from it.
            self.logs.bind()

    @classmethod
    def from_settings(cls, call_id: str, settings: Any, **kw: Any) -> "CallPolicy":
        return cls(
            call_id, capture=settings.capture, sampling=settings.sampling, is_test=settings.is_test,
            defer_audio=settings.defer_audio, defer_audio_max_bytes=settings.defer_audio_max_bytes,
            log_level=settings.log_level, **kw,
        )

    # -- audio -------------------------------------------------------------------

    @property
    def record_audio(self) -> bool:
        """Should the recorder store audio now? (False: off, sampled out, discarded, or cut at the bound.)"""
        if not (self.shipped and self.capture.audio):
            return False
        return self.gate is None or self.gate.recording_wanted

    def chunk(self, index: int, data: bytes) -> list[tuple[int, bytes]]:
        """A recorder chunk -> the chunks to hand to delivery now (none while consent is pending)."""
        if not self.record_audio and self.gate is None:
            return []
        if self.gate is None:
            return [(index, data)]
        return self.gate.hold(index, data)

    def allow_audio(self) -> list[tuple[int, bytes]]:
        """``roark.allow_audio()``: the held chunks, in order, to hand to delivery."""
        return self.gate.allow() if self.gate is not None else []

    def discard_audio(self) -> int:
        """``roark.discard_audio()``: bytes freed. Without ``defer_audio`` it still stops the recording."""
        if self.gate is None:
            self.gate = AudioConsentGate()  # so later chunks are dropped and the payload says so
        return self.gate.discard()

    # -- the end -----------------------------------------------------------------

    def close(self) -> None:
        """At the end of the call (idempotent): the log collector stops and leaves the shared sink.

        A recording still waiting for consent is dropped here: it is never to be sent.
        """
        if self.gate is not None and self.gate.state == "pending":
            self.gate.drop_held()
        if self.logs is not None:
            self.logs.close()

    def ended_extra(self, recording_monotonic_ns: Optional[int] = None) -> dict[str, Any]:
        """Fields for ``Call.build_ended(extra=...)`` (snake_case, as CallEnded takes them)."""
        extra: dict[str, Any] = {}
        if self.gate is not None:
            extra["audio_consent"] = self.gate.consent_field()
        if self.logs is not None:
            records = self.logs.records(recording_monotonic_ns)
            if records:
                extra["logs"] = records
            if self.logs.dropped:
                extra["logs_dropped"] = self.logs.dropped
        return extra

    def apply(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The call-ended wire payload without what the policy turned off (see policy.filter_ended)."""
        return filter_ended(payload, self.capture)

    def audio_counts(self) -> dict[str, int]:
        """For the recording's health: what the gate dropped at its memory bound."""
        g = self.gate
        if g is None:
            return {}
        return {"consentDroppedChunks": g.dropped_chunks, "consentDroppedBytes": g.dropped_bytes,
                "consentHeldBytes": g.held_bytes}
