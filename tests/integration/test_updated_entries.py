"""Updated entries on real services: a known item whose text changed is stored as a new
version with its history, re-tagged, and alerted only when the change makes a rule match for
the first time."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from localdev.feedserver import FeedServer
from localdev.mailcatcher import MailCatcher
from monitor import pipeline
from monitor.config import Settings, load_settings
from monitor.pipeline.updates import apply_updates
from monitor.store.revisions import revision_fields
from tests.factories import (
    NOW,
    SubscriberEntry,
    digest_rule,
    instant_rule,
    rss_feed,
    served_feeds,
    subscriber,
    write_config,
)

RULE = "topics:turkey_israel"
WATCH = [subscriber(instant_rule(RULE, name="Turkey and Israel"))]
PUB = "Mon, 28 Dec 2026 09:00:00 +0000"

ENVOY = {
    "guid": "harbour-envoy-1",
    "link": "https://harbour-times.example.org/envoy",
    "title": "Turkish foreign minister calls Israeli envoy over Gaza",
    "summary": "Ankara summoned the ambassador of Israel after the strike.",
    "pubDate": PUB,
}
FERRY = {
    "guid": "harbour-ferry-2",
    "link": "https://harbour-times.example.org/ferry",
    "title": "Port authority reviews ferry timetable",
    "summary": "The harbour board will publish the winter crossings in spring.",
    "pubDate": PUB,
}
MARKET = {
    "guid": "market-1",
    "link": "https://market-news.example.org/fish",
    "title": "Fish market opens an hour earlier",
    "summary": "Stalls will trade from five in the morning through the winter.",
    "pubDate": PUB,
}
BAKERS = {
    "guid": "harbour-bakers-3",
    "link": "https://harbour-times.example.org/bakers",
    "title": "Bakers protest flour prices",
    "summary": "Small bakeries say the wholesale price of flour doubled since summer.",
    "pubDate": PUB,
}

# The ferry story rewritten so that the Turkish-Israeli topic now matches it.
FERRY_TURKISH = FERRY | {
    "summary": "Cargo sailings between Israeli and Turkish ports will resume next month, "
    "the Turkish trade ministry in Ankara told Israel."
}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[FeedServer]:
    root = tmp_path / "www"
    root.mkdir()
    with FeedServer(root) as server:
        yield server


def _publish(server: FeedServer, items: list[dict[str, str]]) -> None:
    (Path(server.directory) / "harbour.xml").write_text(
        rss_feed("Harbour Times", items), encoding="utf-8"
    )


def _configured(
    tmp_path: Path,
    served: FeedServer,
    env: dict[str, str],
    *feeds: str,
    subscribers: Sequence[SubscriberEntry] | None = None,
) -> Settings:
    """Settings for the served feeds (harbour.xml unless named), initialised at NOW."""
    cfg = write_config(
        tmp_path / "cfg",
        feeds=served_feeds(served, *(feeds or ("harbour.xml",))),
        subscribers=subscribers,
    )
    s = load_settings(cfg, env)
    pipeline.init(s, NOW)
    return s


def _doc(es: Elasticsearch, s: Settings, link: str) -> dict[str, Any]:
    store = pipeline.open_store(s)
    store.refresh()
    res = es.search(index=store.names.stories, query={"term": {"canonical_url": link}})
    hits = res["hits"]["hits"]
    assert len(hits) == 1, hits
    return dict(hits[0]["_source"])


def test_changed_item_is_versioned_and_alerted_only_on_a_first_match(
    tmp_path: Path,
    served: FeedServer,
    smtp_server: MailCatcher,
    newsmon_env: dict[str, str],
    es_client: Elasticsearch,
) -> None:
    _publish(served, [ENVOY, FERRY, BAKERS])
    # Another feed in the same runs, unchanged throughout.
    (Path(served.directory) / "market.xml").write_text(
        rss_feed("Market News", [MARKET]), encoding="utf-8"
    )
    s = _configured(tmp_path, served, newsmon_env, "harbour.xml", "market.xml", subscribers=WATCH)
    first = pipeline.poll(s, now=NOW)
    assert first["stories_new"] == 4
    assert first["stories_updated"] == 0
    assert pipeline.send_alerts(s, now=NOW + timedelta(minutes=1))["sent"] == 1  # the envoy

    # The outlet rewrites two headlines' stories; a third only changes case and spacing.
    envoy2 = ENVOY | {"title": "Turkish foreign minister summons Israeli envoy a second time"}
    ferry2 = FERRY_TURKISH
    bakers2 = BAKERS | {"title": "BAKERS  protest flour prices!"}
    _publish(served, [envoy2, ferry2, bakers2])
    later = NOW + timedelta(minutes=10)
    second = pipeline.poll(s, now=later)
    assert second["stories_new"] == 0
    assert {r["feed"]: r["status"] for r in second["feeds"]} == {
        "harbour": "ok",
        "market": "not modified",
    }
    assert second["updates"] == {"updated": 2, "new_match": 1, "conflicts": 0}

    envoy = _doc(es_client, s, ENVOY["link"])
    assert envoy["title"] == envoy2["title"]
    assert [h["title"] for h in envoy["history"]] == [ENVOY["title"]]
    assert envoy["history"][0]["seen_at"] == NOW.isoformat()
    assert "new_match" not in envoy  # matched before: stays out of the alert window
    assert envoy["grouped_at"] == NOW.isoformat()

    ferry = _doc(es_client, s, FERRY["link"])
    assert ferry["topics"] == ["turkey_israel"]  # re-tagged on the new text
    assert [h["summary"] for h in ferry["history"]] == [FERRY["summary"]]
    assert ferry["new_match"] == ["Turkey and Israel"]
    assert ferry["updated_at"] == later.isoformat()

    market = _doc(es_client, s, MARKET["link"])
    assert "history" not in market
    assert "updated_at" not in market

    bakers = _doc(es_client, s, BAKERS["link"])
    assert bakers["title"] == BAKERS["title"]
    assert "history" not in bakers

    # The next alert run sends the newly matching ferry story once and not the envoy again,
    # although the envoy is still inside the window's overlap.
    assert pipeline.send_alerts(s, now=later + timedelta(minutes=1))["sent"] == 1
    mails = smtp_server.wait_for(2)
    assert len(mails) == 2
    assert "ferry timetable" in mails[1].get_body().get_content()  # type: ignore[union-attr]

    # The same text polled again is no new version, and nothing more is sent.
    third = pipeline.poll(s, now=later + timedelta(minutes=10))
    assert third["updates"]["updated"] == 0
    assert pipeline.send_alerts(s, now=later + timedelta(minutes=11))["sent"] == 0
    assert len(smtp_server.messages) == 2


def test_two_writers_of_one_change_record_one_version(
    tmp_path: Path, served: FeedServer, newsmon_env: dict[str, str]
) -> None:
    _publish(served, [BAKERS])
    s = _configured(tmp_path, served, newsmon_env)
    pipeline.poll(s, now=NOW)
    store = pipeline.open_store(s)
    (sid,) = store.revisions.current([_doc_id(store, BAKERS["link"])]).keys()
    # Both polls read the same stored version, then both try to write their new text.
    a = store.revisions.current([sid])[sid]
    b = store.revisions.current([sid])[sid]
    a.story.title = "Bakers close shops for a day over flour prices"
    doc = revision_fields(a.story, [{"title": BAKERS["title"]}], NOW + timedelta(minutes=5))
    assert store.revisions.revise(a, doc) is True
    assert store.revisions.revise(b, doc) is False  # the loser re-reads instead
    stored = store.revisions.current([sid])[sid]
    assert len(stored.history) == 1
    assert stored.story.title == "Bakers close shops for a day over flour prices"


def _doc_id(store: Any, link: str) -> str:
    store.refresh()
    res = store.es.search(index=store.names.stories, query={"term": {"canonical_url": link}})
    return str(res["hits"]["hits"][0]["_id"])


def test_concurrent_polls_of_one_change_record_one_version(
    tmp_path: Path, served: FeedServer, newsmon_env: dict[str, str]
) -> None:
    _publish(served, [BAKERS])
    s = _configured(tmp_path, served, newsmon_env)
    pipeline.poll(s, now=NOW)
    store = pipeline.open_store(s)
    sid = _doc_id(store, BAKERS["link"])
    (stored,) = store.stories.get([sid])
    changed = dataclasses.replace(stored, title="Bakers close their shops for a day over flour")
    tagger = pipeline.tagger_for(s)
    start = threading.Barrier(4)

    def one_poll(_: int) -> dict[str, Any]:
        mine = pipeline.open_store(s)  # each poll its own client, as separate tasks have
        start.wait()
        return apply_updates(mine, s, [dataclasses.replace(changed)], tagger, NOW)

    with ThreadPoolExecutor(max_workers=4) as pool:
        reports = list(pool.map(one_poll, range(4)))

    assert sum(r["updated"] for r in reports) == 1
    assert sum(r["conflicts"] for r in reports) == 0
    final = store.revisions.current([sid])[sid]
    assert final.story.title == changed.title
    assert [h["title"] for h in final.history] == [BAKERS["title"]]


def test_digest_lists_an_updated_story_once_per_rule(
    tmp_path: Path,
    served: FeedServer,
    smtp_server: MailCatcher,
    newsmon_env: dict[str, str],
) -> None:
    # Two hourly digests: one on the ferry's subject (matches its old and its new text), one
    # on the topic the ferry's new text brings in.
    _publish(served, [FERRY])
    ferry_digest = digest_rule("ferry", name="ferries")
    topic_digest = digest_rule(RULE, name="Turkey and Israel digest")
    s = _configured(
        tmp_path, served, newsmon_env, subscribers=[subscriber(ferry_digest, topic_digest)]
    )
    pipeline.poll(s, now=NOW)  # 23:47
    midnight = NOW.replace(minute=0) + timedelta(hours=1)
    assert pipeline.send_digests(s, now=midnight)["sent"] == 1  # ferries lists it
    assert "ferries" in smtp_server.wait_for(1)[0]["Subject"]

    # In the next hour an update makes the topic rule match the ferry for the first time.
    _publish(served, [FERRY_TURKISH])
    assert pipeline.poll(s, now=midnight + timedelta(minutes=10))["updates"]["new_match"] == 1

    # The next slot lists it for the topic digest only: the ferries digest had it already.
    report = pipeline.send_digests(s, now=midnight + timedelta(hours=1))
    assert report["sent"] == 1, report
    mails = smtp_server.wait_for(2)
    assert len(mails) == 2
    assert "Turkey and Israel digest" in mails[1]["Subject"]
    assert "ferry timetable" in mails[1].get_body().get_content()  # type: ignore[union-attr]


def test_a_story_updated_within_its_first_slot_is_still_listed_for_the_old_rule(
    tmp_path: Path,
    served: FeedServer,
    smtp_server: MailCatcher,
    newsmon_env: dict[str, str],
) -> None:
    _publish(served, [FERRY])
    rules = subscriber(digest_rule("ferry", name="ferries"), instant_rule(RULE))
    s = _configured(tmp_path, served, newsmon_env, subscribers=[rules])
    pipeline.poll(s, now=NOW - timedelta(minutes=30))  # 23:17
    _publish(served, [FERRY_TURKISH])
    assert pipeline.poll(s, now=NOW)["updates"]["new_match"] == 1  # 23:47, the same hour
    midnight = NOW.replace(minute=0) + timedelta(hours=1)
    assert pipeline.send_digests(s, now=midnight)["sent"] == 1
    assert "ferries" in smtp_server.wait_for(1)[0]["Subject"]
