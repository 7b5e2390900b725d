"""One absurd item or body never costs its feed, the other feeds, or a later poll a story (#15).

Real Elasticsearch and a real HTTP feed server: an item with a 1 MB title, a 32 KB link or a
32 KB GUID (over Elasticsearch's term limit) is cut down and indexed beside the others; an
entity bomb is refused in one line while the next feed is read; a body cut short under the
whole file's ETag is read as far as it goes and its validators dropped, so the next poll gets
the rest instead of a 304.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from localdev.feedserver import FeedServer
from localdev.mailcatcher import MailCatcher
from monitor import pipeline
from monitor.config import load_settings
from tests.factories import NOW, instant_rule, served_feed, subscriber, write_config

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "feeds"
pytestmark = [pytest.mark.integration, pytest.mark.faults]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[FeedServer]:
    root = tmp_path / "www"
    root.mkdir()
    with FeedServer(root) as server:
        yield server


def _rss(items: str, doctype: str = "") -> str:
    return (
        f'<?xml version="1.0" encoding="utf-8"?>{doctype}<rss version="2.0"><channel>'
        f"<title>Harbour Gazette</title><link>https://gazette.example.org/</link>{items}"
        "</channel></rss>"
    )


def _item(n: int, *, title: str = "", link: str = "", guid: str = "") -> str:
    title = title or f"Harbour board notice number {n}"
    link = link or f"https://gazette.example.org/notices/{n}"
    guid_xml = f'<guid isPermaLink="false">{guid}</guid>' if guid else ""
    return (
        f"<item><title>{title}</title><link>{link}</link>{guid_xml}"
        f"<description>The board posted notice {n} about berths and tides.</description>"
        f"<pubDate>Tue, 19 Dec 2023 0{n % 10}:00:00 GMT</pubDate></item>"
    )


def _stored(es: Elasticsearch, settings_prefix: str, feed_id: str) -> list[dict[str, object]]:
    es.indices.refresh(index=f"{settings_prefix}-stories*")
    res = es.search(
        index=f"{settings_prefix}-stories*", query={"term": {"feed_id": feed_id}}, size=100
    )
    return [h["_source"] for h in res["hits"]["hits"]]


def test_absurd_items_are_cut_down_and_indexed_beside_the_others(
    tmp_path: Path, served: FeedServer, newsmon_env: dict[str, str], es_client: Elasticsearch
) -> None:
    www = Path(served.directory)
    items = [
        _item(1, title="tide tables for the winter " * 40_000),  # about 1 MB
        _item(2, link="https://gazette.example.org/n?ref=" + "r" * 32_000, guid="urn:notice-2"),
        _item(3, guid="tag:gazette.example.org," + "g" * 32_000, link=" "),
        _item(4),
    ]
    (www / "absurd.xml").write_text(_rss("".join(items)), encoding="utf-8")
    bomb = _rss(_item(5, title="&a;" * 10_000), f'<!DOCTYPE rss [<!ENTITY a "{"A" * 10_000}">]>')
    (www / "bomb.xml").write_text(bomb, encoding="utf-8")
    shutil.copy(FIXTURES / "wire-a.xml", www / "wire-a.xml")
    feeds = [served_feed(served, n) for n in ("absurd.xml", "bomb.xml", "wire-a.xml")]
    s = load_settings(write_config(tmp_path / "cfg", feeds=feeds), newsmon_env)
    pipeline.init(s, NOW)

    report = pipeline.poll(s, now=NOW)

    rows = {r["feed"]: r for r in report["feeds"]}
    assert rows["absurd"]["status"] == "ok"
    assert rows["absurd"]["new"] == 4
    assert rows["wire-a"]["new"] == 3
    assert rows["bomb"]["status"] == "error"
    assert "entities expand to more than" in rows["bomb"]["error"]
    assert report["index_errors"] == []
    docs = {d["id"]: d for d in _stored(es_client, s.index_prefix, "absurd")}
    assert len(docs) == 4
    assert max(len(str(d["title"])) for d in docs.values()) <= 501
    assert all(len(str(d.get("guid") or "")) <= 512 for d in docs.values())
    # A second poll finds nothing new and nothing broken.
    again = pipeline.poll(s, batch=["absurd", "wire-a"], now=NOW + timedelta(minutes=15))
    assert again["stories_new"] == 0
    assert again["feeds_failed"] == 0


def test_a_body_cut_short_under_an_unchanged_etag_loses_nothing(
    tmp_path: Path, served: FeedServer, newsmon_env: dict[str, str], es_client: Elasticsearch
) -> None:
    www = Path(served.directory)
    whole = _rss("".join(_item(n) for n in range(1, 31))).encode()
    (www / "notices.xml").write_bytes(whole)
    # The server (a cache holding a partial object) sends the feed cut inside item 18, under
    # the whole file's ETag.
    (www / "notices.xml.cut").write_text(str(whole.index(b"notice number 18") + 5))
    s = load_settings(
        write_config(tmp_path / "cfg", feeds=[served_feed(served, "notices.xml")]), newsmon_env
    )
    pipeline.init(s, NOW)

    first = pipeline.poll(s, now=NOW)
    assert 0 < first["stories_new"] < 30
    store = pipeline.open_store(s)
    state = store.feeds.load(["notices"])["notices"]
    assert state.etag is None
    assert state.last_modified is None

    (www / "notices.xml.cut").unlink()  # the same ETag now stands for the whole file
    second = pipeline.poll(s, batch=["notices"], now=NOW + timedelta(minutes=15))
    assert first["stories_new"] + second["stories_new"] == 30
    assert len(_stored(es_client, s.index_prefix, "notices")) == 30
    assert store.feeds.load(["notices"])["notices"].etag is not None
    # Now complete, the validators hold: the third poll is a 304.
    third = pipeline.poll(s, batch=["notices"], now=NOW + timedelta(minutes=30))
    assert third["feeds"][0]["status"] == "not modified"


def test_a_title_carrying_an_encoded_bcc_reaches_only_the_subscriber(
    tmp_path: Path,
    served: FeedServer,
    smtp_server: MailCatcher,
    newsmon_env: dict[str, str],
) -> None:
    title = "Pilot boat news =?utf-8?q?=0D=0ABcc:_hidden@example.com?= harbour"
    (Path(served.directory) / "pilots.xml").write_text(_rss(_item(1, title=title)), "utf-8")
    cfg = write_config(
        tmp_path / "cfg",
        feeds=[served_feed(served, "pilots.xml")],
        subscribers=[subscriber(instant_rule("title:pilot"))],
    )
    s = load_settings(cfg, newsmon_env)
    pipeline.init(s, NOW)
    assert pipeline.poll(s, now=NOW)["stories_new"] == 1

    assert pipeline.send_alerts(s, now=NOW + timedelta(minutes=1))["sent"] == 1

    (msg,) = smtp_server.wait_for(1)
    assert msg.rcpt_tos == ["analyst@example.org"]
    assert "Bcc" not in msg
    assert "=?utf-8?q?=0D=0ABcc:_hidden@example.com?=" in str(msg["Subject"])
