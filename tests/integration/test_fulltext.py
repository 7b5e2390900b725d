"""Full text on real services: a feed with `fulltext: true` gets its article pages fetched
(robots.txt obeyed), extracted, indexed as `content` and tagged on; a page it may not or
cannot fetch leaves the story indexed with its summary and a warning."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from localdev.feedserver import FeedServer
from monitor import pipeline
from monitor.config import Settings, load_settings
from tests.factories import NOW, feed, rss_feed, write_config

PUB = "Mon, 28 Dec 2026 09:00:00 +0000"
ROBOTS = "User-agent: *\nDisallow: /private/\n"

# The feed's teaser says nothing about either topic; the article page does.
ENVOY_PAGE = """<!doctype html><html><head><title>Envoy summoned</title></head><body>
<nav><a href="/">Front page</a> <a href="/weather">Weather</a> <a href="/sport">Sport</a></nav>
<article><h1>Envoy summoned after overnight strike</h1>
<p>Turkey's foreign ministry in Ankara summoned the Israeli ambassador on Monday morning to
protest against an overnight strike near the border crossing, officials said.</p>
<p>The Turkish foreign minister told reporters that relations between Turkey and Israel
could not improve while the strikes went on, and that trade talks were on hold.</p>
<p>The Israeli embassy said the ambassador had listened to the complaint and passed it on
to the government, and that both sides wanted to keep their channels open.</p>
</article><footer>Harbour Times · all rights reserved</footer></body></html>
"""
EMPTY_PAGE = """<!doctype html><html><body><nav><a href="/">Front page</a></nav>
<div class="gallery"><img src="/1.jpg"><img src="/2.jpg"></div></body></html>
"""
SECRET_PAGE = """<!doctype html><html><body><article><h1>Members only</h1>
<p>This page is for subscribers and must never be fetched by a robot.</p></article></body></html>
"""


@pytest.fixture
def served(tmp_path: Path) -> Iterator[FeedServer]:
    root = tmp_path / "www"
    (root / "news").mkdir(parents=True)
    (root / "private").mkdir()
    with FeedServer(root) as server:
        yield server


def _item(server: FeedServer, n: int, path: str, title: str, summary: str) -> dict[str, str]:
    return {
        "guid": f"harbour-{n}",
        "link": server.url_for(path),
        "title": title,
        "summary": summary,
        "pubDate": PUB,
    }


def _by_title(es: Elasticsearch, s: Settings) -> dict[str, dict[str, Any]]:
    store = pipeline.open_store(s)
    store.refresh()
    res = es.search(index=store.names.stories, size=50, query={"match_all": {}})
    return {h["_source"]["title"]: h["_source"] for h in res["hits"]["hits"]}


def test_full_text_obeys_robots_and_keeps_every_story(
    tmp_path: Path, served: FeedServer, newsmon_env: dict[str, str], es_client: Elasticsearch
) -> None:
    www = Path(served.directory)
    (www / "robots.txt").write_text(ROBOTS, encoding="utf-8")
    (www / "news" / "envoy.html").write_text(ENVOY_PAGE, encoding="utf-8")
    (www / "private" / "members.html").write_text(SECRET_PAGE, encoding="utf-8")
    (www / "news" / "empty.html").write_text(EMPTY_PAGE, encoding="utf-8")
    items = [
        _item(served, 1, "news/envoy.html", "Envoy summoned", "A diplomatic row, details inside."),
        _item(served, 2, "private/members.html", "Members briefing", "For subscribers."),
        _item(served, 3, "news/gone.html", "Tide tables", "The spring tide tables are out."),
        _item(served, 5, "news/empty.html", "Gallery photos", "Pictures from the regatta."),
        _item(served, 6, "_/hang/5", "Slow page", "A page that never answers in time."),
    ]
    (www / "harbour.xml").write_text(rss_feed("Harbour Times", items), encoding="utf-8")
    # A feed without full text in the same run: its article is never asked for.
    other = [_item(served, 4, "news/market.html", "Fish market opens", "Stalls at dawn.")]
    (www / "market.xml").write_text(rss_feed("Market News", other), encoding="utf-8")
    cfg = write_config(
        tmp_path / "cfg",
        feeds=[
            feed("harbour", served.url_for("harbour.xml"), fulltext=True),
            feed("market", served.url_for("market.xml")),
        ],
    )
    s = load_settings(
        cfg,
        newsmon_env | {"NEWSMON_FULLTEXT_HOST_DELAY_MS": "100", "NEWSMON_FETCH_TIMEOUT": "2"},
    )
    pipeline.init(s, NOW)

    report = pipeline.poll(s, now=NOW)

    assert report["stories_new"] == 6
    assert report["feeds_failed"] == 0
    assert report["fulltext"] == {"requested": 5, "extracted": 1}
    assert len(report["fulltext_warnings"]) == 4
    assert {r["feed"]: r["warnings"] for r in report["feeds"]} == {"harbour": 4, "market": 0}
    docs = _by_title(es_client, s)
    envoy = docs["Envoy summoned"]
    assert "trade talks were on hold" in envoy["content"]
    assert "Front page" not in envoy["content"]  # the page's menu is not the article
    assert envoy["topics"] == ["turkey_israel"]  # tagged on the article, not the teaser
    assert envoy.get("content_warning") is None

    members = docs["Members briefing"]
    assert members["content"] is None
    assert members["content_warning"] == "full text: disallowed by robots.txt"
    assert served.requests_for("private/members.html") == []

    tides = docs["Tide tables"]
    assert tides["summary"] == "The spring tide tables are out."
    assert tides["content_warning"] == "full text: HTTP 404"

    empty = docs["Gallery photos"]
    assert empty["content_warning"] == "full text: nothing article-like on the page"
    slow = docs["Slow page"]
    assert slow["content_warning"] == "full text: timed out after 2s"
    assert slow["summary"] == "A page that never answers in time."

    assert docs["Fish market opens"].get("content") is None
    assert served.requests_for("news/market.html") == []
    assert len(served.requests_for("robots.txt")) == 1  # read once per host and poll
