"""Feed scheduling and conditional GET (#11), on real HTTP servers on loopback and a real
Elasticsearch, at fixed instants: 304 and an unchanged 200 short-circuit, every N-th poll goes
without validators, <ttl>, max-age and Retry-After are honoured, a 301 is remembered. A healthy
feed polled in the same run is unaffected every time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from localdev.feedserver import FeedServer
from monitor import pipeline
from monitor.config import Settings
from monitor.models import FeedState
from tests.factories import NOW, feed, served_feed
from tests.integration.feed_polls import (
    BASE,
    assert_healthy,
    feed_rows,
    feed_states,
    poll_at,
    serve_outlets,
    settings_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def _rss(*titles: str, ttl: int | None = None) -> str:
    items = "".join(
        f"<item><title>{t}</title><link>https://kettle.example.org/{n}</link>"
        f"<description>Notes from the kettle desk, number {n}.</description></item>"
        for n, t in enumerate(titles)
    )
    ttl_tag = f"<ttl>{ttl}</ttl>" if ttl is not None else ""
    return (
        "<?xml version='1.0' encoding='UTF-8'?><rss version='2.0'><channel>"
        f"<title>Kettle Desk</title><link>https://kettle.example.org/</link>{ttl_tag}"
        f"{items}</channel></rss>"
    )


@pytest.fixture
def served(tmp_path: Path) -> Iterator[FeedServer]:
    with serve_outlets(tmp_path) as server:
        yield server


def _poll(s: Settings, at: datetime) -> dict[str, dict[str, Any]]:
    return feed_rows(poll_at(s, at))


def test_304_and_an_unchanged_200_are_not_parsed_or_indexed(
    tmp_path: Path, served: FeedServer, newsmon_env: dict[str, str]
) -> None:
    kettle = served.directory / "kettle.xml"
    kettle.write_text(_rss("Kettle boils", "Kettle whistles"), encoding="utf-8")
    feeds = [
        served_feed(served, "wire-a.xml"),
        feed("no-validators", served.url_for("_/plain/kettle.xml")),
    ]
    s = settings_for(tmp_path, newsmon_env, feeds)
    first = _poll(s, NOW)
    assert (first["wire-a"]["new"], first["no-validators"]["new"]) == (3, 2)
    hashed = feed_states(s)["no-validators"].body_sha256
    assert hashed is not None

    later = NOW + BASE
    second = _poll(s, later)
    assert second["wire-a"]["status"] == "not modified"
    assert second["no-validators"]["status"] == "unchanged"
    assert second["no-validators"]["items"] == 0  # not parsed
    assert second["wire-a"]["new"] == second["no-validators"]["new"] == 0
    # The 304 came from a conditional request; the validator-less server got a plain GET.
    [_, again] = served.requests_for("wire-a.xml")
    assert (again.status, again.if_none_match is not None) == (304, True)
    assert [r.status for r in served.requests_for("_/plain/kettle.xml")] == [200, 200]
    states = feed_states(s)
    assert_healthy(states["wire-a"], later)
    assert_healthy(states["no-validators"], later)
    assert states["no-validators"].body_sha256 == hashed

    # A changed body is read again, and only its new item is new.
    kettle.write_text(_rss("Kettle boils", "Kettle whistles", "Kettle cools"), encoding="utf-8")
    third = _poll(s, later + BASE)
    assert third["no-validators"]["status"] == "ok"
    assert third["no-validators"]["new"] == 1
    assert feed_states(s)["no-validators"].body_sha256 != hashed


def test_every_nth_poll_skips_the_validators_so_a_lying_304_cannot_hide_news(
    tmp_path: Path, served: FeedServer, newsmon_env: dict[str, str]
) -> None:
    (served.directory / "kettle.xml").write_text(_rss("Kettle boils"), encoding="utf-8")
    feeds = [
        served_feed(served, "wire-a.xml"),
        feed("lying-cache", served.url_for("_/stale304/kettle.xml")),
    ]
    s = settings_for(tmp_path, newsmon_env, feeds, NEWSMON_UNCONDITIONAL_EVERY="3")
    at = NOW
    assert _poll(s, at)["lying-cache"]["new"] == 1
    (served.directory / "kettle.xml").write_text(
        _rss("Kettle boils", "Kettle descaled"), encoding="utf-8"
    )
    statuses = []
    for _ in range(3):
        at += BASE
        row = _poll(s, at)["lying-cache"]
        statuses.append((row["status"], row["new"]))
    # Polls 2 and 3 ask conditionally and the broken cache says "not modified"; poll 4 asks
    # without validators and gets the news.
    assert statuses == [("not modified", 0), ("not modified", 0), ("ok", 1)]
    sent = [r.if_none_match is not None for r in served.requests_for("_/stale304/kettle.xml")]
    assert sent == [False, True, True, False]
    assert_healthy(feed_states(s)["wire-a"], at)


def test_ttl_max_age_and_retry_after_push_the_next_poll_back(
    tmp_path: Path, served: FeedServer, newsmon_env: dict[str, str]
) -> None:
    (served.directory / "kettle.xml").write_text(_rss("Kettle boils", ttl=120), encoding="utf-8")
    in_90_minutes = "Fri, 01 Jan 2027 01:17:00 GMT"  # NOW is 23:47 UTC on 31 December
    feeds = [
        served_feed(served, "wire-a.xml"),
        served_feed(served, "kettle.xml", feed_id="ttl-two-hours"),
        feed("busy", served.url_for("_/status/503?retry_after=3600")),
        feed("slow-down", served.url_for("_/status/429?retry_after=" + in_90_minutes)),
    ]
    s = settings_for(tmp_path, newsmon_env, feeds)
    rows = _poll(s, NOW)
    assert rows["busy"]["error_class"] == "http_5xx"
    assert rows["slow-down"]["error_class"] == "http_429"
    states = feed_states(s)
    assert_healthy(states["wire-a"], NOW)  # its max-age=60 is shorter than the interval

    def waits(st: FeedState, asked: timedelta) -> None:
        assert st.next_due is not None
        assert NOW + asked <= st.next_due <= NOW + asked * 1.1, (st.feed_id, st.next_due)

    waits(states["ttl-two-hours"], timedelta(hours=2))
    waits(states["busy"], timedelta(hours=1))
    waits(states["slow-down"], timedelta(minutes=90))
    assert pipeline.due_feeds(s, states, NOW + BASE) == ["wire-a"]
    assert set(pipeline.due_feeds(s, states, NOW + timedelta(hours=2.5))) == {
        "wire-a",
        "ttl-two-hours",
        "busy",
        "slow-down",
    }

    # The <ttl> still counts after a 304, which carries no body to read it from.
    later = NOW + timedelta(hours=3)
    assert _poll(s, later)["ttl-two-hours"]["status"] == "not modified"
    st = feed_states(s)["ttl-two-hours"]
    assert st.next_due is not None
    assert later + timedelta(hours=2) <= st.next_due


def test_a_permanent_redirect_is_remembered_and_a_temporary_one_is_not(
    tmp_path: Path, served: FeedServer, newsmon_env: dict[str, str]
) -> None:
    moved_url = served.redirect_url(served.url_for("outlet-b.xml"), code=301)
    detour_url = served.redirect_url(served.url_for("outlet-c.xml"), code=302)
    feeds = [
        served_feed(served, "wire-a.xml"),
        feed("moved", moved_url),
        feed("detour", detour_url),
    ]
    s = settings_for(tmp_path, newsmon_env, feeds)
    rows = _poll(s, NOW)
    assert (rows["moved"]["new"], rows["detour"]["new"]) == (2, 2)
    states = feed_states(s)
    assert states["moved"].url == moved_url  # the configured URL stays as configured
    assert states["moved"].effective_url == served.url_for("outlet-b.xml")
    assert states["detour"].effective_url is None

    served.clear_log()
    later = NOW + BASE
    _poll(s, later)
    paths = [r.path.split("?")[0] for r in served.requests]
    assert paths.count("/_/redirect") == 1  # only the temporary one is asked again
    assert "/outlet-b.xml" in paths
    assert_healthy(feed_states(s)["wire-a"], later)

    table = {r["feed"]: r for r in pipeline.feed_health(s, now=later)["feeds"]}
    assert table["moved"]["url"] == moved_url
    assert table["moved"]["effective_url"] == served.url_for("outlet-b.xml")
    assert table["moved"]["items_7d"] == 2
    assert table["wire-a"]["items_7d"] == 3
    assert table["wire-a"]["next_due"] == (later + BASE).isoformat()

    # A new URL in the configuration starts over from it.
    feeds[1] = feed("moved", served.url_for("outlet-c.xml"))
    s = settings_for(tmp_path, newsmon_env, feeds)
    _poll(s, later + BASE)
    assert feed_states(s)["moved"].effective_url is None
