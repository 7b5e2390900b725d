"""`newsmon retag` (pipeline.retag) re-tags stored stories with the current taxonomy, once."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from elasticsearch import Elasticsearch

from monitor import pipeline
from monitor.config import load_settings
from monitor.store import Store
from tests.factories import NOW, make_story, write_config


def retag(env: dict[str, str], cfg: Path) -> dict[str, Any]:
    """What `newsmon retag --since 30d` runs, at the tests' fixed instant."""
    return pipeline.retag(load_settings(cfg, env), timedelta(days=30), now=NOW)


def test_retag_fills_topics_of_stored_stories_once(
    tmp_path: Path, es_client: Elasticsearch, index_prefix: str, newsmon_env: dict[str, str]
) -> None:
    cfg = write_config(tmp_path / "cfg")
    store = Store(es_client, index_prefix)
    store.lifecycle.install(NOW)
    now = NOW
    # Stored before the taxonomy knew anything: no topics, no people.
    stories = [
        make_story(
            "old1",
            when=now - timedelta(days=2),
            title="Erdoğan recalls Türkiye's ambassador from Tel Aviv",
            summary="Ankara withdrew its envoy to Israel in protest at the Gaza offensive.",
            lang="en",
        ),
        make_story(
            "old2",
            when=now - timedelta(days=3),
            title="Storm closes ferry routes in the Aegean",
            summary="Ferries between islands were cancelled as winds reached gale force.",
            lang="en",
        ),
        make_story(
            "ancient",
            when=now - timedelta(days=90),
            title="Erdoğan and Herzog speak by phone",
            summary="The Turkish and Israeli presidents discussed ties.",
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
