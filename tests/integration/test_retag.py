"""`newsmon retag` re-tags stored stories with the current taxonomy, idempotently."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from elasticsearch import Elasticsearch

from monitor.models import Story
from monitor.store import Store

ROOT = Path(__file__).resolve().parents[2]
NEWSMON = Path(sys.executable).parent / "newsmon"


def retag(env: dict[str, str], cfg: Path) -> dict[str, object]:
    proc = subprocess.run(
        [str(NEWSMON), "retag", "--since", "30d", "--json"],
        env={**os.environ, **env, "NEWSMON_CONFIG_DIR": str(cfg)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def test_retag_fills_topics_of_stored_stories_once(
    tmp_path: Path, es_client: Elasticsearch, index_prefix: str, newsmon_env: dict[str, str]
) -> None:
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    shutil.copy(ROOT / "config" / "topics.yaml", cfg / "topics.yaml")
    (cfg / "feeds.yaml").write_text("feeds: []\n", encoding="utf-8")
    store = Store(es_client, index_prefix)
    store.install()
    now = datetime.now(UTC)
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
    store.index_stories(stories)

    first = retag(newsmon_env, cfg)
    assert first["stories"] == 2  # only the last 30 days
    assert first["changed"] == 2 and first["updated"] == 2  # topics, scores and evidence written
    store.refresh()
    got = {s.id: s for s in store.get_stories(["old1", "old2", "ancient"])}
    assert got["old1"].topics == ["turkey_israel"]
    assert "Recep Tayyip Erdogan" in got["old1"].people
    assert got["old2"].topics == []
    assert got["ancient"].topics == []  # outside --since

    second = retag(newsmon_env, cfg)
    assert second["changed"] == 0 and second["updated"] == 0
