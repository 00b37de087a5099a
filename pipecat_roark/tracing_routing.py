"""Which provider makes each of Pipecat's spans: a traced call's own, or the app's.

Pipecat (0.0.10x and 1.x alike) asks the *global* OpenTelemetry API for its
tracers: ``trace.get_tracer("pipecat")`` for every service span and
``trace.get_tracer("pipecat.turn")`` once per worker. An application that
already exports elsewhere owns that global provider, and OpenTelemetry
forbids replacing it. So the first traced call installs a thin wrapper
around ``opentelemetry.trace.get_tracer`` that, for Pipecat's tracer names
only, returns a :class:`_RoutingTracer`. For every span it is asked for, it
decides:

- ``conversation`` (the root Pipecat starts per worker): Pipecat sets
  ``conversation.id`` on it first thing. Until then the span is a
  :class:`_PendingSpan` that only collects attributes; once the id is known
  the real span is made by the provider of the Roark call of that id (a
  new root: the call's trace id is its own), or by the app's tracer when no
  Roark call has that id.
- any other span: by its parent's trace id. Pipecat parents turn and
  service spans explicitly on the worker's conversation or turn span, so a
  span whose parent is in a Roark call's trace goes to that call's
  provider, and everything else to the app's tracer, exactly as without
  routing.

Consequences: the app's provider (global or not) never sees a Roark call's
spans and keeps all of its own; two calls in one process never share a
provider, a resource or a trace; other libraries' tracers are untouched;
with no traced call alive every Pipecat span goes straight to the app's
tracer. The observer must exist before the worker is built (it does: it is
passed in ``observers=[roark]``), because the worker fetches its turn
tracer when it is constructed.

Kept apart from :mod:`pipecat_roark.tracing` (one call's provider and its
lifecycle) because it is process-wide: one router, one wrapper, shared by
every traced call. Like the rest of the tracing modules it imports no
OpenTelemetry until a traced call is created.
"""

from __future__ import annotations

import contextlib
import threading
import time
import weakref
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Optional

from loguru import logger

if TYPE_CHECKING:
    from .tracing import CallTracing

# What Pipecat names its root span, and the attribute it names the call by.
CONVERSATION_ID_ATTR = "conversation.id"
CONVERSATION_SPAN = "conversation"


class _Router:
    """Which traced call owns a conversation id or a trace id. Process-wide."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        # Weak: a call whose observer is dropped without a teardown (the bot failed
        # before its worker ran) does not stay registered. A running call is held
        # by its observer, and its open spans hold its span processor.
        self.by_call_id: "weakref.WeakValueDictionary[str, CallTracing]" = weakref.WeakValueDictionary()
        self.by_trace_id: "weakref.WeakValueDictionary[int, CallTracing]" = weakref.WeakValueDictionary()
        # Traces of finished calls: late spans under them are dropped, so they
        # reach neither Roark (too late) nor the app (not its spans).
        self.closed_traces: "OrderedDict[int, None]" = OrderedDict()
        self.original_get_tracer: Any = None
        self.atexit_registered = False

    @property
    def idle(self) -> bool:
        return not len(self.by_call_id) and not len(self.by_trace_id) and not self.closed_traces

    def install(self) -> None:
        """Wrap ``opentelemetry.trace.get_tracer`` once (idempotent, thread-safe)."""
        from opentelemetry import trace as trace_api

        with self.lock:
            current = trace_api.get_tracer
            if getattr(current, "_pipecat_roark_router", False):
                return
            self.original_get_tracer = current

            def get_tracer(*args: Any, **kwargs: Any):
                tracer = current(*args, **kwargs)
                try:
                    name = args[0] if args else kwargs.get("instrumenting_module_name", "")
                    explicit = kwargs.get("tracer_provider", args[2] if len(args) > 2 else None)
                    if explicit is None and isinstance(name, str) and (name == "pipecat" or name.startswith("pipecat.")):
                        version = args[1] if len(args) > 1 else kwargs.get("instrumenting_library_version")
                        schema_url = args[3] if len(args) > 3 else kwargs.get("schema_url")
                        return _RoutingTracer(tracer, name, version, schema_url)
                except Exception:  # pragma: no cover - never break the caller's tracing
                    pass
                return tracer

            get_tracer._pipecat_roark_router = True  # type: ignore[attr-defined]
            get_tracer.__wrapped__ = current  # type: ignore[attr-defined]
            get_tracer.__doc__ = current.__doc__
            trace_api.get_tracer = get_tracer

    def register(self, call: "CallTracing") -> bool:
        with self.lock:
            other = self.by_call_id.get(call.call_id)
            if other is not None and not other.closed:
                return False
            self.by_call_id[call.call_id] = call
            return True

    def bind_trace(self, trace_id: int, call: "CallTracing") -> None:
        with self.lock:
            self.by_trace_id[trace_id] = call

    def unregister(self, call: "CallTracing") -> None:
        with self.lock:
            if self.by_call_id.get(call.call_id) is call:
                del self.by_call_id[call.call_id]
            for tid in [t for t, c in list(self.by_trace_id.items()) if c is call]:
                self.by_trace_id.pop(tid, None)
                self.closed_traces[tid] = None
            while len(self.closed_traces) > 4096:
                self.closed_traces.popitem(last=False)

    def owner_of_context(self, context: Any) -> tuple[Optional["CallTracing"], bool]:
        """(call, dropped): the traced call whose trace the context's span is in."""
        from opentelemetry import trace as trace_api

        parent = trace_api.get_current_span(context)
        if isinstance(parent, _PendingSpan):
            parent._bind()  # a child needs its parent's ids
            parent = parent._real
        sc = parent.get_span_context() if parent is not None else None
        if sc is None or not sc.is_valid:
            return None, False
        with self.lock:
            call = self.by_trace_id.get(sc.trace_id)
            return call, call is None and sc.trace_id in self.closed_traces

    def call_for_conversation(self, conversation_id: Any) -> Optional["CallTracing"]:
        if not isinstance(conversation_id, str):
            return None
        with self.lock:
            return self.by_call_id.get(conversation_id)


