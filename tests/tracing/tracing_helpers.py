"""Shared by the tracing tests (a plain module: test files must not import conftest)."""

from tests.integration.conftest import API_KEY  # noqa: F401  (one test key; the shared server fixture requires it)
