"""A real CeleryExecutor run: 2 workers group and alert exactly as 1 worker does.

The harness (localdev/celery_stack.py) starts Redis, PostgreSQL, the Airflow api-server,
scheduler and dag-processor. Forty outlets, served with 50 ms latency per response, carry eight
wire stories copied unchanged into four outlets each (one copy in each of the poll DAG's four
batches of ten) plus three stories of their own. `newsmon_poll` is triggered through the REST
API, first with one worker (two task slots), then with two (four slots), each run on its own
index prefix; `newsmon_alerts` then runs on the Asset the poll updates. Both runs must store
every story, split the stories into the same clusters and events, and send the same e-mails,
none twice; in the 2-worker run both workers must have run `poll` tasks. The wall times of the
two runs are printed as JSON (`pytest -s`) and written to var/celery-run.json.

Only the feeds of a measured run are ever due: the configuration directory the workers read
lists no feed except while a measured run is triggered, so the runs the scheduler starts on
its own (the last cron tick of each DAG at start-up, later ticks of the 5-minute poll) poll
nothing, and a measured run is triggered well away from a 5-minute tick.
"""

from __future__ import annotations

import json
import random
import secrets
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from localdev import elasticsearch as local_es
from localdev.celery_stack import CeleryStack, CeleryStackError
from localdev.feedserver import FeedServer
from localdev.mailcatcher import CapturedMessage, MailCatcher
from monitor import pipeline
from monitor.config import load_settings
from tests.factories import (
    FeedEntry,
    airflow_connections,
    feed,
    instant_rule,
    rss_feed,
    subscriber,
    synthetic_text,
    write_config,
)

pytestmark = [pytest.mark.celery, pytest.mark.integration, pytest.mark.timeout(1200)]

REPO_ROOT = Path(__file__).resolve().parents[2]
RESULTS_FILE = REPO_ROOT / "var" / "celery-run.json"

