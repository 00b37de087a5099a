"""What the benchmarks share: the dev server in a process of its own, and small helpers.

``start_server()`` runs this file as a script (``--serve``): a
``pipecat_roark.devserver.DevServer`` behind a loopback TCP proxy that adds a
round-trip time to every exchange, optionally answering a random fraction of
requests with 503 (``--fault-rate``). Its CPU is not counted in the measured
process. It prints one JSON line with its URLs when ready and, when stopped,
one JSON line with its request and fault counters and its CPU time, which
``stop_server()`` returns.

Not a public module: imported by ``overhead.py`` and ``load.py`` in this
directory (``python benchmarks/<script>.py`` puts the directory on the path).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import select
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, Optional

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:  # run from a checkout without installing the package
    sys.path.insert(0, str(REPO))


# =========================================================================== #
# Small helpers
# =========================================================================== #


def rss_kb() -> int:
    """Resident set size of this process now, in KiB (0 where /proc is missing)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
    except OSError:
        return 0


def pct(sorted_vals: list[float], q: float) -> float:
    """The q-quantile (0..1) of an already sorted, non-empty list (nearest rank)."""
    return sorted_vals[min(len(sorted_vals) - 1, int(round(q * (len(sorted_vals) - 1))))]


def pipecat_version() -> str:
    try:
        from importlib.metadata import version

        return version("pipecat-ai")
    except Exception:
        return "?"


