"""The disk spool's file handling, without a network."""

import json
import os
import stat
import subprocess
import sys
import textwrap

import pytest

from pipecat_roark.config import build_settings
from pipecat_roark.spool import CallSpool, Journal, Spool, call_key, chunk_name, default_spool_dir


def _open(root, call_id="call-1", **meta):
    spool = CallSpool(root, call_id)
    spool.open({"callId": call_id, "baseUrl": "http://127.0.0.1:1", **meta}, {"event": "call-started", "pipecatCallId": call_id})
    return spool


def test_call_key_is_safe_stable_and_distinct():
    assert call_key("abc") == call_key("abc")
    assert call_key("a/b") != call_key("a_b")  # same readable part, different digest
    for weird in ("../../etc/passwd", "a b\n", "é🙂", "\ud800", "x" * 500):
        key = call_key(weird)
        assert "/" not in key and ".." not in key.replace("-", "") and len(key) <= 61
        assert all(c.isalnum() or c in "_-" for c in key)


def test_files_are_private_and_written_whole(tmp_path):
    spool = _open(tmp_path / "spool")
    spool.put_chunk(3, b"\x01\x02" * 10)
    spool.put_ended({"event": "call-ended"})
    assert stat.S_IMODE(os.stat(spool.path).st_mode) == 0o700
    for name in ("meta.json", "started.json", chunk_name(3), "ended.json", "journal.jsonl"):
        assert stat.S_IMODE(os.stat(spool.path / name).st_mode) == 0o600, name
    assert not [p for p in spool.path.iterdir() if p.name.startswith(".")]  # no temporary file left
    assert spool.read_chunk(3) == b"\x01\x02" * 10


def test_listing_reports_what_waits(tmp_path):
    root = Spool(tmp_path / "spool")
    assert root.calls() == []
    spool = _open(root.root, "call-9")
    spool.put_chunk(0, b"a" * 100)
    spool.put_chunk(2, b"b" * 100)
    (found,) = root.calls()
    assert found.call_id == "call-9" and found.chunks == [0, 2] and found.has_started and not found.has_ended
    assert found.size >= 200


def test_a_running_call_is_locked_and_a_finished_one_is_free(tmp_path):
    root = Spool(tmp_path / "spool")
    spool = _open(root.root)
    (found,) = root.calls()
    assert root.try_lock(found) is None  # the owner holds it
    spool.close(delivered=False)
    lock = root.try_lock(found)
    assert lock is not None
    lock.release()


def test_a_dead_owner_releases_its_lock(tmp_path):
    """A process killed mid-call leaves its directory unlocked: that is how replay knows it died."""
    root = tmp_path / "spool"
    code = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from pipecat_roark.spool import CallSpool
        s = CallSpool(Path({str(root)!r}), "dead-call")
        s.open({{"callId": "dead-call"}}, {{"event": "call-started"}})
        s.journal(k="chunk", i=0, n=10)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    subprocess.run([sys.executable, "-c", code], cwd=os.getcwd(), check=False)
    (found,) = Spool(root).calls()
    assert found.call_id == "dead-call" and not found.has_ended
    lock = Spool(root).try_lock(found)
    assert lock is not None
    lock.release()
    assert Journal.read(found.path / "journal.jsonl").produced == {0: 10}


def test_delivered_call_leaves_nothing(tmp_path):
    spool = _open(tmp_path / "spool")
    spool.close(delivered=True)
    assert not spool.path.exists()


def test_journal_survives_a_torn_last_line(tmp_path):
    spool = _open(tmp_path / "spool")
    spool.journal(k="chunk", i=0, n=5, sr=16000, ch=2)
    spool.journal(k="delivered", i=0)
    spool.journal(k="started")
    with open(spool.path / "journal.jsonl", "ab") as f:
        f.write(b'{"k":"chunk","i":1,')  # the process died mid-write
    j = Journal.read(spool.path / "journal.jsonl")
    assert j.produced == {0: 5} and j.delivered == {0} and j.started_delivered and j.formats == [(16000, 2)]


def test_cap_evicts_oldest_unlocked_calls_only(tmp_path):
    root = Spool(tmp_path / "spool", max_bytes=1024 * 1024)
    old = _open(root.root, "old")
    old.put_chunk(0, b"x" * 400_000)
    old.close(delivered=False)
    live = _open(root.root, "live")  # still running: must survive
    live.put_chunk(0, b"y" * 400_000)
    assert not root.reserve(400_000, rescan=True)
    evicted = root.make_room(400_000, keep=live.path.name)
    assert [c.call_id for c, _ in evicted] == ["old"] and "cap" in evicted[0][1]
    assert root.reserve(400_000, rescan=True)
    assert [c.call_id for c in root.calls()] == ["live"]


def test_spool_settings(tmp_path):
    s = build_settings(agent_id="a", base_url="http://127.0.0.1:1", env={"ROARK_SPOOL_DIR": str(tmp_path)})
    assert s.spool_dir == tmp_path
    assert build_settings(agent_id="a", base_url="http://127.0.0.1:1", spool_dir=False, env={}).spool_dir is None
    assert build_settings(agent_id="a", base_url="http://127.0.0.1:1", env={"ROARK_SPOOL_DIR": "off"}).spool_dir is None
    assert default_spool_dir({"XDG_STATE_HOME": "/x"}).as_posix() == "/x/pipecat-roark/spool"
    with pytest.raises(TypeError, match="or False to turn the disk spool off"):
        build_settings(agent_id="a", base_url="http://127.0.0.1:1", spool_dir=3, env={})
    with pytest.raises(ValueError, match="spool_max_bytes"):
        build_settings(agent_id="a", base_url="http://127.0.0.1:1", spool_max_bytes=10, env={})


def test_meta_carries_no_secret(tmp_path):
    spool = _open(tmp_path / "spool", agentId="a")
    meta = json.loads((spool.path / "meta.json").read_text())
    assert meta["format"] == 1 and "apiKey" not in meta and "headers" not in meta
