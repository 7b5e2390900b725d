"""`newsmon retag` (pipeline.retag) re-tags stored stories with the current taxonomy, once."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

from elasticsearch import Elasticsearch

from monitor import pipeline
from monitor.config import load_settings
from monitor.models import Story
from monitor.store import Store
from tests.factories import NOW

ROOT = Path(__file__).resolve().parents[2]


def retag(env: dict[str, str], cfg: Path) -> dict[str, Any]:
    """What `newsmon retag --since 30d` runs, at the tests' fixed instant."""
    return pipeline.retag(load_settings(cfg, env), timedelta(days=30), now=NOW)


def test_retag_fills_topics_of_stored_stories_once(
    tmp_path: Path, es_client: Elasticsearch, index_prefix: str, newsmon_env: dict[str, str]
) -> None:
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    shutil.copy(ROOT / "config" / "topics.yaml", cfg / "topics.yaml")
    (cfg / "feeds.yaml").write_text("feeds: []\n", encoding="utf-8")
    store = Store(es_client, index_prefix)
    store.lifecycle.install(NOW)
    now = NOW
    # Stored before the taxonomy knew anything: no topics, no people.
    stories = [
        Story(
            id="old1",
            feed_id="f",
            outlet="O",
            url="https://x.org/1",
            canonical_url="https://x.org/1",
            title="Erdoğan recalls Türkiye's ambassador from Tel Aviv",
            summary="Ankara withdrew its envoy to Israel in protest at the Gaza offensive.",
            fetched_at=now - timedelta(days=2),
            lang="en",
        ),
        Story(
            id="old2",
            feed_id="f",
            outlet="O",
            url="https://x.org/2",
            canonical_url="https://x.org/2",
            title="Storm closes ferry routes in the Aegean",
            summary="Ferries between islands were cancelled as winds reached gale force.",
            fetched_at=now - timedelta(days=3),
            lang="en",
        ),
        Story(
            id="ancient",
            feed_id="f",
            outlet="O",
            url="https://x.org/3",
            canonical_url="https://x.org/3",
            title="Erdoğan and Herzog speak by phone",
            summary="The Turkish and Israeli presidents discussed ties.",
            fetched_at=now - timedelta(days=90),
            lang="en",
        ),
    ]
    store.stories.index(stories, now=NOW)

    first = retag(newsmon_env, cfg)
    assert first["stories"] == 2  # only the last 30 days
    assert first["changed"] == 2
    assert first["updated"] == 2  # topics, scores and evidence written
    store.refresh()
    got = {s.id: s for s in store.stories.get(["old1", "old2", "ancient"])}
    assert got["old1"].topics == ["turkey_israel"]
    assert "Recep Tayyip Erdogan" in got["old1"].people
    assert got["old2"].topics == []
    assert got["ancient"].topics == []  # outside --since

    second = retag(newsmon_env, cfg)
    assert second["changed"] == 0
    assert second["updated"] == 0
