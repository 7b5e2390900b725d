"""The offline demo of `make up`: its stories tag as they say, its feeds parse and grow by step,
and its configuration loads; plus the poll DAG's `force` (every feed, due or not)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from localdev.demofeeds import DemoFeeds, load_stories
from monitor.config import load_settings
from monitor.parse import parse_feed
from monitor.pipeline import feed_batches
from monitor.tagging import Tagger, load_taxonomy
from monitor.tagging.records import tag_record
from tests.factories import NOW

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "config" / "demo"
STORIES = load_stories(DEMO / "stories.yaml")


@pytest.fixture(scope="module")
def tagger() -> Tagger:
    return Tagger(load_taxonomy(ROOT / "config" / "topics.yaml"))


@pytest.fixture
def demo_config(tmp_path: Path) -> Path:
    for name in ("feeds.yaml", "subscribers.yaml"):
        shutil.copy(DEMO / name, tmp_path / name)
    shutil.copy(ROOT / "config" / "topics.yaml", tmp_path / "topics.yaml")
    return tmp_path


@pytest.mark.parametrize("item", STORIES.items, ids=lambda i: i.id)
def test_each_demo_story_tags_as_it_expects(tagger: Tagger, item: object) -> None:
    from localdev.demofeeds import DemoItem

    assert isinstance(item, DemoItem)
    lang = {o.id: o.language for o in STORIES.outlets}[item.outlet]
    record = {"id": item.id, "title": item.title, "summary": item.summary, "lang": lang}
    assert sorted(tag_record(tagger, record)["topics"]) == sorted(item.expect)


def test_the_demo_covers_four_languages_matches_and_non_matches() -> None:
    langs = {o.language for o in STORIES.outlets}
    assert langs == {"en", "tr", "ar", "he"}
    topics = {t for i in STORIES.items for t in i.expect}
    assert topics == {"hamas_leadership", "turkey_israel"}
    assert sum(1 for i in STORIES.items if not i.expect) >= 3
    # Word-for-word copies across outlets, and items that only come later.
    titles = [i.title for i in STORIES.items]
    assert len(titles) > len(set(titles))
    assert any(i.step > 0 for i in STORIES.items)


def test_feeds_grow_step_by_step_and_parse(tmp_path: Path) -> None:
    feeds = DemoFeeds(STORIES, tmp_path, reveal_every=60)
    first = feeds.tick(0)
    assert sorted(first) == sorted(i.id for i in STORIES.items if i.step == 0)
    assert feeds.tick(0) == []  # nothing new: files untouched
    later = feeds.tick(2)
    assert sorted(later) == sorted(i.id for i in STORIES.items if i.step in (1, 2))
    seen = set()
    for outlet in STORIES.outlets:
        body = (tmp_path / f"{outlet.id}.xml").read_bytes()
        parsed = parse_feed(
            body,
            feed_id=outlet.id,
            outlet=outlet.name,
            base_url=f"http://127.0.0.1:8765/{outlet.id}.xml",
            fetched_at=NOW,
            default_lang=outlet.language,
        )
        assert parsed.error is None
        seen.update(s.title for s in parsed.stories)
    assert seen == {i.title for i in STORIES.items if i.step <= 2}


def test_demo_feeds_file_lists_every_outlet(demo_config: Path) -> None:
    settings = load_settings(demo_config, env={"NEWSMON_ALLOW_PRIVATE_FEEDS": "true"})
    assert {f.id for f in settings.feeds} == {o.id for o in STORIES.outlets}
    assert all(f.url.endswith(f"/{f.id}.xml") for f in settings.feeds)


def test_force_batches_every_enabled_feed_without_asking_the_store(demo_config: Path) -> None:
    # The store is never opened with force: an unreachable Elasticsearch URL proves it.
    env = {"NEWSMON_ES_URL": "http://127.0.0.1:9", "NEWSMON_ALLOW_PRIVATE_FEEDS": "true"}
    settings = load_settings(demo_config, env=env)
    batches = feed_batches(settings, batch_size=2, now=NOW, force=True)
    assert [len(b) for b in batches] == [2, 2, 1]
    assert sorted(f for b in batches for f in b) == sorted(o.id for o in STORIES.outlets)
