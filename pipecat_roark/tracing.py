"""A call's Pipecat spans, sent to Roark over OTLP/HTTP, apart from the app's own tracing.

``RoarkObserver(..., trace=True)`` plus ``PipelineWorker(..., enable_tracing=True,
conversation_id=roark.pipecat_call_id)``: Pipecat makes the spans (a
``conversation`` root, ``turn`` spans, ``stt``/``llm``/``tts`` service spans),
this module gives each traced call its own OpenTelemetry ``TracerProvider``
whose resource names the call (``pipecat.call.id``, ``roark.external_id``,
``roark.skip`` for test calls) and whose batch processor exports to
``{base_url}/v1/traces`` with ``Authorization: Bearer <key>``.

Here is :class:`CallTracing`, one call's provider and its lifecycle. The
rest is kept in a module per concern:

- :mod:`pipecat_roark.tracing_routing`: how each of Pipecat's spans reaches
  its call's provider, or the app's tracer, without touching the app's
  global provider;
- :mod:`pipecat_roark.tracing_export`: the exporter (OTLP/HTTP, batched,
  retried, counted) and the call's span processor;
- :mod:`pipecat_roark.tracing_redaction`: ``redact=`` applied to spans;
- :mod:`pipecat_roark.tracing_atexit`: the last flush at interpreter exit.

When the call ends, the spans ended so far are flushed before call-ended
is built; the rest are flushed once the conversation span has ended, then
the provider is shut down, all under deadlines and in a background thread.
Nothing here raises into Pipecat.

OpenTelemetry is the optional extra ``pipecat-roark[tracing]``; this
module (and those above) imports none of it until a traced call is created.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future
from typing import Any, Optional

# CallTracing reads the export bounds and deadlines through this module's
# names (the tests shorten them here), so they are imported, not qualified.
# EXIT_FLUSH_SECS and the CONVERSATION_* names are only re-exported: their
# readers are in the modules they come from.
from .tracing_atexit import EXIT_FLUSH_SECS, _register_atexit  # noqa: F401
from .tracing_export import (
    MAX_ATTRIBUTE_CHARS,
    MAX_BATCH_SPANS,
    MAX_QUEUE_SPANS,
    REQUEST_TIMEOUT_SECS,
    RETRY_BUDGET_SECS,
    SCHEDULE_DELAY_MS,
    TRACES_PATH,
    _Counters,
    _exporter_class,
    _processor_class,
)
from .tracing_routing import (  # noqa: F401
    _ROUTER,
    CONVERSATION_ID_ATTR,
    CONVERSATION_SPAN,
    _register_pending_as_span,
)

INSTALL_HINT = 'pip install "pipecat-roark[tracing]" (in a clone of the repository: pip install -e ".[tracing]")'
#: The modules of the extra, and what each one is for.
_REQUIRED = (
    ("opentelemetry.sdk.trace", "opentelemetry-sdk"),
    ("opentelemetry.exporter.otlp.proto.common.trace_encoder", "opentelemetry-exporter-otlp-proto-common"),
)

# Resource attributes that link a call's spans to it on Roark.
ATTR_CALL_ID = "pipecat.call.id"
ATTR_EXTERNAL_ID = "roark.external_id"
ATTR_SKIP = "roark.skip"
ATTR_AGENT_ID = "roark.agent.id"
ATTR_INTEGRATION_ID = "roark.integration.id"

#: After the conversation span ends, how long spans still open may take to end.
STRAGGLER_GRACE_SECS = 1.0
#: After the observer's cleanup, how long to wait for the conversation span to end.
ROOT_WAIT_SECS = 5.0
#: Upper bound of the final flush (also capped by finalize_timeout_secs).
FINAL_FLUSH_SECS = 5.0
#: The flush started as the call ends, before call-ended is built.
EARLY_FLUSH_SECS = 2.0


def missing_extra() -> Optional[str]:
    """None when the tracing extra is importable; otherwise what is missing and how to get it."""
    missing = []
    for module, dist in _REQUIRED:
        try:
            __import__(module)
        except ImportError:
            missing.append(dist)
    if not missing:
        return None
    return f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not installed: {INSTALL_HINT}"


def _hex_trace_id(trace_id: int) -> str:
    return format(trace_id, "032x")


class CallTracing:
    """The OpenTelemetry side of one Roark call: its provider, exporter and lifecycle.

    Create it with :meth:`create` (None when tracing cannot run); the
    observer calls :meth:`call_ending` when the call ends, reads
    :meth:`ended_fields` into call-ended, and calls :meth:`call_finished`
    at teardown. Everything else is driven by the spans themselves.
    """

    def __init__(self, call_id: str, settings: Any, log: Any, on_redaction_failure: Any = None):
        self.call_id = call_id
        self.log = log
        self._on_redaction_failure = on_redaction_failure
        self.counters = _Counters()
        self.closed = False
        self.trace_ids: list[int] = []
        self._roots_open: set[int] = set()
        self._roots_seen = 0
        self._root_ended = threading.Event()
        self._quiet = threading.Event()  # set when no span is open after the root ended
        self._closer: Optional[threading.Thread] = None
        self._closed_future: Future = Future()
        self._lock = threading.Lock()
        self._tracers: dict[tuple, Any] = {}
        self._settings = settings
        self.endpoint = f"{settings.base_url.rstrip('/')}{TRACES_PATH}"
        self.final_flush_secs = min(FINAL_FLUSH_SECS, float(getattr(settings, "finalize_timeout_secs", FINAL_FLUSH_SECS)))
        # Made with the first span: an observer whose worker never traces costs no thread.
        self.provider: Any = None
        self.processor: Any = None
        self.exporter: Any = None

    def resource_attributes(self) -> dict[str, Any]:
        """What links the spans to the call on Roark."""
        s = self._settings
        attrs: dict[str, Any] = {ATTR_CALL_ID: self.call_id, ATTR_EXTERNAL_ID: self.call_id}
        if getattr(s, "is_test", False):
            attrs[ATTR_SKIP] = True
        if getattr(s, "agent_id", None):
            attrs[ATTR_AGENT_ID] = s.agent_id
        if getattr(s, "integration_id", None):
            attrs[ATTR_INTEGRATION_ID] = s.integration_id
        if not os.environ.get("OTEL_SERVICE_NAME"):
            attrs["service.name"] = "pipecat"
        return attrs

    def _ensure_provider(self) -> Any:
        with self._lock:
            if self.provider is not None:
                return self.provider
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import SpanLimits, TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
            from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
            from opentelemetry.sdk.trace.sampling import ALWAYS_ON

            exporter = _exporter_class()(
                self.endpoint, self._settings.api_key, self.counters, self.log,
                timeout=REQUEST_TIMEOUT_SECS, retry_budget=RETRY_BUDGET_SECS,
                redactor=getattr(self._settings, "redactor", None), on_redaction_failure=self._on_redaction_failure,
            )
            batch = BatchSpanProcessor(
                exporter,
                max_queue_size=MAX_QUEUE_SPANS,
                schedule_delay_millis=SCHEDULE_DELAY_MS,
                max_export_batch_size=MAX_BATCH_SPANS,
                export_timeout_millis=int((REQUEST_TIMEOUT_SECS + RETRY_BUDGET_SECS) * 1000),
            )
            processor = _processor_class()(batch, self)
            # Resource.create adds OTEL_RESOURCE_ATTRIBUTES / OTEL_SERVICE_NAME and the
            # SDK's own attributes; the call's attributes win. Explicit sampler, ids
            # and limits: the app's OTEL_TRACES_SAMPLER &c. configure its tracing,
            # not what Roark receives.
            provider = TracerProvider(
                sampler=ALWAYS_ON, resource=Resource.create(self.resource_attributes()), shutdown_on_exit=False,
                id_generator=RandomIdGenerator(), span_limits=SpanLimits(max_attribute_length=MAX_ATTRIBUTE_CHARS),
            )
            provider.add_span_processor(processor)
            self.exporter, self.processor, self.provider = exporter, processor, provider
            return provider

    # -- construction ---------------------------------------------------------

    @classmethod
    def create(cls, call_id: str, settings: Any, log: Any, on_redaction_failure: Any = None) -> Optional["CallTracing"]:
        """A traced call, or None (with one clear log line) when tracing cannot run.

        With ``settings.redactor`` (``redact=``), the string attributes, event
        attributes and status messages of the spans are redacted as they are
        exported; ``on_redaction_failure(reason)`` hears of a rule that failed.
        """
        missing = missing_extra()
        if missing is not None:
            log.error(f"trace=True needs OpenTelemetry, but {missing}. This call is recorded without traces")
            return None
        try:
            from opentelemetry.sdk.trace import TracerProvider  # noqa: F401  (fail here, not mid-call)

            _register_pending_as_span()
            _ROUTER.install()
            call = cls(call_id, settings, log, on_redaction_failure)
        except Exception as e:
            log.error(f"could not set up tracing ({type(e).__name__}: {e}); this call is recorded without traces")
            return None
        if not _ROUTER.register(call):
            log.warning("another traced call with this id is running in this process; this one sends no traces")
            return None
        _register_atexit()
        log.debug(f"tracing on: Pipecat spans of conversation {call_id} go to {call.endpoint}")
        return call

    # -- used by the router ---------------------------------------------------

    def tracer(self, name: str, version: Optional[str], schema_url: Optional[str]) -> Any:
        key = (name, version, schema_url)
        tracer = self._tracers.get(key)
        if tracer is None:
            tracer = self._ensure_provider().get_tracer(name, version, schema_url)
            self._tracers[key] = tracer
        return tracer

    def start_root(self, tracer_name: str, version: Optional[str], schema_url: Optional[str], name: str,
                   context: Any, kind: Any, attributes: Any, links: Any, start_time: Optional[int],
                   record_exception: bool = True, set_status_on_exception: bool = True) -> Any:
        """The conversation span, a new root in this call's own trace.

        When the app had a span current (say, a request span around the bot),
        it becomes a link, not a parent: Roark has none of the app's spans.
        """
        from opentelemetry import trace as trace_api
        from opentelemetry.context import Context
        from opentelemetry.trace import Link

        if self.closed:
            return trace_api.INVALID_SPAN
        links = list(links or [])
        outer = trace_api.get_current_span(context).get_span_context()
        if outer.is_valid:
            links.append(Link(outer, {"pipecat_roark.link": "app-parent"}))
        span = self.tracer(tracer_name, version, schema_url).start_span(
            name, context=Context(), kind=kind, attributes=attributes, links=links or None,
            start_time=start_time, record_exception=record_exception, set_status_on_exception=set_status_on_exception,
        )
        sc = span.get_span_context()
        if sc.is_valid:
            with self._lock:
                self._roots_open.add(sc.span_id)
                self._roots_seen += 1
                self._root_ended.clear()
                self.trace_ids.append(sc.trace_id)
            _ROUTER.bind_trace(sc.trace_id, self)
        return span

    def _span_ended(self, span: Any) -> None:
        sc = span.get_span_context() if hasattr(span, "get_span_context") else span.context
        with self._lock:
            if sc.span_id in self._roots_open:
                self._roots_open.discard(sc.span_id)
                if not self._roots_open:
                    self._root_ended.set()
        with self.counters.lock:
            quiet = self.counters.open <= 0
        if quiet:
            self._quiet.set()
        else:
            self._quiet.clear()
        if self._root_ended.is_set():
            self._start_closer()

    # -- used by the observer -------------------------------------------------

    @property
    def captured(self) -> bool:
        """A conversation of this call was traced (its spans are going to Roark)."""
        return self._roots_seen > 0

    def call_ending(self) -> None:
        """The call ended: send the spans ended so far now, ahead of call-ended."""
        if self.closed:
            return
        threading.Thread(target=self._flush_quietly, args=(EARLY_FLUSH_SECS,), daemon=True,
                         name=f"roark-trace-flush-{self.call_id[:16]}").start()

    def ended_fields(self) -> dict[str, Any]:
        """Extension fields of call-ended: whether traces were sent, and the trace id."""
        with self.counters.lock:
            rejected = self.counters.batches_failed > 0 and self.counters.batches_ok == 0
        out: dict[str, Any] = {"tracesSent": self.captured and not rejected}
        if self.trace_ids:
            out["traceId"] = _hex_trace_id(self.trace_ids[0])
        return out

    def call_finished(self) -> None:
        """Teardown reached: close once the conversation span ends (or after ROOT_WAIT_SECS)."""
        self._start_closer()

    async def aclose(self, timeout: Optional[float] = None) -> bool:
        """Close now-ish and wait (bounded) until the final flush is over. For tests and hosts."""
        import asyncio

        self._start_closer()
        limit = timeout if timeout is not None else ROOT_WAIT_SECS + STRAGGLER_GRACE_SECS + self.final_flush_secs + 1
        try:
            return bool(await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(self._closed_future)), limit))
        except (asyncio.TimeoutError, Exception):
            return False

    def stats(self) -> dict[str, int]:
        c = self.counters
        with c.lock:
            return {"started": c.started, "ended": c.ended, "exported": c.exported, "failed": c.failed,
                    "late": c.late, "open": c.open}

    # -- closing ----------------------------------------------------------------

    def _flush_quietly(self, secs: float) -> bool:
        processor = self.processor
        if processor is None:
            return True
        try:
            return bool(processor.force_flush(int(secs * 1000)))
        except Exception:
            return False

    def _start_closer(self) -> None:
        with self._lock:
            if self._closer is not None:
                return
            self._closer = threading.Thread(target=self._close, daemon=True,
                                            name=f"roark-trace-close-{self.call_id[:16]}")
        self._closer.start()

    def _close(self) -> None:
        ok = False
        try:
            if self._roots_seen and not self._root_ended.is_set():
                self._root_ended.wait(ROOT_WAIT_SECS)
            if self._roots_seen:
                with self.counters.lock:
                    if self.counters.open <= 0:
                        self._quiet.set()
                self._quiet.wait(STRAGGLER_GRACE_SECS)
            self.closed = True
            ok = self._flush_quietly(self.final_flush_secs)
            if self.exporter is not None:
                self.exporter.stop_retrying()
            try:
                if self.processor is not None:
                    self.processor.shutdown()
            except Exception:
                pass
        finally:
            self.closed = True
            _ROUTER.unregister(self)
            self._report(ok)
            if not self._closed_future.done():
                self._closed_future.set_result(ok)

    def _report(self, flushed: bool) -> None:
        s = self.stats()
        try:
            if not self._roots_seen:
                self.log.warning(
                    "trace=True but Pipecat made no spans for this call: build the worker with "
                    "PipelineWorker(..., enable_tracing=True, conversation_id=roark.pipecat_call_id), "
                    "after creating the observer"
                )
            elif s["failed"] or not flushed:
                self.log.warning(
                    f"traces: {s['exported']} of {s['ended']} spans reached Roark ({s['failed']} failed"
                    f"{', flush timed out' if not flushed else ''})"
                )
            else:
                self.log.info(f"traces: {s['exported']} spans sent to Roark")
        except Exception:
            pass

    def join(self, timeout: float) -> None:
        t = self._closer
        if t is not None:
            t.join(timeout)


__all__ = ["CallTracing", "INSTALL_HINT", "TRACES_PATH", "missing_extra"]