def child_env() -> dict[str, str]:
    """The environment for benchmark subprocesses: no ROARK_* settings, the checkout importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROARK_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


# =========================================================================== #
# Server: DevServer + loopback latency proxy, in a process of their own
# =========================================================================== #


class LatencyProxy:
    """TCP proxy on 127.0.0.1 adding a round-trip time to everything through it.

    Each direction delays every chunk of bytes by rtt/2 (pipelined: a large
    body costs one one-way delay, not one per segment), and a new connection
    waits one rtt before its first byte is forwarded (the TCP handshake).
    """

    def __init__(self, upstream_port: int, rtt_secs: float):
        self.upstream_port = upstream_port
        self.rtt = rtt_secs
        self.port: Optional[int] = None
        self._server: Optional[asyncio.AbstractServer] = None
        self._tasks: set[asyncio.Task] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for t in list(self._tasks):
            t.cancel()

    async def _handle(self, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        s_writer = None
        try:
            await asyncio.sleep(self.rtt)
            s_reader, s_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
            await asyncio.gather(self._pipe(c_reader, s_writer), self._pipe(s_reader, c_writer))
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            for w in (c_writer, s_writer):
                if w is not None:
                    w.close()
            if task is not None:
                self._tasks.discard(task)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        one_way = self.rtt / 2
        queue: asyncio.Queue = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                if data is None:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()

        sender = asyncio.create_task(deliver())
        try:
            while True:
                data = await reader.read(1 << 16)
                await queue.put((time.monotonic() + one_way, data or None))
                if not data:
                    break
            await sender
        except (OSError, ConnectionError):
            sender.cancel()
        finally:
            if not sender.done():
                sender.cancel()


def _random_faults(rate: float, status: int, seed: Optional[int]):
    """The dev server's Faults, plus a random ``status`` answer to a fraction ``rate`` of requests.

    Planned faults (the queue of faults.py) still come first; the random
    ones only hit requests that had none planned.
    """
    from pipecat_roark.devserver.faults import ENDPOINTS, Fault, Faults

    class RandomFaults(Faults):
        def __init__(self) -> None:
            super().__init__()
            self.rate = rate
            self.injected = {e: 0 for e in ENDPOINTS}
            self._rng = random.Random(seed)

        def take(self, endpoint: str) -> Optional[Fault]:
            planned = super().take(endpoint)
            if planned is None and self.rate > 0 and self._rng.random() < self.rate:
                self.injected[endpoint] += 1
                return Fault("status", status=status)
            return planned

    return RandomFaults()


def serve_main(data_dir: str, latency_ms: float, log_level: str = "WARNING", fault_rate: float = 0.0,
               fault_status: int = 503, seed: Optional[int] = None) -> int:
    """Run the dev server and its latency proxy until SIGTERM/SIGINT or stdin closes."""
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level=log_level)
    from pipecat_roark.devserver.server import DevServer

    async def run() -> dict[str, Any]:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)

        def watch_stdin() -> None:  # the parent went away: stop too
            try:
                sys.stdin.read()
            finally:
                loop.call_soon_threadsafe(stop.set)

        threading.Thread(target=watch_stdin, daemon=True).start()
        server = DevServer(data_dir=data_dir, port=0)
        if fault_rate > 0:
            server.faults = _random_faults(fault_rate, fault_status, seed)  # read by start()
        async with server:
            proxy = LatencyProxy(server.port, latency_ms / 1000.0)
            await proxy.start()
            print(json.dumps({"base_url": f"http://127.0.0.1:{proxy.port}", "direct_url": server.base_url}), flush=True)
            await stop.wait()
            await proxy.stop()
            return {"requests": server.faults.counts, "injected": getattr(server.faults, "injected", {}),
                    "cpu_secs": time.process_time()}

    stats = asyncio.run(run())
    print(json.dumps({"stats": stats}), flush=True)
    return 0


def start_server(workdir: Path, latency_ms: float, *, fault_rate: float = 0.0, seed: Optional[int] = None,
                 log_level: str = "WARNING") -> tuple[subprocess.Popen, dict[str, str]]:
    """Start the server process; returns it and its URLs (``base_url`` through the proxy, ``direct_url``)."""
    log = open(workdir / "server.log", "wb")
    cmd = [
        sys.executable, str(Path(__file__).resolve()), "--serve", "--data-dir", str(workdir / "roark-data"),
        "--latency-ms", str(latency_ms), "--log-level", log_level, "--fault-rate", str(fault_rate),
    ]
    if seed is not None:
        cmd += ["--seed", str(seed)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, env=child_env(), cwd=REPO)
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        line = proc.stdout.readline()
        if line.strip().startswith(b"{"):
            return proc, json.loads(line)
    proc.kill()
    proc.wait()
    raise RuntimeError(f"dev server did not start; see {workdir / 'server.log'}")


def stop_server(proc: subprocess.Popen) -> dict[str, Any]:
    """Stop the server process; returns its request/fault counters ({} if it did not say)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    stats: dict[str, Any] = {}
    if proc.stdout is not None:
        try:
            for line in proc.stdout.read().splitlines():
                if line.strip().startswith(b"{"):
                    stats = json.loads(line).get("stats", stats)
        except (OSError, ValueError):
            pass
    return stats


def server_calls(urls: dict[str, str]) -> list[dict[str, Any]]:
    """The server's call list (``/api/calls``), or [] if it cannot be read."""
    try:
        with urllib.request.urlopen(urls["direct_url"] + "/api/calls", timeout=30) as resp:
            return json.loads(resp.read())["calls"]
    except Exception as e:  # the report goes on without it
        print(f"# could not list the server's calls: {e}", file=sys.stderr)
        return []


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description="dev server + latency proxy for the benchmarks (internal)")
    p.add_argument("--serve", action="store_true", required=True)
    p.add_argument("--data-dir", required=True)
    p.add_argument("--latency-ms", type=float, default=80.0)
    p.add_argument("--log-level", default="WARNING")
    p.add_argument("--fault-rate", type=float, default=0.0)
    p.add_argument("--fault-status", type=int, default=503)
    p.add_argument("--seed", type=int, default=None)
    args = p.parse_args(argv)
    return serve_main(args.data_dir, args.latency_ms, args.log_level, args.fault_rate, args.fault_status, args.seed)


if __name__ == "__main__":
    sys.exit(main())