_ROUTER = _Router()


def _make_routing_tracer_class():
    from opentelemetry import trace as trace_api
    from opentelemetry.trace import INVALID_SPAN, SpanKind

    # Here, not at the top: tracing.py imports this module. The class is made
    # when the first Pipecat tracer is asked for, after a traced call exists.
    from .tracing import CallTracing

    class RoutingTracer(trace_api.Tracer):
        """A Pipecat tracer: each span goes to its Roark call's provider, or to the app's tracer."""

        def __init__(self, fallback: Any, name: str, version: Optional[str] = None, schema_url: Optional[str] = None):
            self._fallback = fallback
            self._name = name
            self._version = version
            self._schema_url = schema_url

        def _target(self, name: str, context: Any, attributes: Any) -> Any:
            """Where a span goes: a tracer, a CallTracing (a call's root), _PendingSpan, or None (drop)."""
            try:
                if _ROUTER.idle:
                    return self._fallback
                call, dropped = _ROUTER.owner_of_context(context)
                if call is not None:
                    return call.tracer(self._name, self._version, self._schema_url)
                if dropped:
                    return None
                if name == CONVERSATION_SPAN and len(_ROUTER.by_call_id):
                    if attributes and CONVERSATION_ID_ATTR in attributes:
                        owner = _ROUTER.call_for_conversation(attributes.get(CONVERSATION_ID_ATTR))
                        return owner if owner is not None else self._fallback
                    return _PendingSpan
            except Exception:
                logger.opt(exception=True).debug("pipecat-roark tracing: routing failed; span left to the app")
            return self._fallback

        def _start(self, target: Any, name, context, kind, attributes, links, start_time, rec, sse) -> Any:
            try:
                if target is None:
                    return INVALID_SPAN
                if target is _PendingSpan:
                    return _PendingSpan(self, name, context, kind, attributes, links, start_time, rec, sse)
                if isinstance(target, CallTracing):
                    return target.start_root(self._name, self._version, self._schema_url, name, context, kind,
                                             attributes, links, start_time, rec, sse)
                return target.start_span(name, context, kind, attributes, links, start_time, rec, sse)
            except Exception:
                if target is self._fallback:
                    raise
                logger.opt(exception=True).debug("pipecat-roark tracing: could not start a span; left to the app")
            return self._fallback.start_span(name, context, kind, attributes, links, start_time, rec, sse)

        def start_span(self, name, context=None, kind=SpanKind.INTERNAL, attributes=None, links=None,
                       start_time=None, record_exception=True, set_status_on_exception=True):
            target = self._target(name, context, attributes)
            return self._start(target, name, context, kind, attributes, links, start_time, record_exception,
                               set_status_on_exception)

        @contextlib.contextmanager
        def start_as_current_span(self, name, context=None, kind=SpanKind.INTERNAL, attributes=None, links=None,
                                  start_time=None, record_exception=True, set_status_on_exception=True,
                                  end_on_exit=True) -> Iterator[Any]:
            target = self._target(name, context, attributes)
            if target is not None and target is not _PendingSpan and not isinstance(target, CallTracing):
                # A real tracer (the app's, or a call's): its own context manager.
                with target.start_as_current_span(name, context, kind, attributes, links, start_time,
                                                  record_exception, set_status_on_exception, end_on_exit) as s:
                    yield s
                return
            span = self._start(target, name, context, kind, attributes, links, start_time, record_exception,
                               set_status_on_exception)
            with trace_api.use_span(span, end_on_exit=end_on_exit, record_exception=record_exception,
                                    set_status_on_exception=set_status_on_exception) as s:
                yield s

    return RoutingTracer


