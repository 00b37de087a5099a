from ..integration.conftest import _clean_env, server_process  # noqa: F401  (the same fixtures)
