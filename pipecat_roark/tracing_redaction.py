"""``redact=`` applied to a traced call's spans, as the exporter sends them.

The rules themselves (:class:`~pipecat_roark.redaction.Redactor`) are pure
and know nothing of OpenTelemetry; this module is only where they meet a
finished SDK span: its string attributes, its events' attributes and its
status message. Kept apart from the exporter (:mod:`pipecat_roark.tracing_export`)
so that what is redacted, and what is left alone, can be read in one place.
OpenTelemetry is imported only when a span is redacted.
"""

from __future__ import annotations

from typing import Any

from .tracing_routing import CONVERSATION_ID_ATTR

#: Attributes that identify, never carry words: left as they are (routing and linking depend on them).
_UNREDACTED_ATTRIBUTES = frozenset({CONVERSATION_ID_ATTR, "pipecat_roark.link"})


class _RedactedSpan:
    """A finished span as the exporter sends it: the SDK's span, with its text redacted.

    The SDK's own span (which the app never sees: it is the call's) is left
    untouched; the OTLP encoder reads everything else through to it.
    """

    __slots__ = ("_span", "attributes", "events", "status")

    def __init__(self, span: Any, attributes: Any, events: Any, status: Any):
        self._span = span
        self.attributes = attributes
        self.events = events
        self.status = status

    def __getattr__(self, name: str) -> Any:
        return getattr(self._span, name)


def _redact_attributes(attributes: Any, redactor: Any, on_failure: Any) -> Any:
    if not attributes:
        return attributes
    return {k: v if k in _UNREDACTED_ATTRIBUTES else redactor.attribute(v, on_failure) for k, v in attributes.items()}


def _redacted_span(span: Any, redactor: Any, on_failure: Any) -> _RedactedSpan:
    """``redact=`` applied to a span's string attributes, its events' attributes and its status message."""
    from opentelemetry.sdk.trace import Event
    from opentelemetry.trace import Status

    events = tuple(
        Event(e.name, _redact_attributes(e.attributes, redactor, on_failure), e.timestamp) for e in (span.events or ())
    )
    status = span.status
    if status is not None and status.description:
        status = Status(status.status_code, redactor.text(status.description, on_failure))
    return _RedactedSpan(span, _redact_attributes(span.attributes, redactor, on_failure), events, status)
