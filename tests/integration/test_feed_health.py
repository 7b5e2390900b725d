"""Feed health (#11) on real HTTP servers on loopback, a real Elasticsearch and a real SMTP
catcher, at fixed instants: back-off per class of failure that resets on success, a dead feed
still probed and revived by itself, the operator told once on death and once on revival even
when polls run at once or are retried, 410 Gone disables a feed. A healthy feed polled in the
same run is unaffected every time."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest

from localdev.feedserver import FeedServer
from localdev.mailcatcher import MailCatcher
from monitor import pipeline
from monitor.config import Settings
from tests.factories import NOW, FeedEntry, feed, served_feed
from tests.integration.feed_polls import (
    BASE,
    assert_healthy,
    feed_rows,
    feed_states,
    poll_at,
    serve_outlets,
    settings_for,
)

OPERATOR = "ops@example.org"
pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.timeout(180)]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[FeedServer]:
    with serve_outlets(tmp_path) as server:
        yield server


def _settings(
    tmp_path: Path, env: dict[str, str], feeds: list[FeedEntry], **extra: str
) -> Settings:
    return settings_for(tmp_path, env, feeds, NEWSMON_OPERATOR_EMAIL=OPERATOR, **extra)


def test_back_off_grows_per_class_and_a_success_resets_it(
    tmp_path: Path, served: FeedServer, newsmon_env: dict[str, str]
) -> None:
    served.script("outlet-b.xml", 503)
    served.script("outlet-c.xml", 404)
    feeds = [
        served_feed(served, "wire-a.xml"),
        served_feed(served, "outlet-b.xml", feed_id="server-error"),
        served_feed(served, "outlet-c.xml", feed_id="not-found"),
        feed("refused", "http://127.0.0.1:9/feed.xml"),  # nothing listens on the discard port
    ]
    s = _settings(tmp_path, newsmon_env, feeds)
    waits: dict[str, list[float]] = {"server-error": [], "not-found": [], "refused": []}
    at = NOW
    for _ in range(4):
        poll_at(s, at)
        states = feed_states(s)
        assert_healthy(states["wire-a"], at)
        for fid, seen in waits.items():
            due = states[fid].next_due
            assert due is not None
            seen.append((due - at) / BASE)
        at += timedelta(hours=1)
    classes = {fid: st.error_class for fid, st in feed_states(s).items()}
    assert classes == {
        "wire-a": None,
        "server-error": "http_5xx",
        "not-found": "http_4xx",
        "refused": "connect",
    }
    # In intervals: x2 per failure for a 5xx or a refused connection, x1.5 for a 404, each
    # plus a fixed jitter under 10% once past the interval.
    for fid, factor in (("server-error", 2.0), ("refused", 2.0), ("not-found", 1.5)):
        expected = [factor**n for n in range(4)]
        assert waits[fid][0] == 1.0, fid
        for got, want in zip(waits[fid][1:], expected[1:], strict=True):
            assert want <= got < want * 1.1, (fid, waits[fid])
    assert waits["server-error"][3] > waits["not-found"][3]
    assert feed_states(s)["server-error"].status == "failing"

    served.unscript("outlet-b.xml")
    rows = feed_rows(poll_at(s, at))
    assert rows["server-error"]["new"] == 2
    assert_healthy(feed_states(s)["server-error"], at)
    assert_healthy(feed_states(s)["wire-a"], at)


def test_a_dead_feed_is_probed_daily_revives_by_itself_and_the_operator_hears_once_each(
    tmp_path: Path, served: FeedServer, newsmon_env: dict[str, str], smtp_server: MailCatcher
) -> None:
    served.script("outlet-b.xml", 500)
    feeds = [
        served_feed(served, "wire-a.xml"),
        served_feed(served, "outlet-b.xml", feed_id="flaky"),
    ]
    s = _settings(tmp_path, newsmon_env, feeds, NEWSMON_DEAD_AFTER="3")
    first = NOW
    poll_at(s, first)
    poll_at(s, first + timedelta(hours=1))
    assert feed_states(s)["flaky"].status == "failing"
    assert smtp_server.messages == []

    # The third failure kills it; three polls of it at once (overlapping runs, a retry) and a
    # fourth later tell the operator once.
    died = first + timedelta(hours=2)
    with ThreadPoolExecutor(3) as pool:
        reports = list(pool.map(lambda _: poll_at(s, died, ["flaky"]), range(3)))
    told = [r["operator_told"] for r in reports]
    assert sorted(map(len, told)) == [0, 0, 1], told
    poll_at(s, died + timedelta(minutes=5))
    [alarm] = smtp_server.wait_for(1)
    assert alarm.rcpt_tos == [OPERATOR]
    assert "feed flaky is dead" in str(alarm["Subject"])
    assert "HTTP 500" in alarm.get_content()

    st = feed_states(s)["flaky"]
    assert st.status == "dead"
    assert st.failing_since == first
    assert st.next_due is not None
    # Still probed, about once a day.
    assert timedelta(days=1) <= st.next_due - (died + timedelta(minutes=5)) < timedelta(days=1.1)
    states = feed_states(s)
    assert "flaky" not in pipeline.due_feeds(s, states, died + timedelta(hours=12))
    assert "flaky" in pipeline.due_feeds(s, states, died + timedelta(days=1.2))

    served.unscript("outlet-b.xml")
    back = died + timedelta(days=1.2)
    with ThreadPoolExecutor(2) as pool:
        reports = list(pool.map(lambda _: poll_at(s, back, ["wire-a", "flaky"]), range(2)))
    assert sorted(len(r["operator_told"]) for r in reports) == [0, 1]
    poll_at(s, back + BASE)  # a later poll does not repeat it
    mails = smtp_server.wait_for(2)
    assert len(smtp_server.wait_for(3, timeout=1.0)) == 2
    assert "feed flaky is back" in str(mails[1]["Subject"])
    st = feed_states(s)["flaky"]
    assert (st.status, st.consecutive_failures, st.revived_from) == ("ok", 0, first)
    assert_healthy(feed_states(s)["wire-a"], back + BASE)


def test_410_gone_disables_the_feed_until_polled_by_hand_or_given_a_new_url(
    tmp_path: Path, served: FeedServer, newsmon_env: dict[str, str], smtp_server: MailCatcher
) -> None:
    served.script("outlet-c.xml", 410)
    feeds = [served_feed(served, "wire-a.xml"), served_feed(served, "outlet-c.xml", feed_id="old")]
    s = _settings(tmp_path, newsmon_env, feeds)
    rows = feed_rows(pipeline.poll(s, now=NOW))
    assert rows["old"]["error"] == "HTTP 410"
    states = feed_states(s)
    assert (states["old"].status, states["old"].next_due) == ("gone", None)
    assert_healthy(states["wire-a"], NOW)
    for later in (NOW + BASE, NOW + timedelta(days=30)):
        assert pipeline.due_feeds(s, states, later) == ["wire-a"]
    [notice] = smtp_server.wait_for(1)
    assert "feed old is gone" in str(notice["Subject"])
    table = {r["feed"]: r for r in pipeline.feed_health(s, now=NOW)["feeds"]}
    assert (table["old"]["status"], table["old"]["next_due"]) == ("gone", None)
    assert table["old"]["error_class"] == "http_4xx"

    # The server has it again and the operator polls it by hand (`newsmon poll --feed old`,
    # or the poll DAG with force): it is back, and the operator hears so once.
    served.unscript("outlet-c.xml")
    back = NOW + timedelta(days=2)
    assert feed_rows(pipeline.poll(s, ["old"], now=back))["old"]["new"] == 2
    assert_healthy(feed_states(s)["old"], back)
    mails = smtp_server.wait_for(2)
    assert "feed old is back" in str(mails[1]["Subject"])

    # Gone again; then the operator gives it a new URL: due at once, polled as usual.
    served.script("outlet-c.xml", 410)
    pipeline.poll(s, ["old"], now=back + BASE)
    assert feed_states(s)["old"].status == "gone"
    assert len(smtp_server.wait_for(3)) == 3
    feeds[1] = served_feed(served, "outlet-b.xml", feed_id="old")
    s = _settings(tmp_path, newsmon_env, feeds)
    moved_on = back + 2 * BASE
    assert pipeline.due_feeds(s, feed_states(s), moved_on) == ["wire-a", "old"]
    rows = feed_rows(pipeline.poll(s, now=moved_on))
    assert rows["old"]["new"] == 2
    assert_healthy(feed_states(s)["old"], moved_on)
    assert len(smtp_server.wait_for(4, timeout=1.0)) == 3  # a new URL is not a revival


def test_feeds_enable_makes_a_gone_feed_due_at_the_next_poll_without_telling_again(
    tmp_path: Path, served: FeedServer, newsmon_env: dict[str, str], smtp_server: MailCatcher
) -> None:
    served.script("outlet-c.xml", 410)
    feeds = [served_feed(served, "wire-a.xml"), served_feed(served, "outlet-c.xml", feed_id="old")]
    s = _settings(tmp_path, newsmon_env, feeds)
    pipeline.poll(s, now=NOW)
    assert feed_states(s)["old"].status == "gone"
    assert len(smtp_server.wait_for(1)) == 1

    later = NOW + timedelta(days=3)
    report = pipeline.enable_feed(s, "old", now=later)
    assert (report["was"], report["status"]) == ("gone", "failing")
    states = feed_states(s)
    assert states["old"].consecutive_failures == 1  # the streak goes on until it answers
    assert pipeline.due_feeds(s, states, later) == ["wire-a", "old"]

    # Still 410 at the next poll: gone again, but the operator already knows (same streak).
    pipeline.poll(s, now=later)
    assert feed_states(s)["old"].status == "gone"
    assert len(smtp_server.wait_for(2, timeout=1.0)) == 1

    # Enabled again and the server has it back: polled, healthy, stories indexed.
    served.unscript("outlet-c.xml")
    pipeline.enable_feed(s, "old", now=later + BASE)
    rows = feed_rows(pipeline.poll(s, now=later + BASE))
    assert rows["old"]["new"] == 2
    assert_healthy(feed_states(s)["old"], later + BASE)
