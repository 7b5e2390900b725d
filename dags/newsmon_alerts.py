"""newsmon_alerts: send instant alerts for stories indexed since the last alert run."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pendulum
from airflow.providers.smtp.notifications.smtp import SmtpNotifier
from airflow.sdk import Asset, dag, task

# Same name and URI as in newsmon_poll.py: the poll DAG's batches update it.
STORIES = Asset(name="newsmon_stories", uri="newsmon://stories")

# Resolved when the callback fires, not at parse time, so the Variable is read from Airflow's
# store only on failure; the environment value is the fallback (and the only source when the
# DAG processor runs a callback with a minimal context that has no `var`).
_OPS_FALLBACK = os.environ.get("NEWSMON_OPS_EMAIL", "").replace("'", "")
OPS_EMAIL = (
    f"{{{{ var.value.get('newsmon_ops_email', '{_OPS_FALLBACK}') if var is defined "
    f"else '{_OPS_FALLBACK}' }}}}"
)
FAILURE_SUBJECT = "[newsmon] {{ dag.dag_id }} failed ({{ run_id }})"
FAILURE_HTML = (
    "<p>newsmon DAG <b>{{ dag.dag_id }}</b>, run <code>{{ run_id }}</code>, failed"
    "{% if reason %}: {{ reason }}{% endif %}.</p>"
    "{% if ti is defined %}<p>Last task: {{ ti.task_id }}, try {{ ti.try_number }}. "
    '<a href="{{ ti.log_url }}">Log</a></p>{% endif %}'
)

DEFAULT_ARGS: dict[str, Any] = {
    "owner": "newsmon",
    "retries": 3,
    "retry_delay": timedelta(seconds=20),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=4),
    "execution_timeout": timedelta(minutes=10),
}


@dag(
    dag_id="newsmon_alerts",
    schedule=[STORIES],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    # Events that arrive while a run is active are queued into one next run, not one per event.
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=30),
    default_args=DEFAULT_ARGS,
    on_failure_callback=SmtpNotifier(
        to=OPS_EMAIL, subject=FAILURE_SUBJECT, html_content=FAILURE_HTML
    ),
    tags=["newsmon", "alerts"],
    doc_md="""
### newsmon_alerts

Runs whenever `newsmon_poll` indexed stories (it is scheduled on the Asset `newsmon_stories`).
Every subscriber rule with `mode: instant` runs as an Elasticsearch query over the stories
indexed since the last alert run (a window on indexing time, so late-published stories are
never missed), and matches are e-mailed.

* Each delivery is recorded in the ledger index before it is sent and marked sent afterwards:
  a retry, a cleared task or an overlapping trigger never e-mails the same story twice.
* An e-mail that could not be sent fails the task (after the others were tried), so it is
  retried with exponential backoff; the ops address gets one e-mail per failed run.
""",
)
def newsmon_alerts() -> None:
    @task
    def send_alerts() -> dict[str, Any]:
        """Send instant alerts for newly indexed stories."""
        from monitor.airflow_bridge import settings_for_airflow
        from monitor.pipeline import send_alerts as send

        report = send(settings_for_airflow())
        if report["failed"]:
            # Failed deliveries stay retriable in the ledger and the alert cursor does not move,
            # so failing the task buys a retry with backoff and, in the end, the ops e-mail.
            raise RuntimeError(
                f"{len(report['failed'])} alert e-mails failed: {report['failed'][0]}"
            )
        return report

    send_alerts()


newsmon_alerts()
