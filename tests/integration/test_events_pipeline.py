"""Events in the pipeline on real Elasticsearch: the grouping step (candidates prefetched with
`_msearch`, decided in memory) gives the same events as `newsmon dedupe` on the same input, and
a bridging story relabels every stored member of the event it merges."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from monitor.dedupe import dedupe_records, event_terms
from monitor.dedupe.records import record_to_story
from monitor.models import Story
from monitor.pipeline import grouping
from monitor.pipeline.grouping import group_pending
from monitor.pipeline.polling import tag_stories
from monitor.resources import index_template
from monitor.store import Store
from monitor.tagging import Tagger, load_taxonomy
from tests.factories import NOW, TOPICS_YAML, jsonl_rows

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
MULTILINGUAL = FIXTURES / "events-multilingual.jsonl"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "corpus"
DEV_SET = SHARED / "dev-stories.jsonl"
REALWORLD = SHARED / "realworld-dev.jsonl"


@pytest.fixture(scope="module")
def tagger() -> Tagger:
    return Tagger(load_taxonomy(TOPICS_YAML))


@pytest.fixture
def store(es_client: Elasticsearch, index_prefix: str) -> Store:
    s = Store(es_client, index_prefix)
    s.lifecycle.install(NOW)
    return s


def _arrival(s: Story) -> tuple[Any, str]:
    return (s.published or s.fetched_at, s.id)


def _pipeline_events(
    store: Store, stories: list[Story], tagger: Tagger, runs: int
) -> dict[str, str]:
    """Index the stories in `runs` polls (arrival order), grouping after each; stored ids."""
    tag_stories(stories, tagger)
    size = -(-len(stories) // runs)
    for i in range(0, len(stories), size):
        chunk = stories[i : i + size]
        assert store.stories.index(chunk, now=NOW).errors == []
        report = group_pending(store, window_days=7, now=NOW)
        assert report["errors"] == [], report
    store.refresh()
    res = store.es.search(index=store.names.stories, size=10_000, source=["id", "event_id"])
    return {h["_source"]["id"]: h["_source"]["event_id"] for h in res["hits"]["hits"]}


@pytest.mark.parametrize(
    ("path", "runs"),
    [(MULTILINGUAL, 1), (MULTILINGUAL, 5), (DEV_SET, 4), (REALWORLD, 3)],
    ids=["multilingual-1-run", "multilingual-5-runs", "dev-set-4-runs", "realworld-3-runs"],
)
def test_pipeline_events_equal_newsmon_dedupe_events(
    store: Store, tagger: Tagger, path: Path, runs: int
) -> None:
    if not path.exists():
        pytest.fail(f"{path} is missing: the shared corpus must be beside the repository")
    rows = jsonl_rows(path)
    stories = sorted((record_to_story(r, NOW) for r in rows), key=_arrival)
    by_id = {r["id"]: r for r in rows}
    ordered = [by_id[s.id] for s in stories]
    expected = {o["id"]: o["event_id"] for o in dedupe_records(ordered, NOW, tagger)}
    got = _pipeline_events(store, stories, tagger, runs)
    assert got == expected
    # Not trivially equal: some reports were joined into events of other stories.
    assert len(set(got.values())) < len(got)


@pytest.mark.parametrize(("path", "pass_size"), [(DEV_SET, 7), (REALWORLD, 30)], ids=["dev", "rw"])
def test_one_grouping_run_of_many_passes_gives_newsmon_dedupe_events(
    store: Store, tagger: Tagger, monkeypatch: pytest.MonkeyPatch, path: Path, pass_size: int
) -> None:
    # Every story pending at once, grouped by one `group_pending` call in small passes: each
    # pass reuses the stored candidates earlier passes read (their events followed through
    # the merges), and the events must be those of one in-memory run all the same.
    if not path.exists():
        pytest.fail(f"{path} is missing: the shared corpus must be beside the repository")
    monkeypatch.setattr(grouping, "PASS_SIZE", pass_size)
    rows = jsonl_rows(path)
    stories = sorted((record_to_story(r, NOW) for r in rows), key=_arrival)
    by_id = {r["id"]: r for r in rows}
    expected = {
        o["id"]: o["event_id"] for o in dedupe_records([by_id[s.id] for s in stories], NOW, tagger)
    }
    tag_stories(stories, tagger)
    assert store.stories.index(stories, now=NOW).errors == []
    report = group_pending(store, window_days=7, now=NOW)
    assert report["errors"] == [], report
    assert report["passes"] == -(-len(stories) // pass_size)
    store.refresh()
    res = store.es.search(index=store.names.stories, size=10_000, source=["id", "event_id"])
    got = {h["_source"]["id"]: h["_source"]["event_id"] for h in res["hits"]["hits"]}
    assert got == expected
    assert len(set(got.values())) < len(got)


def _groups_of_one_poll(
    es: Elasticsearch,
    prefix: str,
    stories: list[Story],
    pass_size: int,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, tuple[str, str, bool]]:
    """Index `stories` pending under `prefix` and group them in passes of `pass_size`."""
    store = Store(es, prefix)
    store.lifecycle.install(NOW)
    assert store.stories.index(stories, now=NOW).errors == []
    monkeypatch.setattr(grouping, "PASS_SIZE", pass_size)
    report = group_pending(store, window_days=7, now=NOW)
    assert report["errors"] == [], report
    assert report["passes"] == -(-len(stories) // pass_size)
    store.refresh()
    res = store.es.search(
        index=store.names.stories,
        size=10_000,
        source=["id", "cluster_id", "event_id", "is_primary"],
    )
    return {
        h["_source"]["id"]: (
            h["_source"]["cluster_id"],
            h["_source"]["event_id"],
            h["_source"]["is_primary"],
        )
        for h in res["hits"]["hits"]
    }


def test_one_polls_stories_get_the_same_groups_in_passes_of_any_size(
    es_client: Elasticsearch,
    index_prefix: str,
    tagger: Tagger,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # One poll stores all its stories with one first-seen time. Passes take pending stories
    # in arrival order (publication time), as a pass decides them, so the pass a story falls
    # in never changes which copy is the primary or which event a report joins.
    if not DEV_SET.exists():
        pytest.fail(f"{DEV_SET} is missing: the shared corpus must be beside the repository")
    stories = [record_to_story(r, NOW) for r in jsonl_rows(DEV_SET)]
    for s in stories:
        s.fetched_at = NOW + timedelta(days=3)  # after every publication time in the set
    # Stored in an order unrelated to arrival: ids sort apart from publication times.
    stories.sort(key=lambda s: s.id)
    assert stories != sorted(stories, key=_arrival)
    tag_stories(stories, tagger)
    one = _groups_of_one_poll(es_client, f"{index_prefix}-one", stories, 10_000, monkeypatch)
    small = _groups_of_one_poll(es_client, f"{index_prefix}-small", stories, 9, monkeypatch)
    assert small == one
    # Not trivially equal: copies were clustered and reports joined events.
    assert sum(1 for _c, _e, primary in one.values() if not primary) >= 3
    assert len({e for _c, e, _p in one.values()}) < len({c for c, _e, _p in one.values()})


def _report(sid: str, hours: float, title: str, summary: str, outlet: str) -> Story:
    return record_to_story(
        {
            "id": sid,
            "outlet": outlet,
            "url": f"https://{outlet.lower().replace(' ', '-')}.example/{sid}",
            "title": title,
            "summary": summary,
            "lang": "en",
            "published": (NOW + timedelta(hours=hours)).isoformat(),
        },
        NOW,
    )


def test_reports_in_four_languages_each_stored_in_its_own_run_join_one_event(
    store: Store, tagger: Tagger
) -> None:
    rows = [r for r in jsonl_rows(MULTILINGUAL) if r["event"] == "F"]
    assert len(rows) >= 3
    # Each report of one event, stored in its own run before a report joining them arrives:
    # the bridge is found among stored candidates, and the merge is written to stored stories.
    stories = sorted((record_to_story(r, NOW) for r in rows), key=_arrival)
    by_id = {r["id"]: r for r in rows}
    ordered = [by_id[s.id] for s in stories]
    expected = {o["id"]: o["event_id"] for o in dedupe_records(ordered, NOW, tagger)}
    got = _pipeline_events(store, stories, tagger, runs=len(stories))
    assert got == expected
    assert set(got.values()) == {stories[0].id}


def _plain(sid: str, hours: float, outlet: str, title: str, summary: str) -> Story:
    """A report with its entities given (not tagged), fetched `hours` after NOW."""
    s = _report(sid, hours, title, summary, outlet)
    s.people, s.places = ["Hakan Fidan"], ["South Africa", "Israel"]
    return s


def bridge_scenario() -> tuple[Story, Story, Story, Story]:
    """Two events an hour apart (a; b and a word-for-word copy of b), and a later report
    that covers both: the bridge that merges b into a."""
    court = "Turkey joins genocide case against Israel at the world court"
    court_text = "Turkey filed its intervention in the genocide case at the world court."
    a = _plain("a", 0, "Outlet A", court, court_text)
    b = _plain(
        "b",
        1,
        "Outlet B",
        "Fidan: South Africa case deserves support from every state",
        "Hakan Fidan said the South Africa case deserves support from every state, speaking at "
        "a press conference in Ankara after meeting his Malaysian counterpart, and called the "
        "case a test for international law.",
    )
    # A word-for-word copy of b by another outlet: b's cluster, so b's event.
    b_copy = _plain("b-copy", 1.5, "Outlet D", b.title, b.summary)
    bridge = _plain(
        "bridge",
        2,
        "Outlet C",
        "Turkey joins genocide case at the world court, Fidan backs South Africa",
        "Turkey filed its intervention in the genocide case at the world court; Hakan Fidan "
        "said every state should support South Africa.",
    )
    return a, b, b_copy, bridge


def test_a_bridging_report_merges_two_stored_events_and_moves_every_member(
    store: Store,
) -> None:
    a, b, b_copy, bridge = bridge_scenario()
    for s in (a, b, b_copy):
        assert store.stories.index([s], now=NOW).errors == []
        assert group_pending(store, window_days=7, now=NOW)["errors"] == []
    store.refresh()
    before = {s.id: s.event_id for s in store.stories.get(["a", "b", "b-copy"])}
    assert before == {"a": "a", "b": "b", "b-copy": "b"}

    assert store.stories.index([bridge], now=NOW).errors == []
    report = group_pending(store, window_days=7, now=NOW)
    assert report["errors"] == []
    assert report["events_merged"] == 1
    store.refresh()
    after = {s.id: s.event_id for s in store.stories.get(["a", "b", "b-copy", "bridge"])}
    assert after == dict.fromkeys(after, "a")
    assert len(after) == 4
    docs = {
        h["_id"]: h["_source"]
        for h in store.es.search(index=store.names.stories, size=10)["hits"]["hits"]
    }
    # The earliest report carries the event's counts; the merged-away primary no longer does.
    assert docs["a"]["is_event_primary"] is True
    assert docs["a"]["event_size"] == 4
    assert docs["a"]["event_outlets"] == ["Outlet A", "Outlet B", "Outlet C", "Outlet D"]
    assert docs["a"]["event_languages"] == ["en"]
    assert docs["a"]["event_first_seen"].startswith(NOW.strftime("%Y-%m-%dT%H:%M"))
    assert docs["a"]["event_aliases"] == ["b"]
    assert docs["b-copy"]["event_aliases"] == ["b"]
    assert docs["b"]["is_event_primary"] is False
    assert docs["b"].get("event_size") is None
    # Moving the members again (a retried pass) finds nothing left to move.
    assert store.events.relabel_events({"b": "a"}) == []
    store.refresh()
    assert {s.id: s.event_id for s in store.stories.get(list(after))} == after


def test_a_later_pass_of_one_run_sees_the_merge_an_earlier_pass_made(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One story per pass, all in one `group_pending` call: the pass of `late` reuses the
    # candidates b and b-copy as read before the bridge merged their event into a, so it
    # must see them in event a, as the stored documents now say.
    monkeypatch.setattr(grouping, "PASS_SIZE", 1)
    late = _plain(
        "late",
        3,
        "Outlet E",
        "Fidan urges every state to back the South Africa case",
        "Hakan Fidan, in Ankara with his Malaysian counterpart, urged every state to back the "
        "South Africa case, calling it a test for international law.",
    )
    stories = [*bridge_scenario(), late]
    assert store.stories.index(stories, now=NOW).errors == []
    report = group_pending(store, window_days=7, now=NOW)
    assert report["errors"] == []
    assert (report["passes"], report["events_merged"]) == (5, 1)
    store.refresh()
    got = {s.id: s.event_id for s in store.stories.get([s.id for s in stories])}
    assert got == dict.fromkeys(["a", "b", "b-copy", "bridge", "late"], "a")


def _edition(i: int, outlet: str, hours: float, title: str, summary: str) -> dict[str, Any]:
    return {
        "id": f"{outlet}-{i}",
        "url": f"https://{outlet}.example/{i}",
        "outlet": outlet,
        "published": (NOW + timedelta(hours=hours)).isoformat(),
        "title": title,
        "summary": summary,
        "lang": "en",
    }


def test_a_daily_roundup_polled_for_30_days_gives_30_events_and_a_live_blog_two(
    store: Store, tagger: Tagger
) -> None:
    """One poll a day: each day's edition meets the earlier ones as stored stories."""
    roundup = [
        _edition(
            d,
            "eveningdesk",
            24 * d,
            "Evening wrap: the Gaza talks, Ankara and Jerusalem in five minutes",
            f"Edition {300 + d} of our evening wrap: where the ceasefire talks with Hamas "
            "stand, what Ankara said, and what Jerusalem plans next.",
        )
        for d in range(30)
    ]
    live = [
        _edition(
            k,
            "livedesk",
            24 * 31 + 26 * k,
            "Live: drones over the Golan, sirens in the north",
            "Our live page follows the drones over the Golan and the sirens across northern "
            "Israel, with word from Ankara and Washington." + (" Second day." if k else ""),
        )
        for k in range(2)
    ]
    rows = roundup + live
    stories = [record_to_story(r, NOW) for r in rows]
    got = _pipeline_events(store, stories, tagger, runs=len(stories))
    expected = {o["id"]: o["event_id"] for o in dedupe_records(rows, NOW, tagger)}
    assert got == expected
    assert len({got[r["id"]] for r in roundup}) == 30
    assert len({got[r["id"]] for r in live}) == 2


