"""newsmon_digest: hourly tick that sends the subscriber digests that are due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pendulum
from airflow.sdk import dag, get_current_context, task

from monitor.airflow_bridge import DEFAULT_ARGS, failure_notifier


@dag(
    dag_id="newsmon_digest",
    schedule="0 * * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=50),
    default_args=DEFAULT_ARGS | {"execution_timeout": timedelta(minutes=20)},
    on_failure_callback=failure_notifier(),
    tags=["newsmon", "alerts"],
    doc_md="""
### newsmon_digest

Every hour on the hour. Each subscriber rule with `mode: digest` has a schedule in the
subscriber's time zone (`daily 07:00`, `weekdays 08:30`, `hourly`); the digests due at this
tick are built from the stories indexed since that rule's previous digest and e-mailed.

* The tick time (the run's data interval end) is passed as "now", so a retry or a cleared run
  later in the hour decides exactly as the original run did; the ledger stops duplicates.
* A manual run without a logical date uses the current time.
""",
)
def newsmon_digest() -> None:
    @task
    def send_digests() -> dict[str, Any]:
        """Send the digests due at this tick."""
        from monitor.airflow_bridge import settings_for_airflow
        from monitor.pipeline import send_digests as send

        tick = get_current_context().get("data_interval_end")
        now = None if tick is None else datetime.fromtimestamp(tick.timestamp(), tz=UTC)
        report = send(settings_for_airflow(), now=now)
        if report["failed"]:
            # Failed digests stay retriable in the ledger: fail the task to retry with backoff.
            raise RuntimeError(f"{len(report['failed'])} digests failed: {report['failed'][0]}")
        return report

    send_digests()


newsmon_digest()
