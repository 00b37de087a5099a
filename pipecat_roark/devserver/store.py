"""Durable storage of everything the dev server received.

Layout of a data directory:

    <data_dir>/devserver.sqlite3            calls, raw events, upload tokens, chunk bookkeeping, problems, spans
    <data_dir>/audio/<safe call id>/<index>.pcm   one file per chunk index (last upload wins, as on S3)

Every write is committed before the HTTP response goes out, so stopping the
server (or killing it) and starting another on the same directory loses
nothing that a client was told had succeeded. Rows are small and chunk files
are ~256 KiB; writing them inline on the event loop costs well under a
millisecond to a few, which is fine for a dev server and keeps this simple.

One arrival counter (`seq`) is shared by events, chunk uploads and recorded
problems, so the relative order of "chunk 3 arrived" and "call-ended arrived"
is known exactly (timestamps can tie).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from . import checks, otlp, wav
from .checks import ChunkUpload

DB_NAME = "devserver.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    call_id     TEXT PRIMARY KEY,
    first_seen  TEXT NOT NULL,
    first_seq   INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    seq         INTEGER PRIMARY KEY,
    call_id     TEXT,              -- NULL when the body named no call (still kept, raw)
    received_at TEXT NOT NULL,
    status      INTEGER NOT NULL,  -- what the server answered
    body        TEXT NOT NULL      -- exactly as received (decoded as UTF-8)
);
CREATE INDEX IF NOT EXISTS events_call ON events(call_id, seq);
CREATE TABLE IF NOT EXISTS tokens (
    token        TEXT PRIMARY KEY,
    call_id      TEXT NOT NULL,
    chunk_index  INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    signature    TEXT NOT NULL,    -- the X-Amz-Signature query value the PUT must carry back
    issued_at    REAL NOT NULL,    -- wall clock, so expiry survives a restart
    expires_at   REAL NOT NULL,
    used_at      REAL
);
CREATE TABLE IF NOT EXISTS chunks (
    seq          INTEGER PRIMARY KEY,
    call_id      TEXT NOT NULL,
    chunk_index  INTEGER NOT NULL,
    size         INTEGER NOT NULL,
    digest       TEXT NOT NULL,
    path         TEXT NOT NULL,    -- relative to the data dir
    received_at  TEXT NOT NULL,
    content_type TEXT,
    token        TEXT
);
CREATE INDEX IF NOT EXISTS chunks_call ON chunks(call_id, chunk_index, seq);
CREATE TABLE IF NOT EXISTS problems (
    seq         INTEGER PRIMARY KEY,  -- first occurrence
    call_id     TEXT NOT NULL,
    at          TEXT NOT NULL,
    text        TEXT NOT NULL,
    count       INTEGER NOT NULL DEFAULT 1,  -- the same problem on every request shows once, counted
    UNIQUE(call_id, text)
);
CREATE INDEX IF NOT EXISTS problems_call ON problems(call_id, seq);
CREATE TABLE IF NOT EXISTS spans (
    seq            INTEGER PRIMARY KEY,
    call_id        TEXT,           -- from the resource (pipecat.call.id / roark.external_id); NULL if none
    trace_id       TEXT NOT NULL,  -- hex
    span_id        TEXT NOT NULL,  -- hex
    parent_span_id TEXT,
    name           TEXT NOT NULL,
    start_ns       INTEGER NOT NULL,
    end_ns         INTEGER NOT NULL,
    received_at    TEXT NOT NULL,
    body           TEXT NOT NULL,  -- the normalised span (otlp.py), JSON
    UNIQUE(trace_id, span_id)      -- an exporter's retry of a delivered batch counts once
);
CREATE INDEX IF NOT EXISTS spans_call ON spans(call_id, seq);
"""


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def safe_call_id(call_id: str) -> str:
    """A directory name for a call id: readable, and unique via a short hash.

    Call ids come from clients, so they may hold '/', '..' or anything else;
    the hash keeps two ids that sanitize alike ("a/b", "a_b") apart.
    """
    readable = re.sub(r"[^A-Za-z0-9._-]", "_", call_id)[:64].lstrip(".") or "call"
    return f"{readable}-{hashlib.sha256(call_id.encode('utf-8')).hexdigest()[:10]}"


