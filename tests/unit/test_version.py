"""The package is versioned above the published 0.2.x it succeeds, in one place each."""

import re
from pathlib import Path

import pipecat_roark

ROOT = Path(__file__).resolve().parents[2]


def test_version_matches_pyproject_and_is_above_0_2():
    text = (ROOT / "pyproject.toml").read_text()
    (declared,) = re.findall(r'^version = "([^"]+)"$', text, flags=re.M)
    assert pipecat_roark.__version__ == declared
    assert tuple(int(x) for x in declared.split(".")[:2]) >= (0, 3)
