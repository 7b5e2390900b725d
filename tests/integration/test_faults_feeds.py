"""Feed servers that misbehave (#15), all in one poll beside a good feed: real HTTP servers on
loopback, real Elasticsearch. Each bad feed ends in one recorded line and loses nothing it had;
the good feed is read in full."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from localdev.feedserver import FeedServer
from monitor import pipeline
from monitor.config import load_settings
from tests.factories import NOW, feed, served_feed, write_config

FEEDS = Path(__file__).resolve().parents[1] / "fixtures" / "feeds"
pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.timeout(180)]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[FeedServer]:
    root = tmp_path / "www"
    root.mkdir()
    for name in ("wire-a.xml", "outlet-b.xml", "outlet-c.xml"):
        shutil.copy(FEEDS / name, root / name)
    whole = (FEEDS / "outlet-c.xml").read_bytes()
    # Cut inside the second item: the first is whole, the rest is missing.
    (root / "cut.xml").write_bytes(whole[: whole.index(b"<item>", whole.index(b"<item>") + 1) + 40])
    with FeedServer(root) as server:
        yield server


def test_misbehaving_feed_servers_are_one_line_each_and_never_hurt_the_good_feed(
    tmp_path: Path, served: FeedServer, newsmon_env: dict[str, str], es_client: Elasticsearch
) -> None:
    size = (Path(served.directory) / "outlet-b.xml").stat().st_size
    feeds = [
        served_feed(served, "wire-a.xml"),
        feed("reset-mid-body", served.url_for(f"_/reset/{size // 2}/outlet-b.xml")),
        feed("trickle", served.url_for("_/trickle/20")),
        feed("hang", served.url_for("_/hang/20")),
        served_feed(served, "cut.xml"),
        feed("http-500", served.url_for("_/status/500")),
        feed("http-429", served.url_for("_/status/429?retry_after=120")),
        feed("redirect-loop", served.url_for("_/redirect-loop/1")),
    ]
    s = load_settings(
        write_config(tmp_path / "cfg", feeds=feeds), {**newsmon_env, "NEWSMON_FETCH_TIMEOUT": "3"}
    )
    pipeline.init(s, NOW)

    report = pipeline.poll(s, now=NOW)

    rows = {r["feed"]: r for r in report["feeds"]}
    assert rows["wire-a"]["status"] == "ok"
    assert rows["wire-a"]["new"] == 3
    expected = {
        "reset-mid-body": "connection reset",
        "trickle": "timed out",
        "hang": "timed out",
        "http-500": "HTTP 500",
        "http-429": "HTTP 429",
        "redirect-loop": "too many redirects",
    }
    for name, words in expected.items():
        row = rows[name]
        assert row["status"] == "error", name
        assert words in row["error"], (name, row["error"])
        assert "\n" not in row["error"]
        assert len(row["error"]) <= 300
    # The cut body: what it held is indexed, and its validators are dropped so the next poll
    # reads the whole feed.
    assert rows["cut"]["status"] == "ok"
    assert rows["cut"]["new"] == 1
    assert rows["cut"]["warnings"] >= 1
    states = pipeline.open_store(s).feeds.load(list(rows))
    assert states["cut"].etag is None
    assert states["wire-a"].etag is not None
    for name in expected:
        assert states[name].consecutive_failures == 1
        assert states[name].last_success is None
