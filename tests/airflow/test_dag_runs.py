"""The DAGs run end to end with dag.test() on a migrated metadata DB and the real services.

Connections reach the tasks the production way (AIRFLOW_CONN_* JSON, read by Airflow and
mapped by monitor.airflow_bridge); the services are the session's real Elasticsearch, an
aiosmtpd catcher and a local feed server.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from localdev.feedserver import FeedServer
from localdev.mailcatcher import MailCatcher
from tests.factories import (
    airflow_connections,
    digest_rule,
    instant_rule,
    served_feeds,
    subscriber,
    write_config,
)

ROOT = Path(__file__).resolve().parents[2]
DAGS_DIR = ROOT / "dags"
FIXTURES = ROOT / "tests" / "fixtures" / "feeds"

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def metadata_db(airflow_home: Path) -> Path:
    """`airflow db migrate` on SQLite in the session's AIRFLOW_HOME (once per module)."""
    airflow = Path(sys.executable).with_name("airflow")
    done = subprocess.run(
        [str(airflow), "db", "migrate"],
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    db = airflow_home / "airflow.db"
    assert db.exists(), f"migrate did not create {db}"
    return db


@pytest.fixture(scope="module")
def dags(metadata_db: Path) -> dict[str, Any]:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS_DIR))
    assert bag.import_errors == {}
    return dict(bag.dags)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[FeedServer]:
    root = tmp_path / "www"
    root.mkdir()
    for name in ("wire-a.xml", "outlet-b.xml"):
        shutil.copy(FIXTURES / name, root / name)
    with FeedServer(root) as server:
        yield server


@pytest.fixture
def airflow_env(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    served: FeedServer,
    elasticsearch_url: str,
    index_prefix: str,
    smtp_server: MailCatcher,
) -> Path:
    """Config directory and the environment a production task sees, aimed at test services."""
    cfg = write_config(
        tmp_path / "config",
        feeds=served_feeds(served, "wire-a.xml", "outlet-b.xml"),
        subscribers=[
            subscriber(
                instant_rule("topics:hamas_leadership", name="leaders"),
                digest_rule("topics:hamas_leadership", name="morning", every="hourly"),
                timezone="UTC",
            )
        ],
    )
    connections = airflow_connections(
        es_url=elasticsearch_url, smtp_host=smtp_server.host, smtp_port=smtp_server.port
    )
    for name, value in connections.items():
        monkeypatch.setenv(name, value)
    # Wrong on purpose: the connections, not these, must decide where tasks go.
    monkeypatch.setenv("NEWSMON_ES_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("NEWSMON_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("NEWSMON_SMTP_PORT", "9")
    monkeypatch.setenv("NEWSMON_CONFIG_DIR", str(cfg))
    monkeypatch.setenv("NEWSMON_INDEX_PREFIX", index_prefix)
    monkeypatch.setenv("NEWSMON_ALLOW_PRIVATE_FEEDS", "true")
    return cfg


def _run(dag: Any, **kwargs: Any) -> dict[str, Any]:
    """dag.test() and the run's task results; a failed run does not raise, so assert it."""
    run = dag.test(**kwargs)
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "success", f"{dag.dag_id}: run {run.state}, tasks {states}"
    return {"run": run, "states": states}


def _xcom(run: Any, task_id: str) -> list[Any]:
    """Return values of a task (one per mapped instance)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = (
            session.query(XComModel)
            .filter_by(dag_id=run.dag_id, run_id=run.run_id, task_id=task_id, key="return_value")
            .order_by(XComModel.map_index)
            .all()
        )
        return [XComModel.deserialize_value(r) for r in rows]


def _story_count(es: Elasticsearch, prefix: str) -> int:
    es.indices.refresh(index=f"{prefix}-stories")
    return int(es.count(index=f"{prefix}-stories")["count"])


def test_poll_then_alerts_index_once_and_email_once(
    dags: dict[str, Any],
    airflow_env: Path,
    smtp_server: MailCatcher,
    es_client: Elasticsearch,
    index_prefix: str,
) -> None:
    _run(dags["newsmon_maintenance"])  # installs the templates, as the init service does

    poll = _run(dags["newsmon_poll"])
    [batches] = _xcom(poll["run"], "feed_batches")
    assert sorted(batches[0]) == ["outlet-b", "wire-a"]
    reports = _xcom(poll["run"], "poll")
    assert len(reports) == len(batches)
    assert reports[0]["feeds_failed"] == 0
    assert reports[0]["stories_new"] > 0
    indexed = _story_count(es_client, index_prefix)
    assert indexed == reports[0]["stories_new"]

    alerts = _run(dags["newsmon_alerts"])
    [report] = _xcom(alerts["run"], "send_alerts")
    assert report["sent"] == 1, report
    [mail] = smtp_server.wait_for(1)
    assert mail.rcpt_tos == ["analyst@example.org"]

    # Clearing and re-running both DAGs changes nothing: feeds are not due, the ledger holds.
    again = _run(dags["newsmon_poll"])
    assert _xcom(again["run"], "feed_batches") == [[]]
    assert _story_count(es_client, index_prefix) == indexed
    rerun = _run(dags["newsmon_alerts"])
    [report] = _xcom(rerun["run"], "send_alerts")
    assert report["sent"] == 0
    assert len(smtp_server.messages) == 1


def test_digest_tick_sends_the_due_digest_once(
    dags: dict[str, Any],
    airflow_env: Path,
    smtp_server: MailCatcher,
    es_client: Elasticsearch,
    index_prefix: str,
) -> None:
    _run(dags["newsmon_maintenance"])
    _run(dags["newsmon_poll"])
    # Airflow runs on the real clock, so take the hour from what the poll recorded rather than
    # from the clock now: the tick that closes the hour the stories were indexed in.
    _story_count(es_client, index_prefix)  # refreshes
    hits = es_client.search(index=f"{index_prefix}-stories", size=1, sort=[{"indexed_at": "desc"}])
    indexed_at = datetime.fromisoformat(hits["hits"]["hits"][0]["_source"]["indexed_at"])
    tick = indexed_at.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    first = _run(dags["newsmon_digest"], logical_date=tick)
    [report] = _xcom(first["run"], "send_digests")
    assert report["sent"] == 1, report
    assert len(smtp_server.wait_for(1)) == 1
    second = _run(dags["newsmon_digest"], logical_date=tick)
    [report] = _xcom(second["run"], "send_digests")
    assert report["sent"] == 0
    assert len(smtp_server.messages) == 1


def test_maintenance_reports_feed_health(dags: dict[str, Any], airflow_env: Path) -> None:
    result = _run(dags["newsmon_maintenance"])
    assert result["states"] == {"install_templates": "success", "maintain": "success"}
    [report] = _xcom(result["run"], "maintain")
    problems = {row["feed"]: row["problem"] for row in report["unhealthy_feeds"]}
    assert problems == {"outlet-b": "never polled", "wire-a": "never polled"}
