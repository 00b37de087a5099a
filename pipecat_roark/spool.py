"""The disk spool: what could not reach Roark in time waits here.

One directory per call under the spool root, named from the call id (never
from a key or a URL)::

    <root>/<call-key>/
        meta.json          who wrote it, for which Roark, the recording format
        lock               held (flock) by the process that owns the call, or by a replayer
        journal.jsonl      one line per fact: chunk produced / delivered / spooled, call-started delivered
        started.json       call-started, until Roark has it
        chunk-000012.pcm   a recording chunk, until Roark has it
        ended.json         call-ended, written when the call was finalized with something undelivered

The directory is created when the call starts and removed once Roark has
everything, so a crash at any point leaves enough to finish the call later:
``meta.json`` + ``journal.jsonl`` say what existed, the files say what is
still to send, and a free lock with no ``ended.json`` means the process that
owned the call died (the kernel drops an flock with its holder).

Every write is atomic (temporary file, then rename) with mode 0600 in a 0700
directory. This module does blocking file I/O and nothing else; the call
path reaches it through ``SpoolIO`` (one worker thread, FIFO), never on the
event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import shutil
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

try:  # POSIX; elsewhere the spool works without cross-process locks
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

SPOOL_FORMAT = 1
DEFAULT_MAX_BYTES = 1024 * 1024 * 1024
_CHUNK_RE = re.compile(r"^chunk-(\d{6,})\.pcm$")


def default_spool_dir(env: Mapping[str, str] = os.environ) -> Path:
    """``ROARK_SPOOL_DIR``, else a per-user state directory."""
    explicit = (env.get("ROARK_SPOOL_DIR") or "").strip()  # empty means unset
    if explicit:
        return Path(explicit).expanduser()
    if sys.platform == "win32":  # pragma: no cover
        base = env.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "pipecat-roark" / "spool"
    if sys.platform == "darwin":  # pragma: no cover
        return Path.home() / "Library" / "Application Support" / "pipecat-roark" / "spool"
    base = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "pipecat-roark" / "spool"


def call_key(call_id: str) -> str:
    """A directory name for a call: readable, filesystem-safe, unique."""
    readable = re.sub(r"[^A-Za-z0-9_-]", "_", call_id)[:48]
    digest = hashlib.sha256(call_id.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{readable}-{digest}"


def chunk_name(index: int) -> str:
    return f"chunk-{index:06d}.pcm"


def atomic_write(path: Path, data: bytes, *, sync: bool = True) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _dump(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass")


def load_json(path: Path) -> Any:
    return json.loads(path.read_bytes().decode("utf-8", "surrogatepass"))


class SpoolBusy(Exception):
    """Another process holds this call's lock."""


class CallLock:
    """An exclusive, non-blocking flock on a call directory's ``lock`` file."""

    def __init__(self, directory: Path):
        self._path = directory / "lock"
        self._fd: Optional[int] = None

    def acquire(self) -> None:
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise SpoolBusy(str(self._path.parent.name)) from None
        self._fd = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing drops the flock

    @property
    def held(self) -> bool:
        return self._fd is not None


@dataclass
class Journal:
    """What a call's journal says happened."""

    started_delivered: bool = False
    produced: dict[int, int] = field(default_factory=dict)  # index -> bytes
    delivered: set[int] = field(default_factory=set)
    #: (sample rate, channels) as chunks reported them, in order.
    formats: list[tuple[Optional[int], Optional[int]]] = field(default_factory=list)
    last_write: Optional[float] = None

    @classmethod
    def read(cls, path: Path) -> "Journal":
        journal = cls()
        try:
            raw = path.read_bytes()
            journal.last_write = path.stat().st_mtime
        except FileNotFoundError:
            return journal
        for line in raw.splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue  # a line torn by a crash
            kind = rec.get("k")
            if kind == "started":
                journal.started_delivered = True
            elif kind == "chunk":
                journal.produced[int(rec["i"])] = int(rec["n"])
                if rec.get("sr"):
                    journal.formats.append((rec.get("sr"), rec.get("ch")))
            elif kind == "delivered":
                journal.delivered.add(int(rec["i"]))
            elif kind == "discarded":  # roark.discard_audio(): these were never to be sent
                for index in rec.get("i") or ():
                    journal.produced.pop(int(index), None)
        return journal


@dataclass
class SpooledCall:
    """One call directory, as found on disk."""

    key: str
    path: Path
    meta: dict[str, Any]
    has_started: bool
    chunks: list[int]
    has_ended: bool
    size: int
    mtime: float

    @property
    def call_id(self) -> str:
        return str(self.meta.get("callId", self.key))


