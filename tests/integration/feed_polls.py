"""Helpers shared by the feed scheduling and feed health tests: the three fixture outlets
served on loopback, a config polled every 10 minutes, polls at fixed instants, and the check
that a healthy feed polled in the same run is unaffected."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from localdev.feedserver import FeedServer
from monitor import pipeline
from monitor.config import Settings, load_settings
from monitor.models import FeedState
from tests.factories import NOW, FeedEntry, write_config

FEEDS = Path(__file__).resolve().parents[1] / "fixtures" / "feeds"
BASE = timedelta(minutes=10)  # every feed's interval in these tests


@contextmanager
def serve_outlets(tmp_path: Path) -> Iterator[FeedServer]:
    """A loopback feed server holding the three fixture outlets (more files may be added)."""
    root = tmp_path / "www"
    root.mkdir()
    for name in ("wire-a.xml", "outlet-b.xml", "outlet-c.xml"):
        shutil.copy(FEEDS / name, root / name)
    with FeedServer(root) as server:
        yield server


def settings_for(
    tmp_path: Path, env: dict[str, str], feeds: list[FeedEntry], **extra: str
) -> Settings:
    """Initialised settings for these feeds, each polled every BASE."""
    cfg = write_config(tmp_path / "cfg", feeds=feeds, default_interval="10m")
    s = load_settings(cfg, {**env, **extra})
    pipeline.init(s, NOW)
    return s


def poll_at(s: Settings, at: datetime, ids: list[str] | None = None) -> dict[str, Any]:
    """A poll of these feeds (default: all) as if run at `at`, due or not."""
    return pipeline.poll(s, ids or [f.id for f in s.feeds], now=at)


def feed_rows(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A poll report's per-feed rows by feed id."""
    return {r["feed"]: r for r in report["feeds"]}


def feed_states(s: Settings) -> dict[str, FeedState]:
    return pipeline.open_store(s).feeds.load([f.id for f in s.feeds])


def assert_healthy(st: FeedState, at: datetime) -> None:
    """The control feed: polled at `at`, fine, due again exactly one interval later."""
    assert (st.status, st.consecutive_failures, st.error_class) == ("ok", 0, None)
    assert st.next_due == at + BASE
