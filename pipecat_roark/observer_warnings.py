"""Warnings about how the observer is wired into the app: each said once per call.

A mixin of :class:`~pipecat_roark.observer.RoarkObserver`. A misplaced or
unregistered processor, Pipecat metrics turned off, a ``redact=`` rule that
raises: the call still goes on and is sent, but something the app's
developer can fix is missing from it, so it is said once, with the fix, and
never with the call's text. Kept apart from the frame path because the
recorder, the session and tracing report here too.
The observer's ``__init__`` sets the attributes declared below.
"""

from __future__ import annotations

from typing import Any

from .observer_frames import _start_flag
from .session import CallLog


class ObserverWarnings:
    """Says once per call what the app should change in its wiring."""

    _log: CallLog
    _warned: set[str]

    def _check_metrics_enabled(self, frame: Any) -> None:
        metrics, usage = _start_flag(frame, "enable_metrics"), _start_flag(frame, "enable_usage_metrics")
        if metrics is False:
            self._warn_once(
                "metrics-off",
                "Pipecat metrics are off, so Roark gets no per-service TTFB, token or character counts: "
                "pass PipelineParams(enable_metrics=True, enable_usage_metrics=True)",
            )
        elif metrics and usage is False:
            self._warn_once(
                "usage-metrics-off",
                "Pipecat usage metrics are off, so Roark gets no token or character counts: "
                "pass PipelineParams(enable_usage_metrics=True)",
            )

    # -- called by the recorder, which checks how it was wired at its start --

    def _auto_registered(self) -> None:
        self._warn_once(
            "auto-registered",
            "RoarkObserver was not registered with the pipeline, so roark.audio_processor registered it; "
            "pass it as PipelineWorker(pipeline, observers=[roark]) (PipelineParams(observers=...) is ignored on Pipecat 1.x)",
        )

    def _wiring_unverified(self) -> None:
        self._log.debug("could not check that the observer is registered with the worker")

    def _redaction_failed(self, reason: str) -> None:
        """A ``redact=`` rule failed on some text (replaced, never sent as it was). No text in the log."""
        self._warn_once(
            "redaction-failed",
            f"redaction failed ({reason}); the text it was given was sent as \"[REDACTION FAILED]\" instead. "
            "Fix the redact= rule (it must take a str and return a str without raising)",
        )

    def _warn_once(self, key: str, msg: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self._log.warning(msg)
