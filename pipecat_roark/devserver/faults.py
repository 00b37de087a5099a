"""Fault injection for tests: make an endpoint misbehave in a planned way.

Endpoints are named "event" (A: POST /v1/integrations/pipecat),
"upload_url" (B: POST .../chunk-upload-url) and "put" (C: PUT /upload/<token>).

Each endpoint has a queue of planned faults. Every request to the endpoint
takes (consumes) the next one; when the queue is empty the endpoint behaves
normally. So `set("event", statuses=[500, 502])` fails exactly the next two
events and lets the third through, with no timing involved. The one
time-based fault, `down_seconds`, is a window instead of a queue entry.

This module decides *what* should happen; app.py turns a Fault into an HTTP
response (or a dropped connection), keeping this part free of I/O.

Requests are counted per endpoint whether or not a fault hit them, so a test
can assert how many attempts a client made.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Optional, Sequence

ENDPOINTS = ("event", "upload_url", "put")
MALFORMED_KINDS = ("not_json", "no_upload_url", "empty")


@dataclass(frozen=True)
class Fault:
    """One planned misbehaviour for one request.

    kind:
      "status"    respond `status` (with `retry_after` as a Retry-After header if set)
      "hang"      do not respond for `seconds` (None: until the server stops); then
                  drop the connection unprocessed (`then="drop"`) or, if the client
                  is still connected, process it normally (`then="respond"`, a
                  slow server)
      "malformed" respond 200 with a bad body (`malformed` in MALFORMED_KINDS)
      "expired"   PUT only: 403 as an object store answers an expired presigned URL
      "down"      drop the connection without any response
    """

    kind: str
    status: Optional[int] = None
    retry_after: Optional[str] = None
    seconds: Optional[float] = None
    malformed: Optional[str] = None
    then: str = "drop"


class Faults:
    """Planned faults and request counters, per endpoint. Thread-safe, cheap."""

    def __init__(self, clock=time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._queues: dict[str, deque[Fault]] = {e: deque() for e in ENDPOINTS}
        self._down_until: dict[str, float] = {e: 0.0 for e in ENDPOINTS}
        self._counts: dict[str, int] = {e: 0 for e in ENDPOINTS}

    # ---- planning ---------------------------------------------------------

    def set(self, endpoint: str, **kind) -> None:
        """Replace the endpoint's plan with one kind of fault. See add()."""
        self._check_endpoint(endpoint)
        with self._lock:
            self._queues[endpoint].clear()
            self._down_until[endpoint] = 0.0
        self.add(endpoint, **kind)

    def add(
        self,
        endpoint: str,
        *,
        statuses: Optional[Sequence[int]] = None,
        retry_after: Optional[float | int | str] = None,
        hang_seconds: Optional[float] = None,
        hang_forever: bool = False,
        hang_then: str = "drop",
        malformed: Optional[str] = None,
        expired: int = 0,
        down: int = 0,
        down_seconds: Optional[float] = None,
        count: int = 1,
    ) -> None:
        """Append faults to the endpoint's queue (exactly one kind per call).

        statuses=[500, 503]        the next requests get these statuses, in order
          retry_after=2            ... each with `Retry-After: 2`
        hang_seconds=5, count=1    the next `count` requests hang 5 s, then are dropped
        hang_forever=True          ... hang until the server stops
          hang_then="respond"      ... then answer normally instead of dropping
        malformed="not_json"       the next `count` requests get a 200 with a bad body
                  "no_upload_url"  (B) JSON without uploadUrl; "empty" an empty body
        expired=N                  (put) the next N PUTs get 403 "Request has expired"
        down=N                     the next N requests have their connection dropped
        down_seconds=T             every request in the next T seconds is dropped
        """
        self._check_endpoint(endpoint)
        given = [
            statuses is not None,
            hang_seconds is not None or hang_forever,
            malformed is not None,
            expired > 0,
            down > 0,
            down_seconds is not None,
        ]
        if sum(given) != 1:
            raise ValueError("give exactly one fault kind per set()/add() call")
        if retry_after is not None and statuses is None:
            raise ValueError("retry_after goes with statuses=[...]")
        if expired and endpoint != "put":
            raise ValueError("expired= applies to the 'put' endpoint only")
        if malformed is not None and malformed not in MALFORMED_KINDS:
            raise ValueError(f"malformed must be one of {MALFORMED_KINDS}")
        if hang_then not in ("drop", "respond"):
            raise ValueError("hang_then must be 'drop' or 'respond'")
        if count < 1:
            raise ValueError("count must be >= 1")

        planned: list[Fault] = []
        if statuses is not None:
            ra = None if retry_after is None else _retry_after_text(retry_after)
            for s in statuses:
                if not 100 <= int(s) <= 599:
                    raise ValueError(f"not an HTTP status: {s}")
                planned.append(Fault("status", status=int(s), retry_after=ra))
        elif hang_seconds is not None or hang_forever:
            seconds = None if hang_forever else float(hang_seconds)  # type: ignore[arg-type]
            planned = [Fault("hang", seconds=seconds, then=hang_then)] * count
        elif malformed is not None:
            planned = [Fault("malformed", malformed=malformed)] * count
        elif expired:
            planned = [Fault("expired", status=403)] * expired
        elif down:
            planned = [Fault("down")] * down
        with self._lock:
            if down_seconds is not None:
                self._down_until[endpoint] = self._clock() + float(down_seconds)
            self._queues[endpoint].extend(planned)

    def clear(self, endpoint: Optional[str] = None) -> None:
        """Drop planned faults (all endpoints, or one). Counters are kept."""
        with self._lock:
            for e in [endpoint] if endpoint else ENDPOINTS:
                self._check_endpoint(e)
                self._queues[e].clear()
                self._down_until[e] = 0.0

    def reset(self) -> None:
        """clear() and zero the counters."""
        self.clear()
        with self._lock:
            for e in ENDPOINTS:
                self._counts[e] = 0

    # ---- consumption (called by the app once per request) -------------------

    def take(self, endpoint: str) -> Optional[Fault]:
        """Count the request and return the fault it must suffer, if any."""
        self._check_endpoint(endpoint)
        with self._lock:
            self._counts[endpoint] += 1
            if self._clock() < self._down_until[endpoint]:
                return Fault("down")
            queue = self._queues[endpoint]
            return queue.popleft() if queue else None

    # ---- inspection ---------------------------------------------------------

    def count(self, endpoint: str) -> int:
        """Requests seen by the endpoint (faulted ones included)."""
        self._check_endpoint(endpoint)
        with self._lock:
            return self._counts[endpoint]

    @property
    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def pending(self, endpoint: str) -> int:
        """Planned faults not consumed yet (the down_seconds window not included)."""
        self._check_endpoint(endpoint)
        with self._lock:
            return len(self._queues[endpoint])

    @staticmethod
    def _check_endpoint(endpoint: str) -> None:
        if endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}; use one of {ENDPOINTS}")


def _retry_after_text(value: float | int | str) -> str:
    # Retry-After is integral seconds (or an HTTP date) on the wire; pass a
    # string through so a test can send an HTTP date or a fractional value.
    if isinstance(value, str):
        return value
    return str(int(value)) if float(value).is_integer() else str(value)
