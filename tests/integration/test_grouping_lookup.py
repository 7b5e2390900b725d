"""The grouping pass's copy candidates from a real Elasticsearch (`BatchLookup`): one query per
key field and one over the pass's bands, the band matches ranked in memory."""

from __future__ import annotations

from datetime import timedelta

import pytest
from elasticsearch import Elasticsearch

from monitor.models import Story
from monitor.store import Store
from tests.factories import NOW, make_story


@pytest.fixture
def store(es_client: Elasticsearch, index_prefix: str) -> Store:
    s = Store(es_client, index_prefix)
    s.lifecycle.install(NOW)
    return s


def _bands(*shared: int, own: str) -> list[str]:
    """Band strings: band i of `shared` holds the probe's value, the others this story's own."""
    return [
        f"b{i:02x}:{'0' * 11}{i % 10}" if i in shared else f"b{i:02x}:{own}{i:02x}"
        for i in range(16)
    ]


def _grouped(store: Store, stories: list[Story]) -> None:
    for s in stories:
        s.cluster_id = s.event_id = s.id
    assert store.stories.index(stories, now=NOW).errors == []
    assert store.stories.apply_groups(stories, now=NOW) == []
    store.refresh()


def test_band_candidates_are_the_most_shared_then_the_earliest_seen(store: Store) -> None:
    start = NOW - timedelta(days=2)
    three = [
        make_story(f"three-{i:02d}", when=start + timedelta(minutes=i), lsh_bands=[])
        for i in range(30)
    ]
    for i, s in enumerate(three):
        s.lsh_bands = _bands(1, 2, 3, own=f"{i:08x}")
    five = [
        make_story(f"five-{i}", when=start + timedelta(hours=20 + i), lsh_bands=[])
        for i in range(2)
    ]
    for i, s in enumerate(five):
        s.lsh_bands = _bands(4, 5, 6, 7, 8, own=f"f{i:07x}")
    old = make_story("too-old", when=NOW - timedelta(days=9), lsh_bands=_bands(*range(16), own=""))
    pending = make_story("pending", when=start, lsh_bands=_bands(*range(16), own=""))
    _grouped(store, [*three, *five, old])
    assert store.stories.index([pending], now=NOW).errors == []  # not grouped: no candidate

    probe = make_story("probe", when=NOW, lsh_bands=_bands(*range(16), own=""))
    lookup = store.lookup()
    since = NOW - timedelta(days=7)
    lookup.prefetch([probe], {probe.id: since})
    got = [c.id for c in lookup.by_bands(probe.lsh_bands, since)]

    # 20 at most: the two sharing five bands, then the 18 earliest of the 30 sharing three
    # (ties go to the earliest seen, the order the decision compares them in).
    assert got == ["five-0", "five-1", *[f"three-{i:02d}" for i in range(18)]]
    assert lookup.get("three-00") is not None
    assert lookup.get("three-29") is None  # not kept, so its fields were never fetched


def test_exact_candidates_by_url_guid_and_same_outlet_title(store: Store) -> None:
    key = "talks resume at the border crossing"
    stored = [
        make_story("same-url", canonical_url="https://x.org/probe"),
        make_story("same-guid", guid="tag:x.org,2026:probe", url="https://x.org/g"),
        make_story("same-title", title_key=key, url="https://x.org/t"),
        make_story("other-outlet", title_key=key, outlet="Elsewhere", url="https://x.org/o"),
        make_story("unrelated", title_key="markets close higher on friday", url="https://x.org/u"),
    ]
    _grouped(store, stored)
    probe = make_story(
        "probe",
        when=NOW + timedelta(hours=1),
        canonical_url="https://x.org/probe",
        guid="tag:x.org,2026:probe",
        title_key=key,
    )
    lookup = store.lookup()
    lookup.prefetch([probe], {probe.id: NOW - timedelta(days=7)})
    got = lookup.exact(probe.canonical_url, probe.guid, key, probe.outlet)
    assert sorted(c.id for c in got) == ["same-guid", "same-title", "same-url"]
    # A count of the stories grouped before, then the key and band queries in one `_msearch`.
    assert lookup.requests == 2


def test_nothing_grouped_before_the_run_means_no_search_for_any_pass(store: Store) -> None:
    pending = [make_story(i) for i in range(3)]
    assert store.stories.index(pending, now=NOW).errors == []
    store.refresh()
    first = store.lookup("run-1")
    first.prefetch(pending, {s.id: NOW - timedelta(days=7) for s in pending})
    assert first.requests == 1  # the count, which finds nothing grouped
    assert first.by_bands(pending[0].lsh_bands, NOW - timedelta(days=7)) == []
    # The run's later passes know it already: not even the count is asked again.
    later = first.next_pass()
    later.prefetch(pending, {s.id: NOW - timedelta(days=7) for s in pending})
    assert later.requests == 0


def test_nothing_grouped_before_the_run_means_no_event_search_after_the_count(
    store: Store,
) -> None:
    pending = [
        make_story(i, people=["Hakan Fidan"], places=["Qatar"], title=f"Talks in Doha, round {i}")
        for i in range(3)
    ]
    assert store.stories.index(pending, now=NOW).errors == []
    store.refresh()
    first = store.event_lookup("run-1")
    first.prefetch(pending)
    assert first.requests == 1  # the count, which finds nothing grouped, and nothing else
    assert first.event_candidates(pending[0], NOW - timedelta(days=3)) == []
    assert first.term_stats(["p:hakan fidan"]).doc_freq == {}
    # A later pass with terms not counted yet: they are known to be held by no stored story.
    others = [
        make_story(i, people=["Ismail Haniyeh"], places=["Egypt"], title=f"Cairo round {i}")
        for i in range(3, 6)
    ]
    later = first.next_pass()
    later.prefetch(others)
    assert later.requests == 0
