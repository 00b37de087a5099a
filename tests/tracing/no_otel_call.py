"""Run by test_tracing_without_extra.py in a fresh interpreter where OpenTelemetry cannot be imported.

Prints one JSON line (prefixed RESULT) with what a user would see.
"""

from __future__ import annotations

import asyncio
import importlib.abc
import json
import sys
import tempfile
from pathlib import Path


class _NoOpenTelemetry(importlib.abc.MetaPathFinder):
    """As if the extra were not installed: every opentelemetry module is missing."""

    def find_spec(self, name, path=None, target=None):
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _NoOpenTelemetry())
HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parents[1]), str(HERE)]


async def main() -> dict:
    import aiohttp
    from loguru import logger

    from pipecat_roark import RoarkObserver
    from pipecat_roark.devserver.server import DevServer
    from pipecat_roark.testing.scenario import CallerTurn, CallScript, build_call, run_call
    from pipecat_roark.tracing import missing_extra

    lines: list[str] = []
    logger.remove()
    logger.add(lambda m: lines.append(str(m)), level="INFO", format="{level} | {message}")
    out: dict = {"missing": missing_extra()}
    with tempfile.TemporaryDirectory() as tmp:
        async with DevServer(data_dir=tmp, port=0) as server:
            async with aiohttp.ClientSession() as http:
                url = server.base_url + "/v1/traces"
                async with http.post(url, data=b"\x0a\x00", headers={"Content-Type": "application/x-protobuf"}) as r:
                    out["protobuf_status"], out["protobuf_body"] = r.status, await r.text()
                async with http.post(url, json={"resourceSpans": []}) as r:
                    out["json_status"] = r.status
            roark = RoarkObserver(agent_id="bot", base_url=server.base_url, trace=True)
            script = CallScript(
                greeting="Acme support, how can I help?",
                turns=[CallerTurn("change_address", 2600, reply="Sure, go ahead.")],
                duration_ms=7500,
            )
            call = build_call(
                script, audio_processor=roark.audio_processor, observers=[roark],
                worker_kwargs={"enable_tracing": True, "conversation_id": roark.pipecat_call_id},
            )
            result = await run_call(call)
            rec = server.store.get_call(roark.pipecat_call_id)
            out.update(
                ended_by=result.ended_by,
                completed=result.script_completed,
                problems=rec.problems,
                ended=rec.ended,
                otel_loaded=[m for m in sys.modules if m.startswith("opentelemetry")],
                logs=[line for line in lines if "trace" in line.lower()],
            )
    return out


if __name__ == "__main__":
    print("RESULT " + json.dumps(asyncio.run(main())))
