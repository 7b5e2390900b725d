"""Every real feed read right, through `pipeline.poll` against a real HTTP server and a real
Elasticsearch (#11): odd dates, undeclared legacy encodings, items with no title or link,
stories in another language than their feed's label, and JSON Feed, all in one poll beside an
ordinary feed that comes out exactly as it would alone.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from localdev.feedserver import FeedServer
from monitor import pipeline
from monitor.config import load_settings
from tests.factories import NOW, served_feed, write_config

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "feeds"
pytestmark = pytest.mark.integration

SERVED = [
    "odd-dates.xml",
    "hebrew-cp1255-undeclared.xml",
    "hebrew-cp1255-declared-latin1.xml",
    "arabic-cp1256-undeclared.xml",
    "turkish-8859-9-undeclared.xml",
    "untitled-items.xml",
    "mixed-language-en.xml",
    "lantern.json",
    "wire-a.xml",
]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[FeedServer]:
    root = tmp_path / "www"
    root.mkdir()
    for name in SERVED:
        shutil.copy(FIXTURES / name, root / name)
    with FeedServer(root) as server:
        yield server


def _docs(es: Elasticsearch, prefix: str, feed_id: str) -> list[dict[str, Any]]:
    es.indices.refresh(index=f"{prefix}-stories*")
    res = es.search(
        index=f"{prefix}-stories*",
        query={"term": {"feed_id": feed_id}},
        sort=[{"fetched_at": "asc"}],
        size=100,
    )
    return [h["_source"] for h in res["hits"]["hits"]]


def _when(doc: dict[str, Any]) -> datetime | None:
    raw = doc.get("published")
    return datetime.fromisoformat(raw).astimezone(UTC) if raw else None


def test_one_poll_reads_every_odd_feed_right_and_the_ordinary_one_as_ever(
    tmp_path: Path, served: FeedServer, newsmon_env: dict[str, str], es_client: Elasticsearch
) -> None:
    feeds = [
        served_feed(served, n, feed_id=n.split(".")[0] if n.endswith(".json") else None)
        for n in SERVED
    ]
    s = load_settings(write_config(tmp_path / "cfg", feeds=feeds), newsmon_env)
    pipeline.init(s, NOW)

    report = pipeline.poll(s, now=NOW)

    rows = {r["feed"]: r for r in report["feeds"]}
    assert {f: r["status"] for f, r in rows.items()} == dict.fromkeys(rows, "ok")
    assert {f: r["new"] for f, r in rows.items()} == {
        "odd-dates": 5,
        "hebrew-cp1255-undeclared": 1,
        "hebrew-cp1255-declared-latin1": 1,
        "arabic-cp1256-undeclared": 1,
        "turkish-8859-9-undeclared": 1,
        "untitled-items": 3,
        "mixed-language-en": 3,
        "lantern": 4,
        "wire-a": 3,
    }
    assert report["index_errors"] == []
    prefix = s.index_prefix

    # The ordinary feed: no warning, its three stories with their dates, as before #11.
    assert rows["wire-a"]["warnings"] == 0
    wire = _docs(es_client, prefix, "wire-a")
    assert len(wire) == 3
    assert all(d["lang"] == "en" for d in wire)
    assert datetime(2023, 12, 17, 16, 30, tzinfo=UTC) in {_when(d) for d in wire}

    # Dates: named zones resolved, an epoch read as one, nonsense left undated.
    dated = {d["title"]: _when(d) for d in _docs(es_client, prefix, "odd-dates")}
    assert dated["Market opens early for the holiday week"] == datetime(
        2023, 12, 6, 12, 30, tzinfo=UTC
    )
    assert dated["Night buses extended to the airport"] == datetime(2023, 12, 6, 22, 30, tzinfo=UTC)
    assert dated["Library adds Sunday hours"] == datetime(2023, 12, 6, 14, 30, tzinfo=UTC)
    assert dated["Ferry fares frozen for next year"] == datetime(2023, 12, 6, 8, 0, tzinfo=UTC)
    assert dated["Stadium roof inspection scheduled"] is None
    assert rows["odd-dates"]["warnings"] == 1

    # Encodings: Hebrew, Arabic and Turkish text as written, not as Latin mojibake.
    for feed_id, title, lang in [
        ("hebrew-cp1255-undeclared", "ועדת התכנון אישרה את הרחבת הנמל בחיפה", "he"),
        ("hebrew-cp1255-declared-latin1", "ועדת התכנון אישרה את הרחבת הנמל בחיפה", "he"),
        ("arabic-cp1256-undeclared", "افتتاح معرض الكتاب الدولي بمشاركة واسعة من دور النشر", "ar"),
        ("turkish-8859-9-undeclared", "Belediye kış için yeni otobüs hatlarını açıkladı", "tr"),
    ]:
        (doc,) = _docs(es_client, prefix, feed_id)
        assert (doc["title"], doc["lang"]) == (title, lang)
        assert rows[feed_id]["warnings"] == 1  # "declares ... but reads as ..."

    # Items with no title or link are indexed, titled from their text.
    untitled = sorted(d["title"] for d in _docs(es_client, prefix, "untitled-items"))
    assert untitled[0].startswith("Ferry services to the islands are suspended")
    assert untitled[1] == "Pier lights repaired"
    assert untitled[2] == "The night market moves to the north quay for the winter months."

    # A Hebrew story in a feed labelled English is found by a lang:he filter.
    es_client.indices.refresh(index=f"{prefix}-stories*")
    hebrew = es_client.search(
        index=f"{prefix}-stories*",
        query={
            "bool": {
                "filter": [{"term": {"feed_id": "mixed-language-en"}}, {"term": {"lang": "he"}}]
            }
        },
    )["hits"]["hits"]
    assert [h["_source"]["title"] for h in hebrew] == [
        "קו הרכבת לאורך החוף נפתח מחדש לאחר שלושה שבועות של תיקונים"
    ]
    langs = sorted(d["lang"] for d in _docs(es_client, prefix, "mixed-language-en"))
    assert langs == ["en", "he", "tr"]

    # JSON Feed: four stories with their dates, authors and languages.
    lantern = {d["title"]: d for d in _docs(es_client, prefix, "lantern")}
    bridge = lantern["Bridge repairs finish ahead of schedule"]
    assert _when(bridge) == datetime(2023, 12, 6, 7, 30, tzinfo=UTC)
    assert bridge["authors"] == ["Mara Ilgaz"]
    assert lantern["תערוכת צילום חדשה נפתחה בגלריה העירונית"]["lang"] == "he"

    # Polled again: nothing new (text-only items keep their hash ids), nothing failed.
    ids = [str(f["id"]) for f in feeds]
    again = pipeline.poll(s, batch=ids, now=NOW + timedelta(minutes=15))
    assert again["stories_new"] == 0
    assert again["feeds_failed"] == 0
