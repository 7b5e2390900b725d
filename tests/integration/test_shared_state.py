"""Shared state decided atomically in a real Elasticsearch: leases and feed state."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from elasticsearch import Elasticsearch

from monitor.models import FeedState
from monitor.store import LeaseBusy, Store
from tests.factories import NOW


class FakeClock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(es_client: Elasticsearch, index_prefix: str, clock: FakeClock) -> Store:
    s = Store(es_client, index_prefix, clock=clock)
    s.lifecycle.install(NOW)
    return s


def test_one_holder_at_a_time_until_release_or_expiry(store: Store, clock: FakeClock) -> None:
    ttl = timedelta(minutes=2)
    assert store.leases.acquire("job", "a", ttl)
    assert not store.leases.acquire("job", "b", ttl)
    assert store.leases.holder("job") == "a"
    assert store.leases.acquire("job", "a", ttl)  # the holder renews
    store.leases.release("job", "b")  # not b's to give up
    assert store.leases.holder("job") == "a"
    store.leases.release("job", "a")
    assert store.leases.holder("job") is None
    assert store.leases.acquire("job", "b", ttl)
    # b dies holding it: once it expires, c takes it over, and b's late release is ignored.
    clock.now += ttl + timedelta(seconds=1)
    assert store.leases.holder("job") is None
    assert store.leases.acquire("job", "c", ttl)
    store.leases.release("job", "b")
    assert store.leases.holder("job") == "c"


def test_waiting_for_a_held_lease_gives_up_with_one_line(store: Store) -> None:
    assert store.leases.acquire("job", "a", timedelta(minutes=2))
    with (
        pytest.raises(LeaseBusy, match="held by a"),
        store.leases.held("job", "b", ttl=timedelta(minutes=2), wait=timedelta(seconds=0.5)),
    ):
        pass


def test_many_contenders_exactly_one_wins(store: Store) -> None:
    start = threading.Barrier(8)
    won: list[str] = []

    def contend(name: str) -> None:
        start.wait()
        if store.leases.acquire("race", name, timedelta(minutes=1)):
            won.append(name)

    threads = [threading.Thread(target=contend, args=(f"h{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1


def test_concurrent_feed_state_updates_are_all_applied(store: Store) -> None:
    store.feeds.save([FeedState(feed_id="a", url="https://x.org/a")])
    start = threading.Barrier(6)

    def one_poll(n: int) -> None:
        def change(cur: FeedState | None) -> FeedState:
            st = cur or FeedState(feed_id="a", url="https://x.org/a")
            st.stories_total += 1
            st.consecutive_failures += n % 2  # three of the six polls fail
            return st

        start.wait()
        store.feeds.update({"a": change})

    threads = [threading.Thread(target=one_poll, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    st = store.feeds.load(["a"])["a"]
    assert st.stories_total == 6
    assert st.consecutive_failures == 3
