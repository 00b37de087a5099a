"""A local Roark-compatible server: see offline exactly what Roark would receive.

`pipecat-roark dev` runs it; tests start it in-process:

    async with DevServer(data_dir=tmp_path) as server:
        ...  # point the client at server.base_url
        rec = await server.wait_for_call_ended(call_id)

Modules: checks (contract rules, pure), wav (stitching and peaks, pure),
faults (fault plans for tests), store (SQLite + chunk files), view (page
data and the export page, pure), app (aiohttp handlers), server (DevServer).
"""

from .faults import Fault, Faults
from .server import DevServer
from .store import CallRecord, Store

__all__ = ["CallRecord", "DevServer", "Fault", "Faults", "Store"]
