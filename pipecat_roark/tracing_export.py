"""How a traced call's spans leave the process: OTLP/HTTP to Roark, batched, counted.

Export is batched (OpenTelemetry's ``BatchSpanProcessor``: a bounded queue
of 2048 spans, 256 per request, at least once a second), encoded with the
official OTLP protobuf encoder, gzipped and posted by our own small
exporter (stdlib HTTP, no proxies, no ``OTEL_EXPORTER_OTLP_*`` variables:
those configure the *app's* collector and must never add, say, a Honeycomb
key to requests sent to Roark). A batch that gets 429/5xx or no answer is
retried within a budget, then dropped and counted; 401/403 is said once.

In front of the batch processor sits the call's own span processor: it
counts the spans (started, ended, open, late), keeps spans that end after
the call closed out of the batch, and tells the call when one ended, which
is how :class:`~pipecat_roark.tracing.CallTracing` knows its conversation
span is over.

Kept apart from the call (:mod:`pipecat_roark.tracing`), which decides
*when* to flush and close, because this is the part that talks HTTP and
OTLP. Both classes are made on first use, so importing this module imports
no OpenTelemetry.
"""

from __future__ import annotations

import gzip
import threading
import time
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any, Optional

from .client import is_retryable_status, parse_retry_after
from .tracing_redaction import _redacted_span

if TYPE_CHECKING:
    from .tracing import CallTracing

TRACES_PATH = "/v1/traces"

#: Export bounds (per call).
MAX_QUEUE_SPANS = 2048
MAX_BATCH_SPANS = 256
SCHEDULE_DELAY_MS = 1000
MAX_ATTRIBUTE_CHARS = 64 * 1024
REQUEST_TIMEOUT_SECS = 5.0
#: How long one batch may be retried (429/5xx/no answer) before it is dropped.
RETRY_BUDGET_SECS = 10.0


class _Counters:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started = 0
        self.ended = 0
        self.open = 0
        self.exported = 0
        self.failed = 0
        self.late = 0
        self.batches_ok = 0
        self.batches_failed = 0