@dataclass(frozen=True)
class EventRow:
    seq: int
    received_at: str
    status: int
    raw: str
    payload: Any  # parsed JSON, or None if the body was not JSON


@dataclass(frozen=True)
class ChunkRow:
    index: int
    size: int
    digest: str
    seq: int
    received_at: str
    content_type: Optional[str]
    path: str


@dataclass(frozen=True)
class TokenInfo:
    token: str
    call_id: str
    chunk_index: int
    content_type: str
    signature: str
    issued_at: float
    expires_at: float
    used_at: Optional[float]

    def expired(self, now: Optional[float] = None) -> bool:
        return (time.time() if now is None else now) >= self.expires_at


@dataclass
class CallRecord:
    """Everything known about one call, problems derived at read time."""

    call_id: str
    first_seen: str
    events: list[dict]  # parsed event bodies, arrival order
    started: Optional[dict]  # first call-started
    ended: Optional[dict]  # first call-ended
    chunks: dict[int, int]  # index -> bytes of the upload that counts (the last one)
    problems: list[str]
    event_rows: list[EventRow] = field(default_factory=list)
    uploads: list[ChunkRow] = field(default_factory=list)  # every successful PUT, duplicates included
    recorded_problems: list[str] = field(default_factory=list)  # found at request time (headers etc.)
    spans: list[dict] = field(default_factory=list)  # OTLP spans of this call (otlp.py's shape), arrival order

    @property
    def complete(self) -> bool:
        return self.ended is not None


