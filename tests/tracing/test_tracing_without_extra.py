"""Without the tracing extra: one clear message, and the call is exactly as without trace=True."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from pipecat_roark.testing.audio import normalize_text

SCRIPT = Path(__file__).resolve().parent / "no_otel_call.py"


def test_without_opentelemetry_the_call_is_unaffected_and_the_message_says_what_to_install():
    proc = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))
    out = json.loads(line[len("RESULT "):])

    hint = 'pip install "pipecat-roark[tracing]"'
    assert hint in out["missing"]
    assert out["otel_loaded"] == []  # really without it
    # One clear line, at construction, naming the fix.
    errors = [ln for ln in out["logs"] if ln.startswith("ERROR")]
    assert len(errors) == 1 and hint in errors[0] and "recorded without traces" in errors[0]

    # The call itself: delivered as usual, nothing about traces in it.
    assert out["ended_by"] == "end" and out["completed"]
    assert out["problems"] == []
    ended = out["ended"]
    assert "tracesSent" not in ended and "traceId" not in ended
    assert [normalize_text(t["content"]) for t in ended["transcript"]] == [
        "acme support how can i help", "actually wait can you also change the address", "sure go ahead",
    ]

    # The dev server without opentelemetry-proto: JSON accepted, protobuf refused with the same hint.
    assert out["json_status"] == 200
    assert out["protobuf_status"] == 415 and "pipecat-roark[tracing]" in out["protobuf_body"]
