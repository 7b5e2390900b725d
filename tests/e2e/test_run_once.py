"""End to end on real services: a local feed server, Elasticsearch and an SMTP catcher.

A wire story about Hamas leaders meeting secretly in Türkiye arrives from three outlets, beside
a malformed feed. One `newsmon run --once` must index it tagged with both topics and its people,
cluster the copies, and send one e-mail; a second run must change nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from localdev.feedserver import FeedServer
from tests.factories import (
    hamas_in_turkey_subscriber,
    instant_rule,
    served_feed,
    subscriber,
    three_outlets,
    write_config,
)

ROOT = Path(__file__).resolve().parents[2]
FEEDS = ROOT / "tests" / "fixtures" / "feeds"
NEWSMON = Path(sys.executable).parent / "newsmon"


def run_once(env: dict[str, str], cfg: Path) -> tuple[dict[str, Any], str]:
    proc = subprocess.run(
        [str(NEWSMON), "run", "--once", "--json"],
        env={**os.environ, **env, "NEWSMON_CONFIG_DIR": str(cfg)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


@pytest.fixture
def feed_server() -> Any:
    with FeedServer(FEEDS) as server:
        yield server


def test_story_travels_from_feed_to_inbox(
    tmp_path: Path,
    feed_server: FeedServer,
    smtp_server: Any,
    newsmon_env: dict[str, str],
    es_client: Elasticsearch,
    index_prefix: str,
) -> None:
    cfg = write_config(
        tmp_path / "config",
        feeds=[
            *three_outlets(feed_server),
            served_feed(feed_server, "malformed.xml", feed_id="broken", name="Broken Feed"),
        ],
        subscribers=[
            hamas_in_turkey_subscriber(),
            subscriber(instant_rule("cricket", name="Cricket"), email="sport@example.org"),
        ],
    )

    report, stderr = run_once(newsmon_env, cfg)

    # The malformed feed is reported in one line and does not stop the others.
    broken_lines = [line for line in stderr.splitlines() if "broken" in line]
    assert len(broken_lines) == 1, stderr
    by_feed = {row["feed"]: row for row in report["poll"]["feeds"]}
    assert by_feed["broken"]["status"] == "error"
    assert all(by_feed[f]["status"] == "ok" for f in ("wire-a", "outlet-b", "outlet-c"))
    assert report["poll"]["stories_new"] == 7  # 3 + 2 + 2 items

    es_client.indices.refresh(index=f"{index_prefix}-stories")
    hits = es_client.search(
        index=f"{index_prefix}-stories",
        query={
            "bool": {
                "filter": [
                    {"term": {"topics": "hamas_leadership"}},
                    {"term": {"topics": "turkey_israel"}},
                ]
            }
        },
        size=20,
    )["hits"]["hits"]
    docs = [h["_source"] for h in hits]
    assert {d["feed_id"] for d in docs} == {"wire-a", "outlet-b", "outlet-c"}, docs
    for d in docs:
        assert {"Saleh al-Arouri", "Khaled Mashal"} <= set(d["people"]), d["people"]
    # The three copies form one cluster whose first-seen story is the primary.
    assert len({d["cluster_id"] for d in docs}) == 1
    primary = [d for d in docs if d["is_primary"]]
    assert len(primary) == 1
    assert primary[0]["id"] == docs[0]["cluster_id"]
    assert primary[0]["cluster_size"] == 3
    assert sorted(primary[0]["outlets"]) == ["Outlet B", "Outlet C", "Wire A"]
    # Unrelated stories are indexed but not tagged with the topics.
    sport = es_client.search(index=f"{index_prefix}-stories", q="Porto")["hits"]["hits"]
    assert sport
    assert sport[0]["_source"]["topics"] == []

    # Exactly one e-mail, to the subscriber whose rule matched, multipart with both bodies.
    msgs = smtp_server.wait_for(1)
    assert report["alerts"]["sent"] == 1, report["alerts"]
    assert len(msgs) == 1
    msg = msgs[0]
    assert "analyst@example.org" in msg["To"]
    assert msg.is_multipart()
    text = msg.get_body(preferencelist=("plain",)).get_content()
    html = msg.get_body(preferencelist=("html",)).get_content()
    assert "Türkiye" in text or "Turkey" in text or "Turkish" in text
    assert "<a " in html
    assert "style=" in html  # CSS inlined for mail clients
    assert "Also reported by" in text

    # A second cycle finds nothing new and sends nothing.
    report2, _ = run_once(newsmon_env, cfg)
    assert report2["poll"]["stories_new"] == 0
    assert report2["alerts"]["sent"] == 0
    assert len(smtp_server.messages) == 1
    deliveries = es_client.search(index=f"{index_prefix}-deliveries", size=10)["hits"]["hits"]
    assert [d["_source"]["status"] for d in deliveries] == ["sent"]
