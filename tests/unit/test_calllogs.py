"""Call log collection (calllogs.py): attribution, bounds, the shared sink. No pipeline here."""

import asyncio
import time

import pytest
from loguru import logger

from pipecat_roark.calllogs import CallLogCollector, LogLine, scrub, sink_installed
from pipecat_roark.redaction import build_redactor


@pytest.fixture(autouse=True)
def _no_stray_collectors():
    yield
    assert not sink_installed(), "a test left a collector open"


def _line(msg, level="WARNING", mono=0):
    return LogLine(wall=time.time(), mono_ns=mono, level=level, message=msg, logger="x")


def test_bounds_in_lines_and_bytes_are_counted():
    c = CallLogCollector("a", max_lines=3, max_bytes=1000)
    for i in range(5):
        c.add(_line(f"line {i}"))
    assert [l.message for l in c.lines] == ["line 0", "line 1", "line 2"] and c.dropped == 2
    c = CallLogCollector("b", max_lines=100, max_bytes=25)
    c.add(_line("x" * 20))
    c.add(_line("y" * 20))
    assert len(c.lines) == 1 and c.dropped == 1


def test_identical_consecutive_lines_fold():
    c = CallLogCollector("a")
    for _ in range(3):
        c.add(_line("same"))
    c.add(_line("other"))
    assert [(l.message, l.count) for l in c.lines] == [("same", 3), ("other", 1)]
    assert c.records()[0]["count"] == 3 and "count" not in c.records()[1]


def test_records_offsets_on_the_recording():
    c = CallLogCollector("a")
    c.add(_line("early", mono=1_000_000_000))
    c.add(_line("later", mono=3_500_000_000))
    recs = c.records(mono_origin_ns=2_000_000_000)
    assert "audioOffsetMs" not in recs[0]  # before sample 0: no negative offset
    assert recs[1]["audioOffsetMs"] == 1500
    assert recs[1]["timestamp"].endswith("Z") and recs[1]["level"] == "WARNING" and recs[1]["logger"] == "x"
    assert all("audioOffsetMs" not in r for r in c.records())


def test_scrub_removes_query_strings_and_tokens():
    s = scrub("PUT https://bucket.s3.amazonaws.com/k/0.pcm?X-Amz-Signature=abc&X-Amz-Credential=def failed")
    assert "X-Amz" not in s and "https://bucket.s3.amazonaws.com/k/0.pcm?[query removed]" in s
    assert "sekrit123" not in scrub("wss://api.x.com/v1/listen?token=sekrit123 closed")
    assert "abcdefghijkl" not in scrub("header Authorization: Bearer abcdefghijkl")
    assert "hunter22" not in scrub("api_key=hunter22 rejected")


def test_redaction_covers_log_messages():
    r = build_redactor(lambda t: t.replace("555-0100", "[PHONE]"))
    wire = {"logs": [{"message": "caller said 555-0100", "level": "WARNING", "timestamp": "t"}]}
    r.payload(wire)
    assert wire["logs"][0]["message"] == "caller said [PHONE]"


async def test_lines_are_attributed_by_task_context_and_by_call_id_tag():
    got = {}

    async def call(cid, other):
        c = CallLogCollector(cid)
        c.bind()
        got[cid] = c

        async def worker_task():  # created after bind, as Pipecat creates a worker's tasks
            await asyncio.sleep(0)
            logger.warning(f"pipecat says {cid}")
            logger.info(f"too low {cid}")
            logger.bind(pipecat_call_id=other).warning(f"roark line for {other} from {cid}'s task")

        await asyncio.create_task(worker_task())

    await asyncio.gather(call("one", "two"), call("two", "one"))
    logger.warning("a line of no call")
    try:
        assert sink_installed()
        one = sorted(l.message for l in got["one"].lines)
        two = sorted(l.message for l in got["two"].lines)
        assert one == ["pipecat says one", "roark line for one from two's task"]
        assert two == ["pipecat says two", "roark line for two from one's task"]
    finally:
        got["one"].close()
        assert sink_installed()  # "two" still uses it
        got["two"].close()
    assert not sink_installed()


async def test_level_is_per_collector_and_the_sink_follows_the_lowest():
    info = CallLogCollector("i", level="INFO")
    warn = CallLogCollector("w")

    async def run(c):
        c.bind()
        logger.info(f"info {c.call_id}")
        logger.error(f"error {c.call_id}")

    await asyncio.gather(run(info), run(warn))
    try:
        assert [l.message for l in info.lines] == ["info i", "error i"]
        assert [l.message for l in warn.lines] == ["error w"]
        assert info.lines[1].level == "ERROR"
    finally:
        info.close()
        warn.close()


async def test_two_live_calls_bound_in_one_task_keep_only_their_tagged_lines():
    a, b = CallLogCollector("a"), CallLogCollector("b")
    a.bind()
    b.bind()  # same task, a still live: the next tasks cannot be told apart

    async def worker():
        logger.warning("pipecat line of some call")
        logger.bind(pipecat_call_id="a").warning("roark line of a")

    await asyncio.gather(worker(), worker())
    try:
        assert not a.context_reliable and not b.context_reliable
        assert [l.message for l in a.lines] == ["roark line of a", "roark line of a"] or \
            [(l.message, l.count) for l in a.lines] == [("roark line of a", 2)]
        assert all("some call" not in l.message for l in a.lines + b.lines)
    finally:
        a.close()
        b.close()


async def test_a_finished_call_does_not_make_the_next_one_in_the_same_task_ambiguous():
    a = CallLogCollector("a")
    a.bind()
    a.close()
    b = CallLogCollector("b")
    b.bind()
    logger.warning("line of b")
    b.close()
    assert b.context_reliable and [l.message for l in b.lines] == ["line of b"] and a.lines == []


async def test_exception_lines_carry_the_exception_type_and_lines_after_close_are_ignored():
    c = CallLogCollector("e")
    c.bind()
    try:
        raise ValueError("bad thing")
    except ValueError:
        logger.exception("handler failed")
    c.close()
    logger.warning("after the end")
    assert [l.message for l in c.lines] == ["handler failed (ValueError: bad thing)"]
    assert c.lines[0].level == "ERROR"


def test_unknown_level_fails():
    with pytest.raises(ValueError):
        CallLogCollector("x", level="LOUD")