OUTLETS, BATCH, WIRES, OWN = 40, 10, 8, 3
LATENCY = 0.05
STORIES = OUTLETS * OWN + WIRES * (OUTLETS // BATCH)
GROUPS = OUTLETS * OWN + WIRES
DAG_IDS = ("newsmon_poll", "newsmon_alerts", "newsmon_digest", "newsmon_maintenance")
EXCLUSIVES = OUTLETS // 2
# Each rule matches fewer than 50 stories per alert run: one alert search returns at most 50
# hits (monitor.store.stories.search_window), and a catch-all rule over these 152 stories
# would test that limit rather than the workers.
SUBSCRIBERS = [
    subscriber(instant_rule("syndicated", name="wires"), email="analyst@example.org"),
    subscriber(
        instant_rule("exclusive", name="exclusives"),
        instant_rule("harbour AND council", name="harbour council"),
        email="editor@example.org",
    ),
]
RUN_TIMEOUT = 300.0
QUIET_TIMEOUT = 300.0


def _outlet(i: int) -> str:
    return f"outlet-{i:02d}"


def build_feeds(root: Path, seed: int, now: datetime) -> set[frozenset[str]]:
    """Write the outlets' feeds; returns the true partition of their story URLs into groups."""
    rng = random.Random(seed)
    base = now - timedelta(hours=6)
    wires = [(synthetic_text(rng, 9), synthetic_text(rng, 50)) for _ in range(WIRES)]
    truth: dict[str, set[str]] = {}

    def pub(minutes: int) -> str:
        return (base + timedelta(minutes=minutes)).strftime("%a, %d %b %Y %H:%M:%S +0000")

    for i in range(OUTLETS):
        name, items = _outlet(i), []
        k = i % BATCH  # outlet i is in batch i // BATCH: every batch holds one copy of each wire
        if k < WIRES:
            title, summary = wires[k][0], wires[k][1] + " Syndicated copy."
            link = f"https://{name}.example.org/wire/{k}"
            minute = 10 * k + (7 * (i // BATCH) + 3 * k) % 11
            items.append(
                {"guid": f"{name}-wire", "title": title, "summary": summary, "link": link,
                 "pubDate": pub(minute)}
            )  # fmt: skip
            truth.setdefault(f"wire-{k}", set()).add(link)
        for j in range(OWN):
            link = f"https://{name}.example.org/own/{j}"
            summary = synthetic_text(rng, 50)
            if j == 0 and i < EXCLUSIVES:
                summary += " Exclusive report."
            items.append(
                {"guid": f"{name}-own-{j}", "title": synthetic_text(rng, 9), "summary": summary,
                 "link": link, "pubDate": pub(100 + j)}
            )  # fmt: skip
            truth[link] = {link}
        (root / f"{name}.xml").write_text(rss_feed(name.title(), items), encoding="utf-8")
    return {frozenset(g) for g in truth.values()}


def partition(es: Elasticsearch, prefix: str, field: str) -> set[frozenset[str]]:
    """Stored stories grouped by `field` (cluster_id or event_id), as sets of story URLs."""
    es.indices.refresh(index=f"{prefix}-stories")
    hits = es.search(index=f"{prefix}-stories", size=1000, query={"match_all": {}})["hits"]["hits"]
    groups: dict[str, set[str]] = {}
    for h in hits:
        groups.setdefault(h["_source"][field], set()).add(h["_source"]["url"])
    return {frozenset(v) for v in groups.values()}


def stored_urls(es: Elasticsearch, prefix: str) -> list[str]:
    es.indices.refresh(index=f"{prefix}-stories")
    hits = es.search(index=f"{prefix}-stories", size=1000, query={"match_all": {}})["hits"]["hits"]
    return [h["_source"]["url"] for h in hits]


def mail_keys(messages: list[CapturedMessage]) -> Counter[tuple[str, str]]:
    """(recipients, subject) of each e-mail, counted."""
    return Counter((",".join(sorted(m.rcpt_tos)), str(m["Subject"])) for m in messages)


def _active_runs(stack: CeleryStack) -> list[str]:
    active = []
    for dag_id in DAG_IDS:
        runs = stack.api("GET", f"/api/v2/dags/{dag_id}/dagRuns?state=queued&state=running")
        active += [f"{dag_id}/{r['dag_run_id']}" for r in runs["dag_runs"]]
    return active


def wait_until_quiet(stack: CeleryStack, timeout: float = QUIET_TIMEOUT) -> None:
    """Wait until no DAG run is active and the next 5-minute poll tick is at least 30 s away."""
    deadline = time.monotonic() + timeout
    while True:
        now = datetime.now(UTC)
        into_tick = (now.minute % 5) * 60 + now.second
        active = _active_runs(stack)
        if not active and 15 <= into_tick <= 270:
            return
        if time.monotonic() > deadline:
            raise CeleryStackError(f"Airflow not idle after {timeout:.0f} s: active {active}")
        time.sleep(1)


def wait_for_alerts(stack: CeleryStack, runs_before: int, timeout: float) -> list[dict[str, Any]]:
    """Wait until the Asset events of a poll have all been consumed by finished alert runs."""
    deadline = time.monotonic() + timeout
    while True:
        runs = stack.dag_runs("newsmon_alerts")
        queued = stack.api("GET", "/api/v2/dags/newsmon_alerts/assets/queuedEvents")
        pending = [r for r in runs if r["state"] in ("queued", "running")]
        if len(runs) > runs_before and not pending and not queued["total_entries"]:
            failed = [r["dag_run_id"] for r in runs[runs_before:] if r["state"] != "success"]
            if failed:
                raise CeleryStackError(f"newsmon_alerts runs failed: {failed}")
            return runs[runs_before:]
        if time.monotonic() > deadline:
            raise CeleryStackError(
                f"newsmon_alerts not done after {timeout:.0f} s: {len(runs) - runs_before} "
                f"new runs, {len(pending)} active, {queued['total_entries']} queued events"
            )
        time.sleep(0.5)


def measured_run(
    stack: CeleryStack,
    *,
    workers: int,
    prefix: str,
    cfg: Path,
    feeds: list[FeedEntry],
    smtp: MailCatcher,
    base_env: dict[str, str],
) -> dict[str, Any]:
    """Start `workers` workers on `prefix`, trigger one poll, wait for its alerts; the facts."""
    pipeline.init(load_settings(cfg, {**base_env, "NEWSMON_INDEX_PREFIX": prefix}))
    started = stack.start_workers(workers, env={"NEWSMON_INDEX_PREFIX": prefix})
    try:
        wait_until_quiet(stack)
        alert_runs_before = len(stack.dag_runs("newsmon_alerts"))
        mail_mark = len(smtp.messages)
        write_config(cfg, feeds=feeds, subscribers=SUBSCRIBERS)
        try:
            t0 = time.monotonic()
            run_id = stack.trigger("newsmon_poll")
            run = stack.wait_for_run("newsmon_poll", run_id, RUN_TIMEOUT)
            poll_seconds = time.monotonic() - t0
            alert_runs = wait_for_alerts(stack, alert_runs_before, RUN_TIMEOUT)
            total_seconds = time.monotonic() - t0
            # One more alerts run, as the next poll's event would start. A story whose grouping
            # completes while an alerts run reads its window is mailed by the next run (windows
            # overlap by 15 minutes); without this run, whether the measurement catches that
            # mail depends on task timing (CI once saw 42 mails with one worker, 44 with two).
            # A second mail for anything already sent would fail the assertions below.
            extra = stack.trigger("newsmon_alerts")
            stack.wait_for_run("newsmon_alerts", extra, RUN_TIMEOUT)
        finally:
            # From here on the scheduler's own poll runs find no feed again.
            write_config(cfg, feeds=[], subscribers=SUBSCRIBERS)
        tis = stack.task_instances("newsmon_poll", run_id)
    finally:
        stack.stop_workers()
    polls = [t for t in tis if t["task_id"] == "poll"]
    t_run = datetime.fromisoformat(run["start_date"])

    def span(ti: dict[str, Any]) -> list[float]:
        """Seconds from the run's start to the task's start and end."""
        start, end = (datetime.fromisoformat(ti[k]) for k in ("start_date", "end_date"))
        return [round((start - t_run).total_seconds(), 2), round((end - t_run).total_seconds(), 2)]

    return {
        "workers": [w.hostname for w in started],
        "run_id": run_id,
        "poll_run_seconds": round(poll_seconds, 2),
        "poll_run_seconds_airflow": round(
            (
                datetime.fromisoformat(run["end_date"]) - datetime.fromisoformat(run["start_date"])
            ).total_seconds(),
            2,
        ),
        "poll_and_alerts_seconds": round(total_seconds, 2),
        "alert_runs": len(alert_runs),
        "poll_tasks": len(polls),
        "poll_task_states": sorted({t["state"] for t in polls}),
        "poll_tasks_by_host": dict(Counter(t["hostname"] for t in polls)),
        "task_spans_seconds": {
            f"{t['task_id']}[{t['map_index']}]@{t['hostname']}": span(t)
            for t in sorted(tis, key=lambda t: (t["start_date"] or "", t["map_index"]))
        },
        "mails": smtp.messages[mail_mark:],
    }


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[FeedServer, set[frozenset[str]]]]:
    root = tmp_path / "www"
    root.mkdir()
    # The one wall-clock read in the tests: the Airflow scheduler and workers run on the real
    # clock (they cannot be given a `now`), and the poll drops items dated far from it, so the
    # feeds are dated around it. What the test asserts does not depend on that instant.
    truth = build_feeds(root, seed=20261231, now=datetime.now(UTC).replace(microsecond=0))
    with FeedServer(root, latency=LATENCY) as server:
        yield server, truth


def test_two_celery_workers_poll_and_alert_like_one(
    tmp_path: Path,
    served: tuple[FeedServer, set[frozenset[str]]],
    elasticsearch_url: str,
    es_client: Elasticsearch,
    smtp_server: MailCatcher,
) -> None:
    server, truth = served
    feeds = [
        feed(_outlet(i), server.url_for(f"{_outlet(i)}.xml"), interval="1h") for i in range(OUTLETS)
    ]
    cfg = write_config(tmp_path / "config", feeds=[], subscribers=SUBSCRIBERS)
    base_env = {
        "NEWSMON_ES_URL": elasticsearch_url,
        "NEWSMON_CONFIG_DIR": str(cfg),
        "NEWSMON_ALLOW_PRIVATE_FEEDS": "true",
        "NEWSMON_MAIL_FROM": "newsmon@example.org",
    }
    env = {
        **base_env,
        **airflow_connections(
            es_url=elasticsearch_url, smtp_host=smtp_server.host, smtp_port=smtp_server.port
        ),
    }
    tag = secrets.token_hex(4)
    prefixes = {n: f"t-{tag}-w{n}" for n in (1, 2)}
    stack = CeleryStack(workers=0, worker_concurrency=2, parallelism=4, env=env)
    results: dict[int, dict[str, Any]] = {}
    index: dict[int, dict[str, Any]] = {}
    stack_seconds = 0.0
    t_start = time.monotonic()
    try:
        stack.start()
        stack_seconds = time.monotonic() - t_start
        for n in (1, 2):
            results[n] = measured_run(
                stack,
                workers=n,
                prefix=prefixes[n],
                cfg=cfg,
                feeds=feeds,
                smtp=smtp_server,
                base_env=base_env,
            )
            index[n] = {
                "urls": stored_urls(es_client, prefixes[n]),
                "clusters": partition(es_client, prefixes[n], "cluster_id"),
                "events": partition(es_client, prefixes[n], "event_id"),
            }
    except CeleryStackError as err:
        pytest.fail(f"{err}\n{stack.log_tails()}", pytrace=False)
    finally:
        stack.stop()
        for prefix in prefixes.values():
            local_es.delete_prefixed(es_client, prefix)
    report = write_results(results, stack_seconds, time.monotonic() - t_start)

    all_urls = {url for group in truth for url in group}
    for n in (1, 2):
        r = results[n]
        assert r["poll_tasks"] == OUTLETS // BATCH, r
        assert r["poll_task_states"] == ["success"], r
        # No story lost, none stored twice, and the copies grouped as they truly are.
        assert sorted(index[n]["urls"]) == sorted(all_urls), f"{n} worker(s): stories differ"
        assert index[n]["clusters"] == truth, f"{n} worker(s): clusters differ from the truth"
        mails = mail_keys(r["mails"])
        assert max(mails.values()) == 1, f"{n} worker(s): duplicate e-mails {mails.most_common(3)}"
    # The index and the inbox of the 2-worker run equal the 1-worker run's.
    assert index[2]["clusters"] == index[1]["clusters"]
    assert index[2]["events"] == index[1]["events"]
    assert mail_keys(results[2]["mails"]) == mail_keys(results[1]["mails"])
    for n in (1, 2):
        by_rule = Counter(str(m["Subject"]).split(":")[0] for m in results[n]["mails"])
        # One e-mail per group: a split wire group would mail twice.
        assert by_rule["[newsmon] wires"] == WIRES, by_rule
        assert by_rule["[newsmon] exclusives"] == EXCLUSIVES, by_rule
    # Both workers ran poll tasks (the 1-worker run's all ran on its one worker).
    assert len(results[2]["workers"]) == 2
    assert set(results[2]["poll_tasks_by_host"]) == set(results[2]["workers"]), report
    assert set(results[1]["poll_tasks_by_host"]) == set(results[1]["workers"]), report


def write_results(
    results: dict[int, dict[str, Any]], stack_seconds: float, total_seconds: float
) -> dict[str, Any]:
    report: dict[str, Any] = {
        "feeds": OUTLETS,
        "batches": OUTLETS // BATCH,
        "feed_latency_ms": LATENCY * 1000,
        "stories": STORIES,
        "groups": GROUPS,
        "worker_concurrency": 2,
        "stack_start_seconds": round(stack_seconds, 1),
        "test_seconds": round(total_seconds, 1),
    }
    for n, r in results.items():
        report[f"workers_{n}"] = {k: v for k, v in r.items() if k != "mails"} | {
            "emails": len(r["mails"])
        }
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_FILE.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report))
    print(f"celery run results written to {RESULTS_FILE}")
    return report
