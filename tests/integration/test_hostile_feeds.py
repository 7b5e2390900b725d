"""The hostile-input corpus (tests/fixtures/hostile/), polled in one run beside a good feed.

Real Elasticsearch, a real HTTP feed server on loopback. Each hostile feed must end in a
one-line error on its row or in stories cleaned of what made it hostile; nothing crashes or
hangs, and the good feed's stories are all indexed.
"""

from __future__ import annotations

import shutil
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from localdev.feedserver import FeedServer
from monitor import pipeline
from monitor.config import load_settings
from tests.factories import NOW, feed, served_feed, write_config

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
HOSTILE = FIXTURES / "hostile"
pytestmark = [pytest.mark.integration, pytest.mark.faults]

# Cases that must be refused (their row is an error), and cases whose stories must be kept.
REFUSED = {"billion-laughs", "quadratic-blowup", "html-page", "gzip-bomb"}
KEPT = {
    "xxe-file",
    "xxe-remote",
    "invalid-utf8",
    "wrong-encoding",
    "utf16-bom",
    "bidi-spoof",
    "script-summary",
    "header-injection",
    "truncated",
    "huge-entry-count",
}
# Characters no stored title or summary may carry: controls and the bidirectional overrides
# and isolates that make text read differently from what it says.
_SPOOF = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200B, 0xFEFF)}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[FeedServer]:
    root = tmp_path / "www"
    root.mkdir()
    for path in HOSTILE.glob("*.xml"):
        shutil.copy(path, root / path.name)
    shutil.copy(FIXTURES / "feeds" / "wire-a.xml", root / "wire-a.xml")
    items = "".join(
        f"<item><link>https://big.example.org/i/{n}</link></item>" for n in range(100_000)
    )
    (root / "huge-entry-count.xml").write_text(
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>Big</title>{items}'
        "</channel></rss>"
    )
    # 50 MB of spaces, served gzip-encoded (about 50 KB on the wire): over the 10 MB body cap.
    (root / "gzip-bomb.xml").write_bytes(b"<rss>" + b" " * 50_000_000)
    with FeedServer(root) as server:
        yield server


def _docs(es: Elasticsearch, prefix: str) -> dict[str, list[dict[str, Any]]]:
    es.indices.refresh(index=f"{prefix}-stories*")
    res = es.search(index=f"{prefix}-stories*", query={"match_all": {}}, size=2000)
    out: dict[str, list[dict[str, Any]]] = {}
    for hit in res["hits"]["hits"]:
        out.setdefault(hit["_source"]["feed_id"], []).append(hit["_source"])
    return out


@pytest.mark.timeout(300)
def test_every_hostile_feed_is_refused_or_cleaned_and_the_good_feed_is_read(
    tmp_path: Path, served: FeedServer, newsmon_env: dict[str, str], es_client: Elasticsearch
) -> None:
    names = sorted(p.stem for p in Path(served.directory).glob("*.xml") if p.stem != "gzip-bomb")
    feeds = [served_feed(served, f"{n}.xml") for n in names]
    feeds.append(feed("gzip-bomb", served.url_for("_/gzip/gzip-bomb.xml")))
    s = load_settings(write_config(tmp_path / "cfg", feeds=feeds), newsmon_env)
    pipeline.init(s, NOW)

    report = pipeline.poll(s, now=NOW)

    rows = {r["feed"]: r for r in report["feeds"]}
    assert set(rows) == REFUSED | KEPT | {"wire-a", "script-links", "nul-bytes"}
    assert rows["wire-a"]["new"] == 3
    assert report["index_errors"] == []
    for name in REFUSED:
        assert rows[name]["status"] == "error", name
        assert "\n" not in rows[name]["error"]
        assert len(rows[name]["error"]) <= 300
    for name in KEPT:
        assert rows[name]["status"] == "ok", (name, rows[name]["error"])
        assert rows[name]["new"] >= 1, name
    assert rows["huge-entry-count"]["new"] == 1000  # the cap; the rest counted in warnings

    docs = _docs(es_client, s.index_prefix)
    stored = [d for feed_docs in docs.values() for d in feed_docs]
    for d in stored:
        for key in ("title", "summary"):
            text = str(d.get(key) or "")
            assert not any(unicodedata.category(ch) == "Cc" for ch in text), (key, text)
            assert not _SPOOF & set(text), (key, text)
            assert "<script" not in text.lower()
            assert "onerror" not in text.lower() or "<" not in text
        assert d["url"] == "" or d["url"].startswith(("http://", "https://"))
        assert "root:x:0:0" not in str(d)
    # javascript: and data: links are no links; the items' text still stands (since #11 an
    # item with text but no usable link or GUID is kept, identified by a hash of its text).
    assert sorted(d["title"] for d in docs["script-links"]) == [
        "Click here for the tide",
        "Or here",
    ]
    assert all(d["url"] == "" for d in docs["script-links"])
    (xxe,) = docs["xxe-file"]
    assert "force nine" in xxe["summary"]
    (html_title,) = docs["script-summary"]
    assert "Berth 4 is closed." in html_title["summary"]
    assert "<" not in html_title["title"]
    (injected,) = docs["header-injection"]
    assert "\r" not in injected["title"]
    assert "\n" not in injected["title"]
    (spoof,) = docs["bidi-spoof"]
    assert spoof["title"].startswith("Invoice gnp.exe")
    assert len(docs["truncated"]) == 3  # the items before the cut
    # The same run, polled again: nothing new, nothing crashes.
    again = pipeline.poll(s, batch=[f["id"] for f in feeds], now=NOW)
    assert again["stories_new"] == 0
