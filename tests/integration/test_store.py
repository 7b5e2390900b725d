"""monitor.store against a real Elasticsearch: templates, idempotent upserts, ledger, retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from elasticsearch import Elasticsearch

from monitor.models import Delivery, FeedState
from monitor.store import Store, retention_cutoff
from tests.factories import NOW, make_story


@pytest.fixture
def store(es_client: Elasticsearch, index_prefix: str) -> Store:
    s = Store(es_client, index_prefix)
    s.lifecycle.install(NOW)
    return s


def test_install_is_idempotent_and_creates_alias(store: Store, es_client: Elasticsearch) -> None:
    again = store.lifecycle.install(NOW)
    assert again["created_indices"] == []
    alias = es_client.indices.get_alias(name=store.names.stories)
    assert store.names.stories_for(NOW) in alias
    mapping = es_client.indices.get_mapping(index=store.names.stories)
    props = next(iter(mapping.values()))["mappings"]["properties"]
    assert props["people"]["type"] == "keyword"
    assert props["lsh_bands"]["type"] == "keyword"


def test_index_is_idempotent_and_monthly(store: Store, es_client: Elasticsearch) -> None:
    march = datetime(2025, 3, 14, 9, tzinfo=UTC)
    now = NOW
    r1 = store.stories.index(
        [
            make_story(1, when=march, title="Title 1 Erdoğan"),
            make_story(2, when=now, title="Title 2 Erdoğan"),
        ],
        now=NOW,
    )
    assert sorted(r1.created) == ["id1", "id2"]
    assert not r1.errors
    # The same stories again (a re-poll): nothing is written, the first version stays.
    r2 = store.stories.index(
        [
            make_story(1, when=now, title="changed"),
            make_story(2, when=now, title="Title 2 Erdoğan"),
        ],
        now=NOW,
    )
    assert r2.created == []
    assert sorted(r2.skipped) == ["id1", "id2"]
    store.refresh()
    where = store.stories.locate(["id1", "id2", "nope"])
    assert where["id1"] == f"{store.names.stories}-2025.03"
    assert where["id2"] == store.names.stories_for(now)
    assert "nope" not in where
    got = {s.id: s for s in store.stories.get(["id1"])}
    assert got["id1"].title == "Title 1 Erdoğan"
    # Pending stories are invisible to alert rules until their group is decided.
    window = (now - timedelta(hours=1), now + timedelta(minutes=1))
    assert store.stories.search_window(["erdogan"], *window) == [[]]
    assert {s.id for s in store.stories.pending()} == {"id1", "id2"}
    assert store.stories.apply_groups(store.stories.get(["id1", "id2"]), now=NOW) == []
    assert store.stories.pending() == []
    store.refresh()
    # The folded copy makes "erdogan" find "Erdoğan" with the core's standard analyzer.
    hits = store.stories.search_window(
        ["erdogan"], now - timedelta(hours=1), now + timedelta(minutes=1)
    )
    assert isinstance(hits[0], list)
    assert {h.id for h in hits[0]} == {"id1", "id2"}


def test_invalid_rule_is_reported_and_others_still_run(store: Store) -> None:
    now = NOW
    store.stories.index([make_story(1, when=now)], now=NOW)
    store.stories.apply_groups([make_story(1, when=now)], now=NOW)
    store.refresh()
    res = store.stories.search_window(
        ["title:(unclosed", "outlet:Outlet"], now - timedelta(hours=1), now + timedelta(minutes=1)
    )
    assert isinstance(res[0], str)
    assert res[0]
    assert isinstance(res[1], list)
    assert len(res[1]) == 1


def test_cluster_counts_are_recomputed_from_members(store: Store, es_client: Elasticsearch) -> None:
    now = NOW
    store.stories.index(
        [
            make_story(1, when=now, outlet="A"),
            make_story(2, when=now, outlet="B", cluster_id="id1", is_primary=False),
            make_story(3, when=now, outlet="C", cluster_id="id1", is_primary=False),
        ],
        now=NOW,
    )
    assert store.stories.refresh_clusters(["id1"]) == 1
    store.stories.refresh_clusters(["id1"])  # idempotent
    store.refresh()
    primary = es_client.get(index=store.names.stories_for(now), id="id1")["_source"]
    assert primary["cluster_size"] == 3
    assert primary["outlets"] == ["A", "B", "C"]
    assert store.stories.cluster_outlets(["id1"]) == {"id1": ["A", "B", "C"]}


def test_delivery_ledger_claims_once_and_allows_retry_after_failure(store: Store) -> None:
    d = Delivery(
        id="i-1",
        subscriber="a@x.org",
        alert="r",
        mode="instant",
        story_ids=["s"],
        cluster_ids=["s"],
        status="pending",
        created_at=NOW,
    )
    assert store.ledger.claim(d, token="run-a", now=NOW) is True
    assert store.ledger.claim(d, token="run-a", now=NOW) is True  # our own claim, retried
    assert store.ledger.claim(d, token="run-b", now=NOW) is False  # in flight in run A
    store.ledger.mark("i-1", "failed", now=NOW, error="SMTP down")
    assert store.ledger.claim(d, token="run-b", now=NOW) is True  # a failed send may be retried
    assert store.ledger.get("i-1").attempts == 1  # type: ignore[union-attr]
    store.ledger.mark("i-1", "sent", now=NOW)
    assert store.ledger.claim(d, token="run-c", now=NOW) is False
    assert store.ledger.get("i-1").status == "sent"  # type: ignore[union-attr]


def test_feed_state_and_cursor_round_trip(store: Store) -> None:
    t = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    store.feeds.save(
        [
            FeedState(
                feed_id="a",
                url="https://x.org/a",
                etag='"e1"',
                last_polled=t,
                consecutive_failures=2,
                last_error="boom",
            )
        ]
    )
    st = store.feeds.load(["a", "b"])
    assert list(st) == ["a"]
    assert st["a"].etag == '"e1"'
    assert st["a"].last_polled == t
    assert [s.feed_id for s in store.feeds.all()] == ["a"]
    assert store.feeds.get_cursor("instant") is None
    store.feeds.set_cursor("instant", t)
    assert store.feeds.get_cursor("instant") == t


def test_retention_drops_whole_old_months(store: Store, es_client: Elasticsearch) -> None:
    now = NOW
    old = datetime(2020, 5, 1, tzinfo=UTC)
    store.stories.index([make_story(1, when=old), make_story(2, when=now)], now=NOW)
    dropped = store.lifecycle.drop_months_before(retention_cutoff(now, 24))
    assert dropped == [f"{store.names.stories}-2020.05"]
    store.refresh()
    assert store.stories.count_since() == 1


def test_finished_months_are_compacted_to_one_segment(
    store: Store, es_client: Elasticsearch
) -> None:
    now = NOW
    last_year = datetime(now.year - 1, 6, 1, tzinfo=UTC)
    for n in range(3):  # three refreshes: three segments in the old month's index
        store.stories.index([make_story(10 + n, when=last_year)], now=NOW)
        store.refresh()
    store.stories.index([make_story(20, when=now)], now=NOW)
    store.refresh()
    old_index = store.names.stories_for(last_year)
    assert store.lifecycle.compact_finished_months(now) == [
        old_index
    ]  # the current month is left alone
    es_client.indices.forcemerge(index=old_index, max_num_segments=1)  # wait for the merge
    es_client.indices.refresh(index=old_index)
    segments = es_client.cat.segments(index=old_index, format="json")
    assert len(segments) == 1
    assert store.lifecycle.compact_finished_months(now) == []


def test_retention_cutoff_months() -> None:
    assert retention_cutoff(datetime(2026, 2, 10, tzinfo=UTC), 3) == datetime(
        2025, 11, 1, tzinfo=UTC
    )


def test_rule_hits_are_paged_to_the_last_one(store: Store) -> None:
    stories = [make_story(n, when=NOW, cluster_id=f"id{n}") for n in range(23)]
    store.stories.index(stories, now=NOW)
    store.stories.apply_groups(stories, now=NOW)
    store.refresh()
    window = (NOW - timedelta(hours=1), NOW + timedelta(minutes=1))
    res = store.stories.search_window(["outlet:Outlet", "title:nothing"], *window, page=5)
    assert isinstance(res[0], list)
    assert sorted(h.id for h in res[0]) == sorted(s.id for s in stories)
    assert res[1] == []


def test_plain_words_find_possessive_and_suffixed_forms(store: Store) -> None:
    titles = ["Erdoğan's aides travel", "Erdoğan'ın danışmanları yolda", "Erdogana unrelated"]
    stories = [make_story(n, when=NOW, title=t, cluster_id=f"id{n}") for n, t in enumerate(titles)]
    store.stories.index(stories, now=NOW)
    store.stories.apply_groups(stories, now=NOW)
    store.refresh()
    window = (NOW - timedelta(hours=1), NOW + timedelta(minutes=1))
    [hits] = store.stories.search_window(["erdogan"], *window)
    assert isinstance(hits, list)
    assert sorted(h.id for h in hits) == ["id0", "id1"]
