"""Fixtures for the tracing tests: the app's own tracer provider, a dev server, clean env."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent
_ROOT = _HERE.parents[1]
for p in (str(_HERE), str(_ROOT), str(_ROOT / "tests" / "devserver")):  # helpers, the package, the browser helper
    if p not in sys.path:
        sys.path.insert(0, p)



class AppTracing:
    """An application's own tracing, set up the usual way: a global SDK provider, its own exporter."""

    def __init__(self) -> None:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider(resource=Resource.create({"service.name": "the-app"}))
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        trace.set_tracer_provider(self.provider)
        if trace.get_tracer_provider() is not self.provider:  # pragma: no cover
            raise RuntimeError("another global tracer provider was set first in this process")

    def spans(self):
        return list(self.exporter.get_finished_spans())

    def tracer(self):
        from opentelemetry import trace

        return trace.get_tracer("the-app")


_APP: list[AppTracing] = []


@pytest.fixture
def app_tracing() -> AppTracing:
    """The process-wide app provider (OpenTelemetry allows one global per process), emptied per test."""
    pytest.importorskip("opentelemetry.sdk.trace")
    if not _APP:
        _APP.append(AppTracing())
    _APP[0].exporter.clear()
    return _APP[0]


from tests.integration.conftest import _clean_env, logs, server  # noqa: E402,F401  (shared fixtures)
