"""HTTP to Roark and nothing else.

One pooled aiohttp session per event loop, shared by every call running on
it and closed when the last of them is done. Auth headers go to Roark's own
endpoints only; the presigned PUT carries none (object stores reject a
request with an authorization header that was not part of the signature).
Errors are reported without URLs: a presigned URL is a credential.
"""

from __future__ import annotations

import asyncio
import re
import weakref
from typing import Any, Optional

import aiohttp
from yarl import URL

from .models import UploadUrl

EVENTS_PATH = "/v1/integrations/pipecat"
UPLOAD_URL_PATH = "/v1/integrations/pipecat/chunk-upload-url"
CONTENT_TYPE = "audio/pcm"
_URL_RE = re.compile(r"(https?://[^/\s?#'\"]+)[^\s'\"]*")


class RequestFailed(Exception):
    """A request that did not succeed; ``retryable`` says whether to try again."""

    def __init__(self, what: str, status: Optional[int], retryable: bool, retry_after: Optional[float] = None, detail: str = ""):
        self.what = what
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after
        self.detail = detail
        super().__init__(self.describe())

    def describe(self) -> str:
        status = f"HTTP {self.status}" if self.status is not None else "no response"
        return f"{self.what}: {status}{(' (' + self.detail + ')') if self.detail else ''}"


def redact(text: str) -> str:
    """Keep scheme://host of any URL, drop paths and queries (signatures)."""
    return _URL_RE.sub(r"\1/…", text)


def is_retryable_status(status: int) -> bool:
    return status in (408, 429) or 500 <= status <= 599


def parse_retry_after(value: Optional[str]) -> Optional[float]:
    if not value:
        return None
    try:
        secs = float(value)
    except ValueError:
        return None  # HTTP-date form: ignore, fall back to backoff
    return secs if secs >= 0 else None


def describe_exception(e: BaseException) -> str:
    if isinstance(e, asyncio.TimeoutError):
        return "timed out"
    return redact(f"{type(e).__name__}: {e}")[:300]


class _SessionPool:
    """A session per event loop, reference-counted by the calls using it.

    Keyed by the loop object itself (weakly): an id() can be reused by a later
    loop, which would then be handed a session bound to a dead one.
    """

    def __init__(self) -> None:
        self._by_loop: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[aiohttp.ClientSession, int]]" = (
            weakref.WeakKeyDictionary()
        )

    def acquire(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        session, users = self._by_loop.get(loop, (None, 0))
        if session is None or session.closed:
            session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=64, limit_per_host=32, ttl_dns_cache=300),
                # Individual requests carry their own timeouts.
                timeout=aiohttp.ClientTimeout(total=None),
            )
            users = 0
        self._by_loop[loop] = (session, users + 1)
        return session

    async def release(self, session: aiohttp.ClientSession) -> None:
        loop = asyncio.get_running_loop()
        current, users = self._by_loop.get(loop, (None, 0))
        if current is not session:
            return
        if users <= 1:
            del self._by_loop[loop]
            try:
                # Closing waits for open connections; it must not hold up a shutdown.
                await asyncio.wait_for(session.close(), 2.0)
            except (asyncio.TimeoutError, Exception):
                pass
        else:
            self._by_loop[loop] = (session, users - 1)


SESSIONS = _SessionPool()


class RoarkClient:
    def __init__(self, base_url: str, headers: dict[str, str], timeout_secs: float):
        self._base = base_url
        self._headers = dict(headers)
        self._timeout = timeout_secs
        self._session: Optional[aiohttp.ClientSession] = None

    @property
    def base_url(self) -> str:
        return self._base

    def open(self) -> None:
        if self._session is None:
            self._session = SESSIONS.acquire()

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await SESSIONS.release(session)

    def _timeout_for(self, budget: Optional[float]) -> aiohttp.ClientTimeout:
        total = self._timeout if budget is None else max(0.05, min(self._timeout, budget))
        return aiohttp.ClientTimeout(total=total)

    async def _json_request(self, what: str, path: str, body: dict[str, Any], budget: Optional[float]) -> Any:
        assert self._session is not None, "client not opened"
        try:
            async with self._session.post(
                self._base + path, json=body, headers=self._headers, timeout=self._timeout_for(budget)
            ) as resp:
                if 200 <= resp.status < 300:
                    try:
                        return await resp.json(content_type=None)
                    except (ValueError, aiohttp.ContentTypeError):
                        return None
                raise RequestFailed(
                    what, resp.status, is_retryable_status(resp.status), parse_retry_after(resp.headers.get("Retry-After"))
                )
        except RequestFailed:
            raise
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
            raise RequestFailed(what, None, True, detail=describe_exception(e)) from None

    async def post_event(self, payload: dict[str, Any], budget: Optional[float] = None) -> None:
        await self._json_request(payload.get("event", "event"), EVENTS_PATH, payload, budget)

    async def upload_url(self, call_id: str, index: int, budget: Optional[float] = None) -> UploadUrl:
        body = {"pipecatCallId": call_id, "chunkIndex": index, "contentType": CONTENT_TYPE}
        data = await self._json_request(f"chunk {index} upload-url", UPLOAD_URL_PATH, body, budget)
        try:
            return UploadUrl.from_response(data)
        except Exception:
            # A malformed answer is treated like a server hiccup: ask again.
            raise RequestFailed(f"chunk {index} upload-url", 200, True, detail="response without uploadUrl") from None

    async def put_chunk(self, index: int, url: str, data: bytes, budget: Optional[float] = None) -> None:
        assert self._session is not None, "client not opened"
        what = f"chunk {index} upload"
        try:
            # encoded=True: re-quoting the query would break the signature.
            async with self._session.put(
                URL(url, encoded=True), data=data, headers={"Content-Type": CONTENT_TYPE}, timeout=self._timeout_for(budget)
            ) as resp:
                if 200 <= resp.status < 300:
                    return
                # 403 on a presigned URL means expired or already used: a
                # retry with a fresh URL can succeed.
                retryable = is_retryable_status(resp.status) or resp.status in (400, 403)
                raise RequestFailed(what, resp.status, retryable, parse_retry_after(resp.headers.get("Retry-After")))
        except RequestFailed:
            raise
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError) as e:
            raise RequestFailed(what, None, True, detail=describe_exception(e)) from None
