"""Shared by the tracing tests (a plain module: test files must not import conftest)."""

API_KEY = "rk_test_TRACES_secret_42"
