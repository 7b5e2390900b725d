"""The grouping run writes one pass while it decides the next, on real Elasticsearch: the next
pass leaves the one in flight out, a failed write keeps every later pass's decisions out of
the index, and no write outlives the run (nor its lease)."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from monitor.dedupe.records import record_to_story
from monitor.models import Story
from monitor.pipeline import grouping
from monitor.pipeline.grouping import GROUPING_LEASE, group_pending
from monitor.pipeline.polling import tag_stories
from monitor.store import Store
from monitor.tagging import Tagger, load_taxonomy
from tests.factories import NOW, TOPICS_YAML, jsonl_rows, make_story

DEV_SET = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "dev-stories.jsonl"
PASS = 10


@pytest.fixture
def store(es_client: Elasticsearch, index_prefix: str) -> Store:
    s = Store(es_client, index_prefix)
    s.lifecycle.install(NOW)
    return s


@pytest.fixture
def dev_stories() -> list[Story]:
    """The dev set's 50 stories, tagged, in arrival order (the order passes take them in)."""
    if not DEV_SET.exists():
        pytest.fail(f"{DEV_SET} is missing: the shared corpus must be beside the repository")
    stories = sorted(
        (record_to_story(r, NOW) for r in jsonl_rows(DEV_SET)),
        key=lambda s: (s.published or s.fetched_at, s.id),
    )
    tag_stories(stories, Tagger(load_taxonomy(TOPICS_YAML)))
    return stories


def _grouped(store: Store, ids: Sequence[str]) -> dict[str, bool]:
    store.refresh()
    res = store.es.search(
        index=store.names.stories,
        query={"ids": {"values": list(ids)}},
        size=len(ids),
        source_includes=["grouped"],
    )
    return {h["_id"]: bool(h["_source"]["grouped"]) for h in res["hits"]["hits"]}


def _on_call(n: int, before: Callable[[], None], real: Callable[..., Any]) -> Callable[..., Any]:
    """`real`, with `before` run first on its `n`-th call."""
    calls = 0

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == n:
            before()
        return real(*args, **kwargs)

    return wrapped


def test_pending_leaves_out_the_pass_in_flight(store: Store) -> None:
    stories = [make_story(i, when=NOW + timedelta(minutes=i)) for i in range(5)]
    assert store.stories.index(stories, now=NOW).errors == []
    first = store.stories.pending(2)
    assert [s.id for s in first] == [stories[0].id, stories[1].id]
    # The first two are still pending in the index while their groups are written.
    rest = store.stories.pending(10, refresh=False, exclude={s.id for s in first})
    assert [s.id for s in rest] == [s.id for s in stories[2:]]