class CallSpool:
    """One call's directory, owned by the process running the call. Blocking I/O."""

    def __init__(self, root: Path, call_id: str):
        self.root = root
        self.call_id = call_id
        self.path = root / call_key(call_id)
        self._lock = CallLock(self.path)
        self._journal_fd: Optional[int] = None

    # -- owner side ---------------------------------------------------------

    def open(self, meta: dict[str, Any], started: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path.mkdir(exist_ok=True, mode=0o700)
        self._lock.acquire()
        atomic_write(self.path / "meta.json", _dump({"format": SPOOL_FORMAT, **meta}), sync=False)
        atomic_write(self.path / "started.json", _dump(started), sync=False)
        self._journal_fd = os.open(self.path / "journal.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def journal(self, **record: Any) -> None:
        self.journal_lines([record])

    def journal_lines(self, records: list[dict[str, Any]]) -> None:
        """Append records to the journal, in one write (a line each)."""
        if self._journal_fd is not None and records:
            os.write(self._journal_fd, b"".join(_dump(r) + b"\n" for r in records))

    def put_chunk(self, index: int, data: bytes) -> None:
        atomic_write(self.path / chunk_name(index), data)

    def read_chunk(self, index: int) -> bytes:
        return (self.path / chunk_name(index)).read_bytes()

    def drop(self, name: str) -> None:
        try:
            (self.path / name).unlink()
        except FileNotFoundError:
            pass

    def put_ended(self, payload: dict[str, Any]) -> None:
        atomic_write(self.path / "ended.json", _dump(payload))

    def close(self, *, delivered: bool) -> None:
        """Release the call. Everything delivered: the directory goes too."""
        if self._journal_fd is not None:
            os.close(self._journal_fd)
            self._journal_fd = None
        if delivered:
            shutil.rmtree(self.path, ignore_errors=True)
        self._lock.release()


class Spool:
    """The spool root: listing, locking for replay, the size cap. Blocking I/O."""

    _shared: dict[tuple[str, int], "Spool"] = {}
    #: Calls this process evicted to stay under the cap (each is also logged).
    evicted_calls = 0

    def __init__(self, root: Path, max_bytes: int = DEFAULT_MAX_BYTES):
        self.root = Path(root)
        self.max_bytes = max_bytes
        self._usage: Optional[int] = None
        self._scanned = 0.0

    @classmethod
    def at(cls, root: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> "Spool":
        """The process's one Spool object for a directory (it caches the directory's size)."""
        key = (str(Path(root).expanduser()), max_bytes)
        spool = cls._shared.get(key)
        if spool is None:
            spool = cls._shared[key] = cls(Path(key[0]), max_bytes)
        return spool

    def calls(self) -> list[SpooledCall]:
        """Every call directory, oldest first."""
        found = []
        try:
            entries = list(os.scandir(self.root))
        except FileNotFoundError:
            return []
        for entry in entries:
            if not entry.is_dir(follow_symlinks=False) or entry.name.startswith("."):
                continue
            call = self.inspect(Path(entry.path))
            if call is not None:
                found.append(call)
        found.sort(key=lambda c: c.mtime)
        return found

    def inspect(self, path: Path) -> Optional[SpooledCall]:
        try:
            meta = load_json(path / "meta.json")
        except (OSError, ValueError):
            meta = {}
        chunks, size, has_started, has_ended, mtime = [], 0, False, False, 0.0
        try:
            for entry in os.scandir(path):
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                size += st.st_size
                mtime = max(mtime, st.st_mtime)
                match = _CHUNK_RE.match(entry.name)
                if match:
                    chunks.append(int(match.group(1)))
                elif entry.name == "started.json":
                    has_started = True
                elif entry.name == "ended.json":
                    has_ended = True
        except FileNotFoundError:
            return None
        return SpooledCall(path.name, path, meta, has_started, sorted(chunks), has_ended, size, mtime)

    def usage(self) -> int:
        return sum(c.size for c in self.calls())

    def try_lock(self, call: SpooledCall) -> Optional[CallLock]:
        """The call's lock if nobody holds it (its owner is gone or done), else None."""
        lock = CallLock(call.path)
        try:
            lock.acquire()
        except (SpoolBusy, FileNotFoundError):
            return None
        return lock

    def is_free(self, call: SpooledCall) -> bool:
        """Nobody holds the call's lock now (its process is done or dead, no replay has it)."""
        lock = self.try_lock(call)
        if lock is None:
            return False
        lock.release()
        return True

    def make_room(self, needed: int, keep: str) -> list[tuple[SpooledCall, str]]:
        """Evict the oldest unlocked calls until ``needed`` more bytes fit under the cap.

        Returns what was evicted, with the reason, so the caller can count
        and log it. Calls whose lock is held (running, or being replayed)
        are never evicted; ``keep`` (the asking call) neither.
        """
        calls = self.calls()
        total = sum(c.size for c in calls)
        evicted = []
        for call in calls:
            if total + needed <= self.max_bytes:
                break
            if call.key == keep:
                continue
            lock = self.try_lock(call)
            if lock is None:
                continue
            try:
                shutil.rmtree(call.path, ignore_errors=True)
            finally:
                lock.release()
            total -= call.size
            Spool.evicted_calls += 1
            evicted.append((call, f"spool over its {self.max_bytes // (1024 * 1024)} MiB cap"))
        return evicted

    def reserve(self, nbytes: int, rescan: bool = False) -> bool:
        """Count ``nbytes`` against the cap if they fit (spool thread only: no lock).

        The directory's size is rescanned every few seconds, so other
        processes' writes and replays are seen without a scan per write.
        """
        now = time.monotonic()
        if rescan or self._usage is None or now - self._scanned > 5.0:
            self._usage, self._scanned = self.usage(), now
        if self._usage + nbytes > self.max_bytes:
            return False
        self._usage += nbytes
        return True


class SpoolIO:
    """The spool's single worker thread: file I/O off the event loop, in submission order."""

    _executor: Optional[ThreadPoolExecutor] = None
    _guard = threading.Lock()

    @classmethod
    def submit(cls, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future:
        with cls._guard:
            if cls._executor is None:
                cls._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="roark-spool")
            executor = cls._executor
        return executor.submit(fn, *args, **kwargs)

    @classmethod
    async def run(cls, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.wrap_future(cls.submit(fn, *args, **kwargs))
