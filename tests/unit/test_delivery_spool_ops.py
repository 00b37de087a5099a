"""CallDelivery's fire-and-forget spool operations (journal lines, drops): written
in order by the spool thread, and a failure still turns the spool off with one warning."""

import asyncio
import json

from pipecat_roark.client import RoarkClient
from pipecat_roark.delivery import CallDelivery
from pipecat_roark.spool import Spool, SpoolIO


class _Log:
    def __init__(self):
        self.warnings = []

    def warning(self, msg):
        self.warnings.append(msg)

    def __getattr__(self, name):  # debug/info/error: not looked at here
        return lambda *a, **k: None


def _delivery(tmp_path, log):
    client = RoarkClient("http://127.0.0.1:9", {}, 1.0)
    return CallDelivery(client, "call-ops", log=log, spool=Spool.at(tmp_path / "spool"))


def test_journal_lines_are_written_in_order(tmp_path):
    log = _Log()

    async def run():
        d = _delivery(tmp_path, log)
        d._spool_send("open", d._spool.open, {"callId": "call-ops"}, {"event": "call-started"})
        for i in range(50):
            d._journal(k="chunk", i=i, n=4)
            d._journal(k="delivered", i=i)
        await SpoolIO.run(lambda: None)  # the thread is FIFO: everything before is written
        return (d._spool.path / "journal.jsonl").read_text()

    lines = [json.loads(x) for x in asyncio.run(run()).splitlines()]
    assert [(r["k"], r["i"]) for r in lines] == [(k, i) for i in range(50) for k in ("chunk", "delivered")]
    assert log.warnings == []


def test_a_failing_operation_turns_the_spool_off_with_one_warning(tmp_path):
    log = _Log()

    def broken(*_a, **_k):
        raise OSError("disk on fire")

    async def run():
        d = _delivery(tmp_path, log)
        d._spool_send("journal", broken)
        d._spool_send("journal", broken)
        await SpoolIO.run(lambda: None)
        # The failures reach the loop through call_soon_threadsafe: give it a bounded chance to run them.
        for _ in range(100):
            if d._spool is None:
                break
            await asyncio.sleep(0.01)
        return d

    d = asyncio.run(run())
    assert d._spool is None
    assert len(log.warnings) == 1 and "disk on fire" in log.warnings[0] and "spool is unusable" in log.warnings[0]