def test_a_failed_write_keeps_the_pass_decided_meanwhile_out_of_the_index(
    store: Store, dev_stories: list[Story], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(grouping, "PASS_SIZE", PASS)
    assert store.stories.index(dev_stories, now=NOW).errors == []
    second = dev_stories[PASS : 2 * PASS]
    lost = second[3].id

    def delete_one() -> None:
        # Gone from the index after the pass read it: Elasticsearch refuses its update.
        hit = store.es.search(index=store.names.stories, query={"ids": {"values": [lost]}})
        store.es.delete(index=hit["hits"]["hits"][0]["_index"], id=lost, refresh=True)

    # The second pass's write fails; the third pass was being decided meanwhile.
    monkeypatch.setattr(
        store.stories, "apply_groups", _on_call(2, delete_one, store.stories.apply_groups)
    )
    report = group_pending(store, window_days=7, now=NOW)
    assert report["passes"] == 2
    assert len(report["errors"]) == 1
    assert report["errors"][0].startswith(f"{lost}:")
    assert report["grouped"] == 2 * PASS - 1
    grouped = _grouped(store, [s.id for s in dev_stories])
    assert lost not in grouped
    assert all(grouped[s.id] for s in dev_stories[: 2 * PASS] if s.id != lost)
    # Every later story is still pending: nothing decided after the failure was written.
    assert not any(grouped[s.id] for s in dev_stories[2 * PASS :])

    monkeypatch.undo()
    monkeypatch.setattr(grouping, "PASS_SIZE", PASS)
    again = group_pending(store, window_days=7, now=NOW)
    assert again["errors"] == []
    assert (again["passes"], again["grouped"]) == (3, len(dev_stories) - 2 * PASS)
    assert all(_grouped(store, [s.id for s in dev_stories]).values())


def test_a_pass_that_fails_to_decide_waits_for_the_pass_being_written(
    store: Store, dev_stories: list[Story], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(grouping, "PASS_SIZE", PASS)
    assert store.stories.index(dev_stories, now=NOW).errors == []

    failed = threading.Event()

    def fail() -> None:
        failed.set()
        raise RuntimeError("deciding the second pass failed")

    def slow_start() -> None:
        # The first pass's write starts only once the second pass has failed to decide, and
        # then takes its time: the run must still wait for it.
        failed.wait(30)
        time.sleep(1)

    monkeypatch.setattr(grouping, "decide_groups", _on_call(2, fail, grouping.decide_groups))
    monkeypatch.setattr(
        store.stories, "apply_groups", _on_call(1, slow_start, store.stories.apply_groups)
    )
    with pytest.raises(RuntimeError, match="second pass"):
        group_pending(store, window_days=7, now=NOW)
    # The first pass was written in full before the error left the run, and the lease is free.
    grouped = _grouped(store, [s.id for s in dev_stories])
    assert all(grouped[s.id] for s in dev_stories[:PASS])
    assert not any(grouped[s.id] for s in dev_stories[PASS:])
    assert store.leases.holder(GROUPING_LEASE) is None


_COUNT_FIELDS = [
    "cluster_size",
    "outlets",
    "event_size",
    "event_outlets",
    "event_languages",
    "event_first_seen",
    "event_last_seen",
    "event_aliases",
    "is_event_primary",
]


def _counts(store: Store) -> dict[str, dict[str, Any]]:
    store.refresh()
    res = store.es.search(index=store.names.stories, size=10_000, source_includes=_COUNT_FIELDS)
    return {h["_id"]: h["_source"] for h in res["hits"]["hits"]}


def _recount_all(store: Store) -> None:
    store.refresh()
    res = store.es.search(
        index=store.names.stories, size=10_000, source_includes=["cluster_id", "event_id"]
    )
    docs = [h["_source"] for h in res["hits"]["hits"]]
    store.stories.refresh_clusters({d["cluster_id"] for d in docs})
    store.events.refresh_events({d["event_id"] for d in docs})


def _recorded(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> set[str]:
    """Every id the recount `owner.name` is asked about, from now on (it still recounts)."""
    asked: set[str] = set()
    recount = getattr(owner, name)

    def recording(ids: Any, **kw: Any) -> Any:
        asked.update(ids)
        return recount(ids, **kw)

    monkeypatch.setattr(owner, name, recording)
    return asked


def _several(counts: dict[str, dict[str, Any]], size_field: str) -> set[str]:
    """The primaries whose group has more than one member."""
    return {sid for sid, d in counts.items() if (d.get(size_field) or 0) > 1}


def test_a_first_runs_own_groups_are_counted_as_the_index_would_count_them(
    store: Store, dev_stories: list[Story], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing grouped before the run: the clusters and events that begin in a pass are
    counted from the pass and written with it; a recount by the index changes nothing."""
    multilingual = Path(__file__).resolve().parents[1] / "fixtures" / "events-multilingual.jsonl"
    more = [record_to_story(r, NOW) for r in jsonl_rows(multilingual)]
    tag_stories(more, Tagger(load_taxonomy(TOPICS_YAML)))
    stories = dev_stories + more
    for i, s in enumerate(stories):
        # First-seen times with microseconds: the index keeps milliseconds.
        s.fetched_at = NOW + timedelta(seconds=i, microseconds=1000 * i + 789)
    asked_clusters = _recorded(monkeypatch, store.stories, "refresh_clusters")
    asked_events = _recorded(monkeypatch, store.events, "refresh_events")
    monkeypatch.setattr(grouping, "PASS_SIZE", 9)
    assert store.stories.index(stories, now=NOW).errors == []
    assert group_pending(store, window_days=7, now=NOW)["errors"] == []
    written = _counts(store)
    monkeypatch.undo()
    _recount_all(store)
    assert _counts(store) == written
    # Groups of several reports were counted from their pass, not asked of the index.
    assert _several(written, "event_size") - asked_events
    assert _several(written, "cluster_size") - asked_clusters


def test_a_later_runs_groups_are_all_recounted_by_the_index(
    store: Store, dev_stories: list[Story], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once stories are grouped before the run, a group's members may be stored: every
    group the run touches is recounted by the index."""
    half = len(dev_stories) // 2
    assert store.stories.index(dev_stories[:half], now=NOW).errors == []
    assert group_pending(store, window_days=7, now=NOW)["errors"] == []
    asked = _recorded(monkeypatch, store.events, "refresh_events")
    later = dev_stories[half:]
    assert store.stories.index(later, now=NOW).errors == []
    assert group_pending(store, window_days=7, now=NOW)["errors"] == []
    store.refresh()
    res = store.es.search(
        index=store.names.stories,
        query={"ids": {"values": [s.id for s in later]}},
        size=len(later),
        source_includes=["event_id"],
    )
    assert {h["_source"]["event_id"] for h in res["hits"]["hits"]} <= asked
    written = _counts(store)
    monkeypatch.undo()
    _recount_all(store)
    assert _counts(store) == written


def test_a_run_that_waited_for_anothers_lease_thaws_what_it_froze(
    store: Store, dev_stories: list[Story], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two polls' grouping runs in threads of one process: the second waits for the first's
    lease, and neither leaves anything frozen behind."""
    assert gc.get_freeze_count() == 0
    monkeypatch.setattr(grouping, "PASS_SIZE", 5)
    assert store.stories.index(dev_stories, now=NOW).errors == []
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(group_pending, store, 7, NOW)
        deadline = time.monotonic() + 60
        while gc.get_freeze_count() == 0 and not first.done() and time.monotonic() < deadline:
            time.sleep(0.001)
        assert not first.done()  # the second starts while the first holds the lease
        second = pool.submit(group_pending, store, 7, NOW)
        reports = [first.result(), second.result()]
    assert sum(r["grouped"] for r in reports) == len(dev_stories)
    assert gc.get_freeze_count() == 0


def test_the_run_thaws_what_it_froze_and_only_that(store: Store, dev_stories: list[Story]) -> None:
    """Each pass freezes the run's long-lived objects for the collector; the run gives them
    back to it at the end, unless objects were frozen before it began (not its own)."""
    assert gc.get_freeze_count() == 0
    assert store.stories.index(dev_stories[:20], now=NOW).errors == []
    assert group_pending(store, window_days=7, now=NOW)["grouped"] == 20
    assert gc.get_freeze_count() == 0
    gc.freeze()
    try:
        before = gc.get_freeze_count()
        assert store.stories.index(dev_stories[20:], now=NOW).errors == []
        assert group_pending(store, window_days=7, now=NOW)["grouped"] == len(dev_stories) - 20
        assert gc.get_freeze_count() >= before
    finally:
        gc.unfreeze()
