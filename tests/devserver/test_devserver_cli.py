"""`pipecat-roark dev`: argument handling, and the real command in a subprocess."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import aiohttp

from devserver_helpers import EVENT, started
from pipecat_roark import cli

ROOT = Path(__file__).resolve().parents[2]


def test_dev_defaults_and_data_dir(monkeypatch, tmp_path):
    args = cli.build_parser().parse_args(["dev"])
    assert (args.host, args.port, args.data_dir, args.api_key) == ("127.0.0.1", 8790, None, None)
    assert args.func is cli.run_dev
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert cli.default_dev_data_dir() == tmp_path / "pipecat-roark" / "dev"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert cli.default_dev_data_dir() == Path.home() / ".local" / "share" / "pipecat-roark" / "dev"


def test_no_subcommand_prints_help(capsys):
    assert cli.main([]) == 2
    assert "dev" in capsys.readouterr().out


def test_dev_refuses_a_public_address_without_a_key(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("ROARK_DEV_API_KEY", raising=False)
    assert cli.main(["dev", "--host", "0.0.0.0", "--data-dir", str(tmp_path)]) == 2
    assert "non-loopback" in capsys.readouterr().err


async def test_dev_command_serves_until_sigint(tmp_path):
    env = {**os.environ, "ROARK_DEV_API_KEY": "cli-key", "PYTHONPATH": str(ROOT)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pipecat_roark.cli", "dev", "--port", "0", "--data-dir", str(tmp_path / "d"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, env=env, cwd=str(ROOT),
    )
    try:
        out = ""
        while "ROARK_BASE_URL=" not in out:
            line = await asyncio.wait_for(proc.stdout.readline(), 60)
            assert line, f"dev exited early; printed: {out!r}"
            out += line.decode()
        base = re.search(r"export ROARK_BASE_URL=(http://127\.0\.0\.1:\d+)", out).group(1)
        async with aiohttp.ClientSession() as http:
            async with http.post(base + EVENT, json=started("cli-call")) as r:
                assert r.status == 401  # the key came from ROARK_DEV_API_KEY
            headers = {"x-roark-api-key": "cli-key", "Authorization": "Bearer cli-key"}
            async with http.post(base + EVENT, json=started("cli-call"), headers=headers) as r:
                assert r.status == 200
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
        assert (tmp_path / "d" / "devserver.sqlite3").exists()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