def test_init_adds_the_event_fields_to_an_index_made_by_an_earlier_version(
    es_client: Elasticsearch, index_prefix: str
) -> None:
    store = Store(es_client, index_prefix)
    old = index_template("stories")["template"]["mappings"]
    new_fields = {"event_terms", "event_aliases", "is_event_primary", "event_size"}
    props = {k: v for k, v in old["properties"].items() if k not in new_fields}
    month = store.names.stories_for(NOW)
    es_client.indices.create(index=month, mappings={"dynamic": False, "properties": props})
    report = store.lifecycle.install(NOW)
    assert month in report["upgraded"]
    have = es_client.indices.get_mapping(index=month)[month]["mappings"]["properties"]
    assert new_fields <= set(have)
    # Installing again finds nothing to add.
    assert store.lifecycle.install(NOW)["upgraded"] == []


def test_a_later_pass_counts_terms_as_a_fresh_count_would(store: Store, tagger: Tagger) -> None:
    # A grouping run counts the stories grouped before it once, keeps its own in memory, and
    # asks Elasticsearch only about the former: its next pass must weigh terms exactly as a
    # look-up counting everything afresh does.
    if not DEV_SET.exists():
        pytest.fail(f"{DEV_SET} is missing: the shared corpus must be beside the repository")
    stories = sorted((record_to_story(r, NOW) for r in jsonl_rows(DEV_SET)), key=_arrival)
    tag_stories(stories, tagger)
    k = len(stories) // 3
    first, second, third = stories[:k], stories[k : 2 * k], stories[2 * k :]
    assert store.stories.index(first, now=NOW).errors == []
    assert group_pending(store, window_days=7, now=NOW)["errors"] == []
    assert store.stories.index([*second, *third], now=NOW).errors == []

    # One pass of `second` in run "r1", written as `group_pending` writes it; then `third` is
    # prefetched by the run's next pass and by a look-up of no run.
    lookup, events = store.lookup("r1"), store.event_lookup("r1")
    grouping.decide_groups(second, lookup, 7, events)
    assert store.events.relabel_events(events.relabels()) == []
    assert store.stories.apply_groups(second, now=NOW, run="r1") == []
    store.stories.refresh()
    later, fresh = events.next_pass(), store.event_lookup()
    later.prefetch(third)
    fresh.prefetch(third)
    wanted = sorted({t for s in third for t in event_terms(s)})  # what both have counted
    kept, counted = later.term_stats(wanted), fresh.term_stats(wanted)
    assert kept.stories == counted.stories == len(first) + len(second)
    assert kept.doc_freq == counted.doc_freq
    # Not trivially equal: terms of `third` that `second`'s stories hold too.
    assert {t for s in second for t in event_terms(s)} & set(wanted)
    # The run's next pass finds its earlier stories in memory, not in Elasticsearch.
    assert all(s.id in later.memory for s in second)
    found = {c.id for s in third for c in later._candidates.get(s.id, [])}
    assert not found & {s.id for s in second}
    assert found <= {s.id for s in first}
