"""monitor.store against a real Elasticsearch: templates, idempotent upserts, ledger, retention."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from elasticsearch import Elasticsearch

from monitor.models import Delivery, FeedState, Story
from monitor.store import Store, retention_cutoff


@pytest.fixture
def store(es_client: Elasticsearch, index_prefix: str) -> Iterator[Store]:
    s = Store(es_client, index_prefix)
    s.install()
    yield s


def story(n: int, when: datetime, **kw: object) -> Story:
    base = dict(
        id=f"id{n}",
        feed_id="f",
        outlet="Outlet",
        url=f"https://x.org/{n}",
        canonical_url=f"https://x.org/{n}",
        title=f"Title {n} Erdoğan",
        summary="s",
        fetched_at=when,
    )
    base.update(kw)
    return Story(**base)  # type: ignore[arg-type]


def test_install_is_idempotent_and_creates_alias(store: Store, es_client: Elasticsearch) -> None:
    again = store.install()
    assert again["created_indices"] == []
    alias = es_client.indices.get_alias(name=store.stories_alias)
    assert store.stories_index_for(datetime.now(UTC)) in alias
    mapping = es_client.indices.get_mapping(index=store.stories_alias)
    props = next(iter(mapping.values()))["mappings"]["properties"]
    assert props["people"]["type"] == "keyword"
    assert props["lsh_bands"]["type"] == "keyword"


def test_index_is_idempotent_and_monthly(store: Store, es_client: Elasticsearch) -> None:
    march = datetime(2025, 3, 14, 9, tzinfo=UTC)
    now = datetime.now(UTC)
    r1 = store.index_stories([story(1, march), story(2, now)])
    assert sorted(r1.created) == ["id1", "id2"] and not r1.errors
    # The same stories again (a re-poll): nothing is written, the first version stays.
    r2 = store.index_stories([story(1, now, title="changed"), story(2, now)])
    assert r2.created == [] and sorted(r2.skipped) == ["id1", "id2"]
    store.refresh()
    where = store.locate(["id1", "id2", "nope"])
    assert where["id1"] == f"{store.stories_alias}-2025.03"
    assert where["id2"] == store.stories_index_for(now)
    assert "nope" not in where
    got = {s.id: s for s in store.get_stories(["id1"])}
    assert got["id1"].title == "Title 1 Erdoğan"
    # The folded copy makes "erdogan" find "Erdoğan" with the core's standard analyzer.
    hits = store.search_window(["erdogan"], now - timedelta(hours=1), now + timedelta(minutes=1))
    assert isinstance(hits[0], list) and {h["id"] for h in hits[0]} == {"id1", "id2"}


def test_invalid_rule_is_reported_and_others_still_run(store: Store) -> None:
    now = datetime.now(UTC)
    store.index_stories([story(1, now)])
    store.refresh()
    res = store.search_window(
        ["title:(unclosed", "outlet:Outlet"], now - timedelta(hours=1), now + timedelta(minutes=1)
    )
    assert isinstance(res[0], str) and res[0]
    assert isinstance(res[1], list) and len(res[1]) == 1


def test_cluster_counts_are_recomputed_from_members(store: Store) -> None:
    now = datetime.now(UTC)
    store.index_stories(
        [
            story(1, now, outlet="A"),
            story(2, now, outlet="B", cluster_id="id1", is_primary=False),
            story(3, now, outlet="C", cluster_id="id1", is_primary=False),
        ]
    )
    assert store.refresh_clusters(["id1"]) == 1
    store.refresh_clusters(["id1"])  # idempotent
    store.refresh()
    primary = store.search_sources({"ids": {"values": ["id1"]}})[0]
    assert primary["cluster_size"] == 3 and primary["outlets"] == ["A", "B", "C"]
    assert store.cluster_outlets(["id1"]) == {"id1": ["A", "B", "C"]}


def test_delivery_ledger_claims_once_and_allows_retry_after_failure(store: Store) -> None:
    d = Delivery(
        id="i-1",
        subscriber="a@x.org",
        alert="r",
        mode="instant",
        story_ids=["s"],
        cluster_ids=["s"],
        status="pending",
        created_at=datetime.now(UTC),
    )
    assert store.claim_delivery(d) is True
    assert store.claim_delivery(d) is False  # pending: maybe sent, never again automatically
    store.mark_delivery("i-1", "failed", error="SMTP down")
    assert store.claim_delivery(d) is True  # a failed send may be retried
    assert store.get_delivery("i-1")["attempts"] == 1  # type: ignore[index]
    store.mark_delivery("i-1", "sent")
    assert store.claim_delivery(d) is False
    assert store.get_delivery("i-1")["status"] == "sent"  # type: ignore[index]


def test_feed_state_and_cursor_round_trip(store: Store) -> None:
    t = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    store.save_feed_states(
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
    st = store.load_feed_states(["a", "b"])
    assert list(st) == ["a"] and st["a"].etag == '"e1"' and st["a"].last_polled == t
    assert [s.feed_id for s in store.all_feed_states()] == ["a"]
    assert store.get_cursor("instant") is None
    store.set_cursor("instant", t)
    assert store.get_cursor("instant") == t


def test_retention_drops_whole_old_months(store: Store, es_client: Elasticsearch) -> None:
    now = datetime.now(UTC)
    old = datetime(2020, 5, 1, tzinfo=UTC)
    store.index_stories([story(1, old), story(2, now)])
    dropped = store.drop_months_before(retention_cutoff(now, 24))
    assert dropped == [f"{store.stories_alias}-2020.05"]
    store.refresh()
    assert store.count() == 1


def test_finished_months_are_compacted_to_one_segment(
    store: Store, es_client: Elasticsearch
) -> None:
    now = datetime.now(UTC)
    last_year = datetime(now.year - 1, 6, 1, tzinfo=UTC)
    for n in range(3):  # three refreshes: three segments in the old month's index
        store.index_stories([story(10 + n, last_year)])
        store.refresh()
    store.index_stories([story(20, now)])
    store.refresh()
    old_index = store.stories_index_for(last_year)
    assert store.compact_finished_months(now) == [old_index]  # the current month is left alone
    es_client.indices.forcemerge(index=old_index, max_num_segments=1)  # wait for the merge
    es_client.indices.refresh(index=old_index)
    segments = es_client.cat.segments(index=old_index, format="json")
    assert len(segments) == 1
    assert store.compact_finished_months(now) == []


def test_retention_cutoff_months() -> None:
    assert retention_cutoff(datetime(2026, 2, 10, tzinfo=UTC), 3) == datetime(
        2025, 11, 1, tzinfo=UTC
    )
