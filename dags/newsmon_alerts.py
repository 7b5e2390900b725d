"""newsmon_alerts: send instant alerts for stories indexed since the last alert run."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import Asset, dag, task

from monitor.airflow_bridge import DEFAULT_ARGS, failure_notifier

# Same name and URI as in newsmon_poll.py: the poll DAG's batches update it.
STORIES = Asset(name="newsmon_stories", uri="newsmon://stories")


@dag(
    dag_id="newsmon_alerts",
    schedule=[STORIES],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    # Events that arrive while a run is active are queued into one next run, not one per event.
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=30),
    default_args=DEFAULT_ARGS,
    on_failure_callback=failure_notifier(),
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
