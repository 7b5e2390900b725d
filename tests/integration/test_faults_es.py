"""Elasticsearch faults injected while a poll runs (#15): a real node behind localdev.faultproxy.

Each test is named for the guarantee it checks. The poll talks to the proxy; the test reads
the truth from the node directly.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from elasticsearch import Elasticsearch

from localdev.faultproxy import FaultProxy
from localdev.feedserver import FeedServer
from monitor import pipeline
from monitor.config import Settings, load_settings
from monitor.store import StoreError
from tests.factories import NOW, served_feeds, write_config

FEEDS = Path(__file__).resolve().parents[1] / "fixtures" / "feeds"
pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.timeout(240)]


@pytest.fixture
def proxy(elasticsearch_url: str) -> Iterator[FaultProxy]:
    target = urlsplit(elasticsearch_url)
    with FaultProxy(target.hostname or "127.0.0.1", target.port or 9200) as p:
        yield p


@pytest.fixture
def served(tmp_path: Path) -> Iterator[FeedServer]:
    root = tmp_path / "www"
    root.mkdir()
    for name in ("wire-a.xml", "outlet-b.xml"):
        shutil.copy(FEEDS / name, root / name)
    with FeedServer(root) as server:
        yield server


def _settings(
    tmp_path: Path, served: FeedServer, env: dict[str, str], es_url: str
) -> tuple[Settings, Settings]:
    """(settings through the proxy, settings straight to the node)."""
    cfg = write_config(tmp_path / "cfg", feeds=served_feeds(served, "wire-a.xml", "outlet-b.xml"))
    direct = load_settings(cfg, env)
    faulty = load_settings(cfg, {**env, "NEWSMON_ES_URL": es_url, "NEWSMON_ES_TIMEOUT": "2"})
    return faulty, direct


def _stories(es: Elasticsearch, prefix: str) -> list[dict[str, Any]]:
    es.indices.refresh(index=f"{prefix}-stories*")
    res = es.search(index=f"{prefix}-stories*", size=100, query={"match_all": {}})
    return [h["_source"] for h in res["hits"]["hits"]]


def test_an_elasticsearch_that_never_answers_fails_the_poll_in_one_line(
    tmp_path: Path, served: FeedServer, newsmon_env: dict[str, str], proxy: FaultProxy
) -> None:
    faulty, direct = _settings(tmp_path, served, newsmon_env, proxy.url)
    pipeline.init(direct, NOW)
    proxy.mode = "blackhole"
    with pytest.raises(StoreError) as info:
        pipeline.poll(faulty, now=NOW)
    message = str(info.value)
    assert info.value.unreachable
    assert "\n" not in message
    assert "cannot reach Elasticsearch" in message


def test_an_answer_slower_than_the_client_timeout_is_retried_and_stores_each_story_once(
    tmp_path: Path,
    served: FeedServer,
    newsmon_env: dict[str, str],
    proxy: FaultProxy,
    es_client: Elasticsearch,
) -> None:
    faulty, direct = _settings(tmp_path, served, newsmon_env, proxy.url)
    pipeline.init(direct, NOW)
    # The node indexes the first bulk request, but its answer comes after the client gave up.
    proxy.slow_answer(b"_bulk", 5.0)

    report = pipeline.poll(faulty, now=NOW)

    assert proxy.fired() == 1
    assert sum(1 for line in proxy.requests_seen() if b"_bulk" in line) >= 2  # retried
    assert report["feeds_failed"] == 0
    docs = _stories(es_client, faulty.index_prefix)
    assert len(docs) == 5  # wire A's 3 items and outlet B's 2, once each
    assert len({d["id"] for d in docs}) == 5
    assert all(d["grouped"] for d in docs)
    again = pipeline.poll(faulty, batch=["wire-a", "outlet-b"], now=NOW + timedelta(minutes=15))
    assert again["stories_new"] == 0


def test_elasticsearch_killed_after_indexing_loses_no_story_and_keeps_feed_state_back(
    tmp_path: Path,
    served: FeedServer,
    newsmon_env: dict[str, str],
    proxy: FaultProxy,
    es_client: Elasticsearch,
) -> None:
    faulty, direct = _settings(tmp_path, served, newsmon_env, proxy.url)
    pipeline.init(direct, NOW)
    # The node dies right after answering the stories' bulk request: grouping and the feed
    # state update never reach it.
    proxy.die_after(b"_bulk")
    with pytest.raises(StoreError):
        pipeline.poll(faulty, now=NOW)
    store = pipeline.open_store(direct)
    states = store.feeds.load(["wire-a", "outlet-b"])
    assert all(st.last_success is None for st in states.values())
    assert all(st.etag is None for st in states.values())
    pending = _stories(es_client, direct.index_prefix)
    assert len(pending) == 5
    assert not any(d["grouped"] for d in pending)  # indexed, not yet alertable

    proxy.mode = "pass"  # the node is back
    later = NOW + timedelta(minutes=15)
    report = pipeline.poll(faulty, batch=["wire-a", "outlet-b"], now=later)

    assert report["feeds_failed"] == 0
    docs = _stories(es_client, direct.index_prefix)
    assert len(docs) == 5
    assert len({d["id"] for d in docs}) == 5
    assert all(d["grouped"] for d in docs)  # the restarted poll grouped what was pending
    states = store.feeds.load(["wire-a", "outlet-b"])
    assert all(st.last_success == later for st in states.values())
