"""DevServer: start/stop the local Roark-compatible server in-process.

Used by the CLI (`pipecat-roark dev`) and by tests, which talk to it over
real loopback HTTP and then read what arrived through `server.store`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import time
from typing import Callable, Optional

from aiohttp import web
from loguru import logger

from . import wav
from .app import Settings, State, create_app
from .faults import Faults
from .store import CallRecord, Store


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a hostname other than localhost: could resolve anywhere


class DevServer:
    """A local server that speaks the Roark ingestion contract.

    >>> async with DevServer(data_dir=tmp_path) as server:
    ...     client_base_url = server.base_url
    ...     rec = await server.wait_for_call_ended("call-1")
    """

    def __init__(
        self,
        data_dir: str | os.PathLike,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: Optional[str] = None,
        wrap_upload_response: bool = True,
        upload_url_ttl: float = 900.0,
        default_rate: int = wav.DEFAULT_RATE,
    ) -> None:
        # Anyone who can reach a keyless server can fill it (and read every
        # call's audio): refuse that combination before binding anything.
        if not is_loopback(host) and not api_key:
            raise ValueError(
                f"refusing to listen on non-loopback host {host!r} without an API key; "
                "pass api_key (or --api-key / ROARK_DEV_API_KEY), or bind 127.0.0.1"
            )
        self.data_dir = data_dir
        self.host = host
        self._requested_port = port
        self.port: Optional[int] = None
        self.settings = Settings(
            api_key=api_key or None,
            wrap_upload_response=wrap_upload_response,
            upload_url_ttl=upload_url_ttl,
            protect_viewer=not is_loopback(host),
            default_rate=default_rate,
        )
        self.faults = Faults()
        self.store: Optional[Store] = None  # type: ignore[assignment]
        self._runner: Optional[web.AppRunner] = None
        self._stopping: Optional[asyncio.Event] = None
        self._changed: Optional[asyncio.Event] = None

    # ---- settings that tests flip at run time ---------------------------------

    @property
    def wrap_upload_response(self) -> bool:
        return self.settings.wrap_upload_response

    @wrap_upload_response.setter
    def wrap_upload_response(self, value: bool) -> None:
        self.settings.wrap_upload_response = bool(value)

    @property
    def upload_url_ttl(self) -> float:
        return self.settings.upload_url_ttl

    @upload_url_ttl.setter
    def upload_url_ttl(self, value: float) -> None:
        self.settings.upload_url_ttl = float(value)

    @property
    def api_key(self) -> Optional[str]:
        return self.settings.api_key

    # ---- lifecycle --------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError("DevServer not started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> "DevServer":
        if self._runner is not None:
            raise RuntimeError("DevServer already started")
        self.store = Store(self.data_dir)
        self._stopping = asyncio.Event()
        self._changed = asyncio.Event()
        state = State(self.store, self.faults, self.settings, self._stopping, self._notify)
        # Short shutdown timeout: a test's stop() must not wait a minute for a
        # client that keeps a connection open.
        runner = web.AppRunner(create_app(state), access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        try:
            sock = self._bind()
            await web.SockSite(runner, sock).start()
        except BaseException:
            await runner.cleanup()
            self.store.close()
            raise
        self._runner = runner
        self.port = sock.getsockname()[1]
        logger.info("pipecat-roark dev server listening on {} (data: {})", self.base_url, self.store.data_dir)
        return self

    def _bind(self) -> socket.socket:
        # Binding our own socket makes port=0 work without reaching into aiohttp internals.
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            if os.name != "nt":  # restart on the same port right after a stop (TIME_WAIT)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            host = "127.0.0.1" if self.host == "localhost" else self.host
            sock.bind((host, self._requested_port))
            sock.listen(128)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        return sock

    async def stop(self) -> None:
        if self._runner is None:
            return
        assert self._stopping is not None
        self._stopping.set()  # release hanging fault handlers first
        await self._runner.cleanup()
        self._runner = None
        if self.store is not None:
            self.store.close()
        logger.info("pipecat-roark dev server on port {} stopped", self.port)

    async def __aenter__(self) -> "DevServer":
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    # ---- waiting for clients ------------------------------------------------

    def _notify(self) -> None:
        # Wake every waiter; they re-check their condition against the store.
        if self._changed is not None:
            self._changed.set()
            self._changed = asyncio.Event()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """Wait until predicate() is true; re-checked after every stored change."""
        deadline = time.monotonic() + timeout
        while True:
            changed = self._changed  # take it before checking: no lost wake-up
            if predicate():
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0 or changed is None:
                raise TimeoutError(f"condition not met within {timeout} s")
            try:
                await asyncio.wait_for(changed.wait(), remaining)
            except asyncio.TimeoutError:
                pass

    async def wait_for_call_ended(self, call_id: str, timeout: float = 10.0) -> CallRecord:
        """The call's record once its call-ended is stored; TimeoutError otherwise."""
        found: list[CallRecord] = []

        def ended() -> bool:
            rec = self.store.get_call(call_id) if self.store is not None else None
            if rec is not None and rec.ended is not None:
                found.append(rec)
                return True
            return False

        try:
            await self.wait_for(ended, timeout)
        except TimeoutError:
            raise TimeoutError(f"no call-ended for call {call_id!r} within {timeout} s") from None
        return found[-1]
