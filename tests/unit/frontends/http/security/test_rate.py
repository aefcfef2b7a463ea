"""The sliding window behind the key prompt's tries and the upload quotas."""

from __future__ import annotations

from gte_ui.frontends.http.security.rate import RateWindow


def test_a_client_gets_its_limit_per_window_then_the_wait_until_the_oldest_leaves():
    w = RateWindow(limit=3, window_s=60.0)
    assert [w.take("a", now=t) for t in (0.0, 10.0, 20.0)] == [0.0, 0.0, 0.0]
    assert w.take("a", now=30.0) == 30.0  # the entry at 0 leaves at 60
    assert w.take("b", now=30.0) == 0.0  # another client has its own window
    assert w.take("a", now=60.5) == 0.0


def test_amounts_count_and_one_over_the_limit_waits_the_whole_window():
    w = RateWindow(limit=100, window_s=3600.0)
    assert w.take("a", 60, now=0.0) == 0.0
    assert w.retry_after("a", 50, now=10.0) == 3590.0
    assert w.take("a", 101, now=10.0) == 3600.0  # never fits


def test_the_quietest_clients_are_forgotten_when_the_table_is_full():
    w = RateWindow(limit=1, window_s=60.0, max_clients=2)
    w.take("a", now=0.0), w.take("b", now=1.0)
    assert w.take("c", now=2.0) == 0.0  # "a" made room
    assert w.take("a", now=3.0) == 0.0  # forgotten, so not limited