class Store:
    """SQLite + chunk files in one data directory. Safe to call from any thread."""

    def __init__(self, data_dir: str | os.PathLike) -> None:
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.audio_dir = self.data_dir / "audio"
        self.audio_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn: Optional[sqlite3.Connection] = None
        self._seq = self._max_seq()

    @property
    def _db(self) -> sqlite3.Connection:
        # Opened on demand, so a test can still read a stopped server's store
        # (`async with DevServer(...)`, then assert on server.store).
        if self._conn is None:
            # isolation_level=None: autocommit; each statement is durable on return.
            conn = sqlite3.connect(str(self.data_dir / DB_NAME), isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
            self._conn = conn
        return self._conn

    def close(self) -> None:
        """Release the database connection; a later call opens it again."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    # ---- writes -------------------------------------------------------------

    def _max_seq(self) -> int:
        q = "SELECT MAX(m) FROM (SELECT MAX(seq) m FROM events UNION ALL SELECT MAX(seq) FROM chunks UNION ALL SELECT MAX(seq) FROM problems UNION ALL SELECT MAX(first_seq) FROM calls UNION ALL SELECT MAX(seq) FROM spans)"
        return self._db.execute(q).fetchone()[0] or 0

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _touch_call(self, call_id: str, seq: int) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO calls(call_id, first_seen, first_seq) VALUES (?, ?, ?)",
            (call_id, _now_iso(), seq),
        )

    def record_event(self, call_id: Optional[str], raw: str, status: int) -> int:
        """Store an event body exactly as received. Returns its arrival seq."""
        with self._lock:
            seq = self._next_seq()
            if call_id is not None:
                self._touch_call(call_id, seq)
            self._db.execute(
                "INSERT INTO events(seq, call_id, received_at, status, body) VALUES (?, ?, ?, ?, ?)",
                (seq, call_id, _now_iso(), status, raw),
            )
            return seq

    def record_problem(self, call_id: str, text: str) -> None:
        """A problem only visible at request time (headers, token misuse...)."""
        with self._lock:
            seq = self._next_seq()
            self._touch_call(call_id, seq)
            self._db.execute(
                "INSERT INTO problems(seq, call_id, at, text) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(call_id, text) DO UPDATE SET count = count + 1",
                (seq, call_id, _now_iso(), text),
            )

    def issue_token(self, call_id: str, chunk_index: int, content_type: str, ttl_s: float) -> TokenInfo:
        """A fresh single-use upload token (and the signature the URL carries)."""
        now = time.time()
        info = TokenInfo(
            token=secrets.token_urlsafe(24),
            call_id=call_id,
            chunk_index=chunk_index,
            content_type=content_type,
            signature=secrets.token_hex(32),
            issued_at=now,
            expires_at=now + ttl_s,
            used_at=None,
        )
        with self._lock:
            self._touch_call(call_id, self._next_seq())
            self._db.execute(
                "INSERT INTO tokens(token, call_id, chunk_index, content_type, signature, issued_at, expires_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (info.token, call_id, chunk_index, content_type, info.signature, now, info.expires_at),
            )
        return info

    def token_info(self, token: str) -> Optional[TokenInfo]:
        with self._lock:
            row = self._db.execute(
                "SELECT token, call_id, chunk_index, content_type, signature, issued_at, expires_at, used_at"
                " FROM tokens WHERE token = ?",
                (token,),
            ).fetchone()
        return TokenInfo(*row) if row else None

    def consume_token(self, token: str) -> bool:
        """Mark a token used; False if it was already used (single use, race-free)."""
        with self._lock:
            cur = self._db.execute(
                "UPDATE tokens SET used_at = ? WHERE token = ? AND used_at IS NULL", (time.time(), token)
            )
            return cur.rowcount == 1

    def expire_token(self, token: str) -> None:
        """Make a token expired now (fault injection: "the URL expired in flight")."""
        with self._lock:
            self._db.execute(
                "UPDATE tokens SET expires_at = MIN(expires_at, ?) WHERE token = ?", (time.time(), token)
            )

    def save_chunk(
        self, call_id: str, index: int, data: bytes, content_type: Optional[str] = None, token: Optional[str] = None
    ) -> ChunkRow:
        """Write a chunk file (atomically) and its bookkeeping row."""
        call_dir = self.audio_dir / safe_call_id(call_id)
        call_dir.mkdir(parents=True, exist_ok=True)
        final = call_dir / f"{index}.pcm"
        tmp = call_dir / f".{index}.{secrets.token_hex(4)}.tmp"
        tmp.write_bytes(data)
        os.replace(tmp, final)  # a reader never sees half a chunk
        digest = hashlib.sha256(data).hexdigest()
        rel = str(final.relative_to(self.data_dir))
        with self._lock:
            seq = self._next_seq()
            self._touch_call(call_id, seq)
            received = _now_iso()
            self._db.execute(
                "INSERT INTO chunks(seq, call_id, chunk_index, size, digest, path, received_at, content_type, token)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (seq, call_id, index, len(data), digest, rel, received, content_type, token),
            )
        return ChunkRow(index, len(data), digest, seq, received, content_type, rel)

    def record_spans(self, spans: list[dict]) -> int:
        """Store normalised spans (otlp.decode_request), each with the call its resource names.

        Returns how many were new (a span already stored is ignored).
        """
        stored = 0
        with self._lock:
            for span in spans:
                call_id = otlp.call_id_of(span)
                seq = self._next_seq()
                if call_id is not None:
                    self._touch_call(call_id, seq)
                cur = self._db.execute(
                    "INSERT OR IGNORE INTO spans(seq, call_id, trace_id, span_id, parent_span_id, name, start_ns,"
                    " end_ns, received_at, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        seq, call_id, span["traceId"], span["spanId"], span.get("parentSpanId"), span["name"],
                        span["startTimeUnixNano"], span["endTimeUnixNano"], _now_iso(),
                        json.dumps(span, ensure_ascii=False),
                    ),
                )
                stored += cur.rowcount
        return stored

    def spans(self, call_id: Optional[str]) -> list[dict]:
        """A call's spans in arrival order (call_id None: spans that named no call)."""
        with self._lock:
            if call_id is None:
                rows = self._db.execute("SELECT body FROM spans WHERE call_id IS NULL ORDER BY seq").fetchall()
            else:
                rows = self._db.execute("SELECT body FROM spans WHERE call_id = ? ORDER BY seq", (call_id,)).fetchall()
        return [json.loads(r[0]) for r in rows]

    # ---- reads --------------------------------------------------------------

    def call_ids(self) -> list[str]:
        """Newest first."""
        with self._lock:
            rows = self._db.execute("SELECT call_id FROM calls ORDER BY first_seq DESC").fetchall()
        return [r[0] for r in rows]

    def list_calls(self) -> list[CallRecord]:
        """Every call, newest first."""
        return [rec for rec in (self.get_call(cid) for cid in self.call_ids()) if rec is not None]

    def get_call(self, call_id: str) -> Optional[CallRecord]:
        with self._lock:
            row = self._db.execute("SELECT first_seen FROM calls WHERE call_id = ?", (call_id,)).fetchone()
            if row is None:
                return None
            ev_rows = self._db.execute(
                "SELECT seq, received_at, status, body FROM events WHERE call_id = ? ORDER BY seq", (call_id,)
            ).fetchall()
            ch_rows = self._db.execute(
                "SELECT chunk_index, size, digest, seq, received_at, content_type, path FROM chunks"
                " WHERE call_id = ? ORDER BY seq",
                (call_id,),
            ).fetchall()
            pr_rows = self._db.execute(
                "SELECT text, count FROM problems WHERE call_id = ? ORDER BY seq", (call_id,)
            ).fetchall()
            sp_rows = self._db.execute("SELECT body FROM spans WHERE call_id = ? ORDER BY seq", (call_id,)).fetchall()

        event_rows = [EventRow(s, at, st, body, _parse(body)) for s, at, st, body in ev_rows]
        uploads = [ChunkRow(*r) for r in ch_rows]
        events = [e.payload for e in event_rows if isinstance(e.payload, dict)]
        started = next((e for e in events if e.get("event") == "call-started"), None)
        ended = next((e for e in events if e.get("event") == "call-ended"), None)
        chunks: dict[int, int] = {}
        for u in uploads:  # seq order: the last upload of an index wins
            chunks[u.index] = u.size
        recorded = [text if n == 1 else f"{text} ({n} times)" for text, n in pr_rows]
        spans = [json.loads(r[0]) for r in sp_rows]
        return CallRecord(
            call_id=call_id,
            first_seen=row[0],
            events=events,
            started=started,
            ended=ended,
            chunks=dict(sorted(chunks.items())),
            problems=recorded + derive_problems(event_rows, uploads) + otlp.check_traces(started, ended, spans),
            event_rows=event_rows,
            uploads=uploads,
            recorded_problems=recorded,
            spans=spans,
        )

    def upload_url_requests(self, call_id: str) -> int:
        """How many upload URLs this call asked for (each request issues one token)."""
        with self._lock:
            row = self._db.execute("SELECT COUNT(*) FROM tokens WHERE call_id = ?", (call_id,)).fetchone()
        return int(row[0])

    def chunk_data(self, call_id: str) -> dict[int, bytes]:
        """index -> bytes of the upload that counts (files hold the last upload)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT chunk_index, path FROM chunks WHERE call_id = ? ORDER BY seq", (call_id,)
            ).fetchall()
        paths = dict(rows)  # last path per index
        return {i: (self.data_dir / p).read_bytes() for i, p in sorted(paths.items())}

    def pcm(self, call_id: str) -> bytes:
        """Chunks concatenated in index order (gaps skipped, as Roark does)."""
        data, _ = wav.stitch(self.chunk_data(call_id))
        return data

    def recording_format(self, call_id: str, default_rate: int = wav.DEFAULT_RATE) -> wav.RecordingFormat:
        rec = self.get_call(call_id)
        return wav.recording_format(rec.ended if rec else None, default_rate)

    def wav_bytes(self, call_id: str, default_rate: int = wav.DEFAULT_RATE) -> bytes:
        """The WAV Roark would build; stereo at default_rate until call-ended says."""
        fmt = self.recording_format(call_id, default_rate)
        return wav.to_wav(self.pcm(call_id), fmt.rate, fmt.channels)


def _parse(body: str) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def derive_problems(event_rows: list[EventRow], uploads: list[ChunkRow]) -> list[str]:
    """Payload problems of each event, then whole-call problems (pure)."""
    problems: list[str] = []
    for n, row in enumerate(event_rows, 1):
        label = row.payload.get("event") if isinstance(row.payload, dict) else None
        prefix = f"event #{n} ({label})" if isinstance(label, str) else f"event #{n}"
        if row.payload is None:
            problems.append(f"{prefix}: body is not valid JSON")
            continue
        problems += [f"{prefix}: {p}" for p in checks.check_event(row.payload)]
    problems += checks.check_call(
        [(r.seq, r.payload) for r in event_rows],
        [ChunkUpload(u.index, u.size, u.digest, u.seq) for u in uploads],
    )
    return problems
