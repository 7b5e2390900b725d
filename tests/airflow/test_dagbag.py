"""Every DAG file imports through DagBag, and each DAG carries the operational settings."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.factories import airflow_connections

EXPECTED = {
    "newsmon_poll": "*/5 * * * *",
    "newsmon_alerts": None,  # asset-triggered, checked separately
    "newsmon_digest": "0 * * * *",
    "newsmon_maintenance": None,  # daily at a fixed time, checked separately
}
DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
STORIES_ASSET = "newsmon_stories"
HEAVY = ("monitor", "elasticsearch", "feedparser", "httpx", "datasketch", "ahocorasick")
# The one monitor module DAG files may import at parse time: shared defaults, light imports.
LIGHT = ("monitor.airflow_bridge",)


def _load_dagbag() -> Any:
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_DIR))


@pytest.fixture(scope="module")
def dagbag(airflow_home: Path) -> Iterator[Any]:
    with pytest.MonkeyPatch.context() as mp:
        # Read at parse time as the fallback recipient of failure e-mails.
        mp.setenv("NEWSMON_OPS_EMAIL", "ops@example.org")
        yield _load_dagbag()


def _cron(dag: Any) -> str | None:
    return getattr(dag.timetable, "expression", None)


def test_every_dag_file_imports_without_errors(dagbag: Any) -> None:
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == set(EXPECTED)
    # Each file holds exactly its own DAG, so one broken file cannot take the others down.
    files = {Path(dag.fileloc).name for dag in dagbag.dags.values()}
    assert files == {f"{dag_id}.py" for dag_id in EXPECTED}


def test_dag_files_import_nothing_heavy_at_module_level() -> None:
    for path in sorted(DAGS_DIR.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:  # module level only: imports inside task bodies are the rule
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            heavy = [n for n in names if n.split(".")[0] in HEAVY and n not in LIGHT]
            assert not heavy, f"{path.name}:{node.lineno} imports {heavy} at module level"


def test_the_shared_defaults_module_pulls_in_nothing_heavy() -> None:
    code = (
        "import sys, monitor.airflow_bridge; "
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY[1:]!r}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_operational_settings(dagbag: Any, dag_id: str) -> None:
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    dag = dagbag.dags[dag_id]
    assert dag.max_active_runs == 1
    assert dag.catchup is False
    assert dag.doc_md
    assert dag_id in dag.doc_md
    assert dag.dagrun_timeout is not None
    assert "newsmon" in dag.tags
    callbacks = dag.on_failure_callback
    callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
    assert any(isinstance(cb, SmtpNotifier) for cb in callbacks)
    assert dag.tasks
    for t in dag.tasks:
        assert t.retries > 0, t.task_id
        assert t.retry_exponential_backoff > 1, t.task_id
        assert t.max_retry_delay is not None, t.task_id
        assert t.max_retry_delay > t.retry_delay, t.task_id
        assert t.execution_timeout is not None, t.task_id
        assert timedelta(0) < t.execution_timeout <= dag.dagrun_timeout, t.task_id


def test_cron_schedules(dagbag: Any) -> None:
    for dag_id, cron in EXPECTED.items():
        if cron is not None:
            assert _cron(dagbag.dags[dag_id]) == cron, dag_id
    minute, hour, dom, month, dow = (_cron(dagbag.dags["newsmon_maintenance"]) or "").split()
    assert minute.isdigit(), "maintenance runs once a day at a fixed time"
    assert hour.isdigit(), "maintenance runs once a day at a fixed time"
    assert (dom, month, dow) == ("*", "*", "*")


def test_poll_maps_over_batches_and_updates_the_stories_asset(dagbag: Any) -> None:
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    dag = dagbag.dags["newsmon_poll"]
    poll = dag.get_task("poll")
    assert isinstance(poll, MappedOperator)
    assert poll.upstream_task_ids == {"feed_batches"}
    assert [a.name for a in poll.outlets] == [STORIES_ASSET]
    # feed_batches only lists; the Asset must be updated after indexing, not before.
    assert not dag.get_task("feed_batches").outlets


def test_alerts_dag_is_scheduled_on_the_poll_asset(dagbag: Any) -> None:
    from airflow.sdk import Asset

    poll_asset = dagbag.dags["newsmon_poll"].get_task("poll").outlets[0]
    alerts = dagbag.dags["newsmon_alerts"]
    condition = alerts.timetable.asset_condition
    assets = list(condition.objects)
    assert assets == [poll_asset]
    assert isinstance(assets[0], Asset)


def test_missing_ops_address_does_not_break_parsing(
    airflow_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NEWSMON_OPS_EMAIL", raising=False)
    monkeypatch.delenv("AIRFLOW_VAR_NEWSMON_OPS_EMAIL", raising=False)
    bag = _load_dagbag()
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == set(EXPECTED)


def test_failure_callback_emails_the_ops_address(
    dagbag: Any, smtp_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The DAG-level notifier, called with the processor's minimal context, sends real mail."""
    connections = airflow_connections(
        smtp_host=smtp_server.host, smtp_port=smtp_server.port, mail_from="airflow@example.org"
    )
    for name, value in connections.items():
        monkeypatch.setenv(name, value)
    dag = dagbag.dags["newsmon_maintenance"]
    callbacks = dag.on_failure_callback
    notifier = callbacks[0] if isinstance(callbacks, list) else callbacks
    notifier(
        {"dag": dag, "run_id": "scheduled__2026-05-01T03:20:00+00:00", "reason": "task_failure"}
    )
    [message] = smtp_server.wait_for(1, timeout=10)
    assert message.rcpt_tos == ["ops@example.org"]
    assert message.mail_from == "airflow@example.org"
    assert "newsmon_maintenance failed" in message["Subject"]
    body = message.get_body(("html",))
    assert body is not None
    assert "task_failure" in body.get_content()