def _make_exporter_class():
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    class RoarkSpanExporter(SpanExporter):
        """OTLP/HTTP protobuf (gzip) to one endpoint, with only our headers."""

        def __init__(self, endpoint: str, api_key: Optional[str], counters: _Counters, log: Any,
                     timeout: float = REQUEST_TIMEOUT_SECS, retry_budget: float = RETRY_BUDGET_SECS,
                     redactor: Any = None, on_redaction_failure: Any = None):
            self._endpoint = endpoint
            self._redactor = redactor
            self._on_redaction_failure = on_redaction_failure
            self._headers = {
                "Content-Type": "application/x-protobuf",
                "Content-Encoding": "gzip",
                "User-Agent": "pipecat-roark",
            }
            if api_key:
                self._headers["Authorization"] = f"Bearer {api_key}"
            self._counters = counters
            self._log = log
            self._timeout = timeout
            self._retry_budget = retry_budget
            self._stop = threading.Event()
            self._warned: set[str] = set()
            # No proxies: like the rest of the package (aiohttp without trust_env).
            self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

        def _warn_once(self, key: str, msg: str, error: bool = False) -> None:
            if key in self._warned:
                return
            self._warned.add(key)
            try:
                (self._log.error if error else self._log.warning)(msg)
            except Exception:
                pass

        def _post(self, body: bytes) -> tuple[Optional[int], Optional[float], str]:
            req = urllib.request.Request(self._endpoint, data=body, headers=self._headers, method="POST")
            try:
                with self._opener.open(req, timeout=self._timeout) as resp:
                    resp.read()
                    return resp.status, None, ""
            except urllib.error.HTTPError as e:
                retry_after = parse_retry_after(e.headers.get("Retry-After") if e.headers else None)
                try:
                    detail = e.read(300).decode("utf-8", "replace")
                except Exception:
                    detail = ""
                return e.code, retry_after, detail
            except Exception as e:  # connection refused, timeout, TLS...
                reason = getattr(e, "reason", e)
                return None, None, f"{type(reason).__name__}: {reason}"[:200]

        def _redaction_failed(self, reason: str) -> None:
            if self._on_redaction_failure is not None:
                self._on_redaction_failure(reason)
            else:
                self._warn_once("redaction-failed", f"redaction failed ({reason}) in a span attribute; "
                                "it was sent as \"[REDACTION FAILED]\" instead")

        def export(self, spans) -> "SpanExportResult":
            n = len(spans)
            if self._redactor is not None:
                try:
                    spans = [_redacted_span(s, self._redactor, self._redaction_failed) for s in spans]
                except Exception as e:
                    # Never send a span unredacted: drop the batch instead.
                    self._warn_once("redact", f"could not redact {n} spans for Roark ({type(e).__name__}); "
                                    "dropped rather than sent unredacted")
                    return self._done(n, False)
            try:
                body = gzip.compress(encode_spans(spans).SerializeToString(), compresslevel=5)
            except Exception as e:
                self._warn_once("encode", f"could not encode {n} spans for Roark: {type(e).__name__}: {e}")
                return self._done(n, False)
            deadline = time.monotonic() + self._retry_budget
            delay = 0.5
            while True:
                status, retry_after, detail = self._post(body)
                if status is not None and 200 <= status < 300:
                    return self._done(n, True)
                retryable = status is None or is_retryable_status(status)
                what = f"HTTP {status}" if status is not None else "no response"
                if status in (401, 403):
                    self._warn_once("auth", f"Roark rejected the traces ({what}): check ROARK_API_KEY", error=True)
                    return self._done(n, False)
                wait = min(retry_after if retry_after is not None else delay, 5.0)
                if not retryable or self._stop.is_set() or time.monotonic() + wait >= deadline:
                    self._warn_once(
                        f"fail-{status}",
                        f"could not send {n} spans to Roark's {TRACES_PATH} ({what}{': ' + detail if detail else ''}); "
                        "dropped (the call itself is unaffected)",
                    )
                    return self._done(n, False)
                self._warn_once("retry", f"sending spans to Roark's {TRACES_PATH} failed ({what}); retrying")
                if self._stop.wait(wait):
                    continue  # shutting down: one last immediate try
                delay = min(delay * 2, 4.0)

        def _done(self, n: int, ok: bool):
            c = self._counters
            with c.lock:
                if ok:
                    c.exported += n
                    c.batches_ok += 1
                else:
                    c.failed += n
                    c.batches_failed += 1
            return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE

        def stop_retrying(self) -> None:
            self._stop.set()

        def shutdown(self) -> None:
            self._stop.set()

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return True

    return RoarkSpanExporter

def _make_processor_class():
    from opentelemetry.sdk.trace import SpanProcessor

    class CallSpanProcessor(SpanProcessor):
        """Counts, notices the conversation root ending, forwards to the batch processor."""

        def __init__(self, inner: Any, call: "CallTracing"):
            self._inner = inner
            self._call = call

        def on_start(self, span, parent_context=None) -> None:
            try:
                c = self._call.counters
                with c.lock:
                    c.started += 1
                    c.open += 1
                self._inner.on_start(span, parent_context=parent_context)
            except Exception:
                pass

        def _on_ending(self, span) -> None:
            try:
                hook = getattr(self._inner, "_on_ending", None)
                if hook is not None:
                    hook(span)
            except Exception:
                pass

        def on_end(self, span) -> None:
            try:
                call = self._call
                c = call.counters
                with c.lock:
                    c.open -= 1
                    c.ended += 1
                    late = call.closed
                    if late:
                        c.late += 1
                if not late:
                    self._inner.on_end(span)
                call._span_ended(span)
            except Exception:
                pass

        def shutdown(self) -> None:
            self._inner.shutdown()

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return self._inner.force_flush(timeout_millis)

    return CallSpanProcessor


_EXPORTER_CLASS: Any = None
_PROCESSOR_CLASS: Any = None


def _exporter_class():
    global _EXPORTER_CLASS
    if _EXPORTER_CLASS is None:
        _EXPORTER_CLASS = _make_exporter_class()
    return _EXPORTER_CLASS


def _processor_class():
    global _PROCESSOR_CLASS
    if _PROCESSOR_CLASS is None:
        _PROCESSOR_CLASS = _make_processor_class()
    return _PROCESSOR_CLASS
