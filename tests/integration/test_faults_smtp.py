"""Delivery faults (#15): a real SMTP server (localdev.mailcatcher) and a real Elasticsearch,
each behind localdev.faultproxy where a fault is injected. Each test is named for the
guarantee it checks; every send and wait is bounded by NEWSMON_SMTP_TIMEOUT / ES_TIMEOUT.

The ledger is read straight from the node, the mail from the catcher: what was really sent.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from elasticsearch import Elasticsearch

from localdev.faultproxy import FaultProxy
from localdev.mailcatcher import CapturedMessage, MailCatcher
from monitor import pipeline
from monitor.config import Settings, load_settings
from monitor.models import Delivery
from monitor.pipeline.context import open_store
from tests.factories import NOW, instant_rule, make_story, subscriber, write_config

pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parents[2]
OPERATOR = "ops@example.org"
# The end of an SMTP DATA section: the message is out, the server's answer comes next.
END_OF_DATA = b"\r\n.\r\n"


@pytest.fixture
def smtp_proxy(smtp_server: MailCatcher) -> Iterator[FaultProxy]:
    with FaultProxy(smtp_server.host, smtp_server.port) as p:
        yield p


@pytest.fixture
def es_proxy(elasticsearch_url: str) -> Iterator[FaultProxy]:
    target = urlsplit(elasticsearch_url)
    with FaultProxy(target.hostname or "127.0.0.1", target.port or 9200) as p:
        yield p


def _setup(
    tmp_path: Path, env: dict[str, str], stories: int, *, when: datetime = NOW, **extra: str
) -> Settings:
    """`stories` grouped stories in as many clusters, each owed one e-mail to one analyst."""
    cfg = write_config(
        tmp_path / "cfg", feeds=[], subscribers=[subscriber(instant_rule("summary:corridor"))]
    )
    s = load_settings(cfg, {**env, "NEWSMON_OPERATOR_EMAIL": OPERATOR, **extra})
    pipeline.init(s, when)
    store = open_store(s)
    batch = [
        make_story(n, when=when, summary="A trade corridor story", cluster_id=f"id{n}")
        for n in range(stories)
    ]
    store.stories.index(batch, now=when)
    assert store.stories.apply_groups(batch, now=when) == []
    return s


def _through(s: Settings, env: dict[str, str], **extra: str) -> Settings:
    return load_settings(s.config_dir, {**env, "NEWSMON_OPERATOR_EMAIL": OPERATOR, **extra})


def _ledger(es: Elasticsearch, prefix: str) -> dict[str, dict[str, Any]]:
    es.indices.refresh(index=f"{prefix}-deliveries")
    res = es.search(index=f"{prefix}-deliveries", size=1000, query={"match_all": {}})
    return {h["_id"]: h["_source"] for h in res["hits"]["hits"]}


def _alerts(catcher: MailCatcher) -> list[CapturedMessage]:
    return [m for m in catcher.messages if m.rcpt_tos != [OPERATOR]]


def _copies(catcher: MailCatcher) -> Counter[str]:
    return Counter(str(m["Message-ID"]) for m in _alerts(catcher))


# -- Elasticsearch: the claim ------------------------------------------------------------


def test_a_claim_whose_answer_came_after_the_client_timeout_is_still_sent_exactly_once(
    tmp_path: Path,
    newsmon_env: dict[str, str],
    smtp_server: MailCatcher,
    es_proxy: FaultProxy,
    es_client: Elasticsearch,
) -> None:
    s = _setup(tmp_path, newsmon_env, 1)
    slow = _through(s, newsmon_env, NEWSMON_ES_URL=es_proxy.url, NEWSMON_ES_TIMEOUT="2")
    # The node creates the claim; its answer arrives after the client gave up and retried.
    es_proxy.slow_answer(b"-deliveries/_create/", 5.0)

    report = pipeline.send_alerts(slow, now=NOW + timedelta(minutes=1))

    assert es_proxy.fired() == 1
    assert sum(b"-deliveries/_create/" in line for line in es_proxy.requests_seen()) >= 2
    assert (report["sent"], report["already_sent"], report["failed"]) == (1, 0, [])
    assert len(smtp_server.wait_for(1)) == 1
    [entry] = _ledger(es_client, s.index_prefix).values()
    assert entry["status"] == "sent"
    again = pipeline.send_alerts(s, now=NOW + timedelta(minutes=6))
    assert again["sent"] == 0
    assert len(smtp_server.messages) == 1


def test_a_claim_left_by_a_run_that_died_before_smtp_is_taken_over_once_when_it_expires(
    tmp_path: Path, newsmon_env: dict[str, str], smtp_server: MailCatcher, es_client: Elasticsearch
) -> None:
    from monitor import alerts as rules

    s = _setup(tmp_path, newsmon_env, 1)
    store = open_store(s)
    # A run claimed the e-mail, then died before it talked to the SMTP server.
    [sub] = s.subscribers
    did = rules.instant_delivery_id(sub.email, sub.alerts[0].name, "id0")
    dead = Delivery(did, sub.email, sub.alerts[0].name, "instant", ["id0"], ["id0"], "claimed", NOW)
    at = NOW + timedelta(minutes=1)
    assert store.ledger.claim(dead, token="dead-run", now=at)

    early = pipeline.send_alerts(s, now=at + timedelta(minutes=5))
    assert (early["sent"], early["already_sent"]) == (0, 1)  # maybe still alive: left alone
    assert store.feeds.get_cursor("instant") is None  # so the window is kept
    # Past the expiry two runs race for it: the compare-and-set lets one win.
    late = at + timedelta(minutes=31)
    assert [store.ledger.claim(dead, token=t, now=late) for t in ("run-b", "run-c")] == [
        True,
        False,
    ]
    store.ledger.mark(did, "failed", now=late, error="run-b stopped")  # nothing went out
    taken = pipeline.send_alerts(s, now=late)
    assert taken["sent"] == 1
    assert pipeline.send_alerts(s, now=late + timedelta(minutes=5))["sent"] == 0
    assert list(_copies(smtp_server).values()) == [1]
    [entry] = _ledger(es_client, s.index_prefix).values()
    assert (entry["status"], entry["attempts"]) == ("sent", 2)


# -- SMTP: nothing sent, so everything is sent later, once --------------------------------


def test_smtp_refusing_connections_leaves_every_delivery_owed_then_sends_each_exactly_once(
    tmp_path: Path,
    newsmon_env: dict[str, str],
    smtp_server: MailCatcher,
    smtp_proxy: FaultProxy,
    es_client: Elasticsearch,
) -> None:
    s = _setup(tmp_path, newsmon_env, 3)
    faulty = _through(s, newsmon_env, NEWSMON_SMTP_PORT=str(smtp_proxy.port))
    smtp_proxy.mode = "refuse"

    down = pipeline.send_alerts(faulty, now=NOW + timedelta(minutes=1))

    assert down["sent"] == 0
    assert len(down["failed"]) == 1
    assert "SMTP" in down["failed"][0]
    assert _ledger(es_client, s.index_prefix) == {}  # nothing claimed: all still owed
    assert open_store(s).feeds.get_cursor("instant") is None  # the window is retried
    smtp_proxy.mode = "pass"
    up = pipeline.send_alerts(faulty, now=NOW + timedelta(minutes=6))
    assert (up["sent"], up["failed"]) == (3, [])
    assert pipeline.send_alerts(faulty, now=NOW + timedelta(minutes=11))["sent"] == 0
    assert sorted(_copies(smtp_server).values()) == [1, 1, 1]


def test_smtp_that_accepts_and_never_answers_times_out_then_sends_each_exactly_once(
    tmp_path: Path,
    newsmon_env: dict[str, str],
    smtp_server: MailCatcher,
    smtp_proxy: FaultProxy,
    es_client: Elasticsearch,
) -> None:
    s = _setup(tmp_path, newsmon_env, 2)
    faulty = _through(
        s, newsmon_env, NEWSMON_SMTP_PORT=str(smtp_proxy.port), NEWSMON_SMTP_TIMEOUT="2"
    )
    smtp_proxy.mode = "blackhole"

    hung = pipeline.send_alerts(faulty, now=NOW + timedelta(minutes=1))

    assert hung["sent"] == 0
    assert "unavailable" in hung["failed"][0]
    assert _ledger(es_client, s.index_prefix) == {}
    smtp_proxy.mode = "pass"
    assert pipeline.send_alerts(faulty, now=NOW + timedelta(minutes=6))["sent"] == 2
    assert pipeline.send_alerts(faulty, now=NOW + timedelta(minutes=11))["sent"] == 0
    assert sorted(_copies(smtp_server).values()) == [1, 1]


def test_smtp_dying_mid_run_stops_the_run_and_the_next_run_sends_the_rest_exactly_once(
    tmp_path: Path,
    newsmon_env: dict[str, str],
    smtp_server: MailCatcher,
    smtp_proxy: FaultProxy,
    es_client: Elasticsearch,
) -> None:
    s = _setup(tmp_path, newsmon_env, 4)
    faulty = _through(s, newsmon_env, NEWSMON_SMTP_PORT=str(smtp_proxy.port))
    # The server takes the first message, answers, and is gone before the second.
    smtp_proxy.die_after(END_OF_DATA, anywhere=True)

    first = pipeline.send_alerts(faulty, now=NOW + timedelta(minutes=1))

    assert first["failed"]
    assert any("unavailable" in f for f in first["failed"])  # it stopped, did not try all 4
    assert open_store(s).feeds.get_cursor("instant") is None
    smtp_proxy.mode = "pass"
    second = pipeline.send_alerts(faulty, now=NOW + timedelta(minutes=6))
    assert second["failed"] == []
    assert pipeline.send_alerts(faulty, now=NOW + timedelta(minutes=11))["sent"] == 0
    # The first message's answer may be cut by the reset: then it is ambiguous, not resent.
    assert sorted(_copies(smtp_server).values()) == [1, 1, 1, 1]
    ledger = _ledger(es_client, s.index_prefix).values()
    assert {e["status"] for e in ledger if e["mode"] == "instant"} <= {"sent", "ambiguous"}


def test_smtp_answering_451_then_recovering_sends_each_exactly_once(
    tmp_path: Path, newsmon_env: dict[str, str], smtp_server: MailCatcher, es_client: Elasticsearch
) -> None:
    s = _setup(tmp_path, newsmon_env, 3)
    smtp_server.defer(3)  # "try again later" to every message of the first run

    first = pipeline.send_alerts(s, now=NOW + timedelta(minutes=1))

    assert first["sent"] == 0
    assert len(first["failed"]) == 3
    assert all("451" in f for f in first["failed"])
    assert {e["status"] for e in _ledger(es_client, s.index_prefix).values()} == {"failed"}
    assert smtp_server.messages == []
    second = pipeline.send_alerts(s, now=NOW + timedelta(minutes=6))
    assert (second["sent"], second["failed"]) == (3, [])
    assert pipeline.send_alerts(s, now=NOW + timedelta(minutes=11))["sent"] == 0
    assert sorted(_copies(smtp_server).values()) == [1, 1, 1]
    assert {e["status"] for e in _ledger(es_client, s.index_prefix).values()} == {"sent"}


# -- SMTP: the message went out and the answer was lost ----------------------------------


def test_smtp_dropping_the_connection_after_data_records_ambiguous_and_never_sends_twice(
    tmp_path: Path,
    newsmon_env: dict[str, str],
    smtp_server: MailCatcher,
    smtp_proxy: FaultProxy,
    es_client: Elasticsearch,
) -> None:
    s = _setup(tmp_path, newsmon_env, 2)
    faulty = _through(s, newsmon_env, NEWSMON_SMTP_PORT=str(smtp_proxy.port))
    # The server takes the first message whole, then the connection drops before its "250".
    smtp_proxy.drop_answer(END_OF_DATA, anywhere=True)

    first = pipeline.send_alerts(faulty, now=NOW + timedelta(minutes=1))
    later = [
        pipeline.send_alerts(faulty, now=NOW + timedelta(minutes=5 * k)) for k in range(2, 5)
    ]  # later runs, also after the window moved on
    open_store(s).feeds.delete_cursor("instant")  # and even a re-run of the whole window
    rerun = pipeline.send_alerts(faulty, now=NOW + timedelta(minutes=30))

    assert smtp_proxy.fired() == 1
    assert sorted(_copies(smtp_server).values()) == [1, 1]  # two mails, one copy each
    assert [r["sent"] for r in (*later, rerun)] == [0, 0, 0, 0]
    assert len(first["ambiguous"]) == 1
    assert "may have been delivered" in first["ambiguous"][0]
    assert (first["sent"], first["failed"]) == (1, [])  # the other one, on a new connection
    statuses = Counter(
        e["status"] for e in _ledger(es_client, s.index_prefix).values() if e["mode"] == "instant"
    )
    assert statuses == Counter({"sent": 1, "ambiguous": 1})
    notices = [m for m in smtp_server.messages if m.rcpt_tos == [OPERATOR]]
    assert len(notices) == 1  # the operator is told once
    assert "ambiguous" in str(notices[0]["Subject"])


def test_smtp_answer_slower_than_the_timeout_is_ambiguous_and_not_resent(
    tmp_path: Path,
    newsmon_env: dict[str, str],
    smtp_server: MailCatcher,
    smtp_proxy: FaultProxy,
    es_client: Elasticsearch,
) -> None:
    s = _setup(tmp_path, newsmon_env, 1)
    faulty = _through(
        s, newsmon_env, NEWSMON_SMTP_PORT=str(smtp_proxy.port), NEWSMON_SMTP_TIMEOUT="2"
    )
    smtp_proxy.slow_answer(END_OF_DATA, 5.0, anywhere=True)

    first = pipeline.send_alerts(faulty, now=NOW + timedelta(minutes=1))
    second = pipeline.send_alerts(faulty, now=NOW + timedelta(minutes=6))

    assert list(_copies(smtp_server).values()) == [1]
    assert (first["sent"], second["sent"]) == (0, 0)
    assert len(first["ambiguous"]) == 1
    [entry] = [e for e in _ledger(es_client, s.index_prefix).values() if e["mode"] == "instant"]
    assert entry["status"] == "ambiguous"


def test_with_resend_ambiguous_set_the_lost_answer_is_resent_once_with_the_same_message_id(
    tmp_path: Path,
    newsmon_env: dict[str, str],
    smtp_server: MailCatcher,
    smtp_proxy: FaultProxy,
    es_client: Elasticsearch,
) -> None:
    s = _setup(tmp_path, newsmon_env, 1)
    faulty = _through(
        s,
        newsmon_env,
        NEWSMON_SMTP_PORT=str(smtp_proxy.port),
        NEWSMON_RESEND_AMBIGUOUS="true",
    )
    smtp_proxy.drop_answer(END_OF_DATA, anywhere=True)

    first = pipeline.send_alerts(faulty, now=NOW + timedelta(minutes=1))
    assert len(first["ambiguous"]) == 1
    assert open_store(s).feeds.get_cursor("instant") is None  # kept for the resend
    second = pipeline.send_alerts(faulty, now=NOW + timedelta(minutes=6))
    assert second["sent"] == 1
    assert pipeline.send_alerts(faulty, now=NOW + timedelta(minutes=11))["sent"] == 0

    copies = _copies(smtp_server)
    assert list(copies.values()) == [2]  # the one documented duplicate, recognisable by its id
    assert not [m for m in smtp_server.messages if m.rcpt_tos == [OPERATOR]]
    [entry] = _ledger(es_client, s.index_prefix).values()
    assert (entry["status"], entry["attempts"]) == ("sent", 1)


# -- the process killed mid-send ----------------------------------------------------------

# The stories' instant: fixed, in the past, so the subprocess's own clock (`newsmon alerts`
# reads it) is always after it.
PAST = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)


def test_newsmon_alerts_killed_mid_send_and_rerun_sends_each_email_once_or_records_it_ambiguous(
    tmp_path: Path,
    newsmon_env: dict[str, str],
    smtp_server: MailCatcher,
    es_client: Elasticsearch,
) -> None:
    total = 30
    s = _setup(tmp_path, newsmon_env, total, when=PAST)
    open_store(s).feeds.set_cursor("instant", PAST - timedelta(minutes=1))
    smtp_server.delay = 0.2  # a slow server: the kill lands while a message waits for its 250
    env = {**os.environ, **newsmon_env, "NEWSMON_OPERATOR_EMAIL": OPERATOR}
    newsmon = Path(sys.executable).parent / "newsmon"
    proc = subprocess.Popen(
        [str(newsmon), "alerts", "--config-dir", str(s.config_dir), "--json"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        got = smtp_server.wait_for(5, timeout=60)
        assert len(got) >= 5, "newsmon alerts sent nothing to kill in the middle of"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    smtp_server.delay = 0.0

    before = _ledger(es_client, s.index_prefix)
    assert 0 < len(before) < total  # really killed mid-run
    last_claim = max(
        datetime.fromisoformat(e["claimed_at"].replace("Z", "+00:00")) for e in before.values()
    )
    # The next run, after any claim the killed run left has expired (its clock, not ours).
    rerun = pipeline.send_alerts(s, now=last_claim + timedelta(minutes=31))

    ledger = _ledger(es_client, s.index_prefix)
    statuses = Counter(e["status"] for e in ledger.values())
    copies = _copies(smtp_server)
    unknown = {i for i, e in ledger.items() if e["status"] in ("sending", "ambiguous")}
    assert len(ledger) == total  # every e-mail is accounted for
    assert set(statuses) <= {"sent", "sending", "ambiguous"}
    assert len(unknown) <= 1  # at most the one whose answer the kill cut off
    assert max(copies.values()) == 1  # no e-mail twice
    delivered = {mid.strip("<>").partition("@")[0] for mid in copies}
    sent = {i for i, e in ledger.items() if e["status"] == "sent"}
    assert sent <= delivered  # what the ledger calls sent was
    # None lost silently: an e-mail the server does not have is one recorded as unknown (the
    # kill can land after the `sending` mark and before the message went out).
    assert set(ledger) - delivered <= unknown

    # Maintenance turns what the dead run left `sending` into `ambiguous`, and says so once.
    reports = [pipeline.maintain(s, now=last_claim + timedelta(minutes=m)) for m in (32, 40)]
    assert sorted(reports[0]["stuck_deliveries"]) == sorted(unknown)
    assert reports[1]["stuck_deliveries"] == []
    after = _ledger(es_client, s.index_prefix)
    assert {i for i, e in after.items() if e["status"] == "ambiguous"} == unknown
    told = [m for m in smtp_server.messages if "ambiguous" in str(m["Subject"])]
    assert len(told) == len(unknown)
    assert rerun["sent"] == total - len(before) + statuses_claimed(before)


def statuses_claimed(ledger: dict[str, dict[str, Any]]) -> int:
    """Claims the killed run made but never started to send: the re-run takes them over."""
    return sum(1 for e in ledger.values() if e["status"] == "claimed")