_ROUTING_TRACER_CLASS: Any = None


def _RoutingTracer(fallback: Any, name: str, version: Optional[str] = None, schema_url: Optional[str] = None):
    global _ROUTING_TRACER_CLASS
    if _ROUTING_TRACER_CLASS is None:
        _ROUTING_TRACER_CLASS = _make_routing_tracer_class()
    return _ROUTING_TRACER_CLASS(fallback, name, version, schema_url)


class _PendingSpan:
    """The ``conversation`` span until its ``conversation.id`` says whose it is.

    It collects attributes; the first call that needs a real span (anything
    but setting attributes) makes one, in the Roark call named by
    ``conversation.id`` or else with the app's tracer, then forwards
    everything to it. Its start time is the time it was asked for.
    """

    def __init__(self, router_tracer: Any, name: str, context: Any, kind: Any, attributes: Any, links: Any,
                 start_time: Optional[int], record_exception: bool, set_status_on_exception: bool):
        self._tracer = router_tracer
        self._name = name
        self._context = context
        self._kind = kind
        self._attributes: dict[str, Any] = dict(attributes or {})
        self._links = links
        self._start_time = start_time if start_time is not None else time.time_ns()
        self._flags = (record_exception, set_status_on_exception)
        self._real: Any = None

    def _bind(self, owner: Optional["CallTracing"] = None) -> Any:
        if self._real is not None:
            return self._real
        t = self._tracer
        args = (self._name, self._context, self._kind, self._attributes or None, self._links, self._start_time,
                *self._flags)
        try:
            if owner is not None:
                self._real = owner.start_root(t._name, t._version, t._schema_url, *args)
        except Exception:
            logger.opt(exception=True).debug("pipecat-roark tracing: could not start the conversation span")
        if self._real is None:
            self._real = t._fallback.start_span(*args)
        return self._real

    def set_attribute(self, key: str, value: Any) -> None:
        if self._real is None:
            if key == CONVERSATION_ID_ATTR:
                self._attributes[key] = value
                self._bind(_ROUTER.call_for_conversation(value))
                return
            self._attributes[key] = value
            return
        self._real.set_attribute(key, value)

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        for k, v in dict(attributes or {}).items():
            self.set_attribute(k, v)

    def get_span_context(self):
        return self._bind().get_span_context()

    def end(self, end_time: Optional[int] = None) -> None:
        self._bind().end(end_time)

    def add_event(self, name: str, attributes: Any = None, timestamp: Optional[int] = None) -> None:
        self._bind().add_event(name, attributes, timestamp)

    def add_link(self, context: Any, attributes: Any = None) -> None:
        self._bind().add_link(context, attributes)

    def update_name(self, name: str) -> None:
        if self._real is None:
            self._name = name
            return
        self._real.update_name(name)

    def is_recording(self) -> bool:
        return self._bind().is_recording()

    def set_status(self, status: Any, description: Optional[str] = None) -> None:
        self._bind().set_status(status, description)

    def record_exception(self, exception: BaseException, attributes: Any = None, timestamp: Any = None,
                         escaped: bool = False) -> None:
        self._bind().record_exception(exception, attributes, timestamp, escaped)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._bind().__exit__(exc_type, exc, tb)

    def __getattr__(self, name: str) -> Any:  # SDK extras (name, attributes, ...)
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._bind(), name)


def _register_pending_as_span() -> None:
    """Make isinstance(pending, opentelemetry.trace.Span) true (use_span, get_current_span)."""
    from opentelemetry.trace import Span

    if not issubclass(_PendingSpan, Span):
        Span.register(_PendingSpan)
