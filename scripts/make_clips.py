#!/usr/bin/env python3
"""Synthesize the speech clips shipped in ``pipecat_roark/testing/clips/``.

Run once when the clip texts in ``pipecat_roark/testing/_clipdata.py`` change:

    apt-get install -y espeak-ng sox
    python scripts/make_clips.py

Each clip is espeak-ng speech converted to 16 kHz mono signed 16-bit WAV,
normalized to -3 dBFS peak and trimmed of leading and trailing silence, so
speech starts at the first sample. The package never needs espeak at runtime.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLIP_DIR = ROOT / "pipecat_roark" / "testing" / "clips"


def _load_clipdata():
    # Load the data module by path so this script works without installing
    # the package (and without importing pipecat).
    path = ROOT / "pipecat_roark" / "testing" / "_clipdata.py"
    spec = importlib.util.spec_from_file_location("_clipdata", path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def synthesize(text: str, voice: str, speed: int, out: Path, sample_rate: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(raw), text], check=True
        )
        # Trim silence at the start (first 5 ms above -45 dB), normalize, then
        # trim the end the same way by reversing.
        subprocess.run(
            [
                "sox", str(raw),
                "-r", str(sample_rate), "-c", "1", "-b", "16", "-e", "signed-integer",
                str(out),
                "silence", "1", "0.005", "-45d",
                "reverse", "silence", "1", "0.005", "-45d", "reverse",
                "gain", "-n", "-3",
            ],
            check=True,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=CLIP_DIR)
    args = parser.parse_args(argv)

    for tool in ("espeak-ng", "sox"):
        if not shutil.which(tool):
            print(f"{tool} not found: apt-get install -y espeak-ng sox", file=sys.stderr)
            return 1

    data = _load_clipdata()
    args.out.mkdir(parents=True, exist_ok=True)
    total = 0
    jobs = [(n, t, *data.CALLER_VOICE, "caller") for n, t in data.CALLER_CLIPS.items()]
    jobs += [(n, t, *data.BOT_VOICE, "bot") for n, t in data.BOT_CLIPS.items()]
    for name, text, voice, speed, role in jobs:
        out = args.out / f"{role}_{name}.wav"
        synthesize(text, voice, speed, out, data.SAMPLE_RATE)
        size = out.stat().st_size
        total += size
        secs = (size - 44) / (2 * data.SAMPLE_RATE)
        print(f"{out.name:28s} {secs:5.2f} s {size / 1024:6.1f} KiB  {text!r}")
    print(f"total {total / 1024:.1f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
