"""Pure tests of the fault plans (the HTTP side is in test_devserver_http.py)."""

from __future__ import annotations

import pytest

from pipecat_roark.devserver.faults import Fault, Faults


def test_statuses_are_consumed_one_request_at_a_time():
    f = Faults()
    f.set("event", statuses=[500, 502])
    assert f.take("event") == Fault("status", status=500)
    assert f.take("event") == Fault("status", status=502)
    assert f.take("event") is None
    assert f.count("event") == 3
    assert f.count("put") == 0


def test_endpoints_are_independent():
    f = Faults()
    f.set("put", expired=1)
    assert f.take("event") is None
    assert f.take("upload_url") is None
    assert f.take("put").kind == "expired"
    assert f.counts == {"event": 1, "upload_url": 1, "put": 1}


def test_retry_after_rides_on_statuses():
    f = Faults()
    f.set("upload_url", statuses=[429], retry_after=2)
    assert f.take("upload_url") == Fault("status", status=429, retry_after="2")
    with pytest.raises(ValueError):
        f.set("upload_url", retry_after=2, down=1)


def test_set_replaces_add_appends_clear_keeps_counts():
    f = Faults()
    f.set("event", statuses=[500])
    f.set("event", statuses=[503])
    f.add("event", malformed="not_json", count=2)
    assert [x.status or x.malformed for x in (f.take("event"), f.take("event"), f.take("event"))] == [503, "not_json", "not_json"]
    f.add("event", down=3)
    assert f.pending("event") == 3
    f.clear()
    assert f.pending("event") == 0 and f.take("event") is None
    assert f.count("event") == 4
    f.reset()
    assert f.count("event") == 0


def test_hang_kinds():
    f = Faults()
    f.set("put", hang_seconds=0.5, count=2)
    f.add("put", hang_forever=True, hang_then="respond")
    assert f.take("put") == Fault("hang", seconds=0.5)
    assert f.take("put") == Fault("hang", seconds=0.5)
    assert f.take("put") == Fault("hang", seconds=None, then="respond")


def test_down_window_uses_the_clock():
    now = [100.0]
    f = Faults(clock=lambda: now[0])
    f.set("event", down_seconds=5)
    assert f.take("event").kind == "down"
    now[0] = 104.9
    assert f.take("event").kind == "down"
    now[0] = 105.0
    assert f.take("event") is None


@pytest.mark.parametrize(
    "endpoint, kwargs",
    [
        ("nope", {"statuses": [500]}),
        ("event", {}),
        ("event", {"statuses": [500], "down": 1}),
        ("event", {"expired": 1}),  # PUT only
        ("event", {"malformed": "weird"}),
        ("event", {"statuses": [99]}),
        ("event", {"hang_seconds": 1, "hang_then": "later"}),
    ],
)
def test_bad_plans_are_refused(endpoint, kwargs):
    with pytest.raises(ValueError):
        Faults().set(endpoint, **kwargs)
