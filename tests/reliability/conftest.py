from tests.integration.conftest import _clean_env, logs, server  # noqa: F401  (shared fixtures)
