import os
import sys

# The repository root, so tests run against the working tree without an install.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import pytest


@pytest.fixture(autouse=True)
def _private_spool(tmp_path_factory, monkeypatch):
    """Every test gets its own disk spool: no test replays another's leftovers (or the user's)."""
    monkeypatch.setenv("ROARK_SPOOL_DIR", str(tmp_path_factory.mktemp("spool")))
