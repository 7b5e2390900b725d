"""newsmon_maintenance: daily retention and feed-health report."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import dag, task

from monitor.airflow_bridge import DEFAULT_ARGS, failure_notifier


@dag(
    dag_id="newsmon_maintenance",
    # Off the hour so it never shares a tick with newsmon_digest.
    schedule="20 3 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=2),
    default_args=DEFAULT_ARGS
    | {"retry_delay": timedelta(minutes=2), "max_retry_delay": timedelta(minutes=30)},
    on_failure_callback=failure_notifier(),
    tags=["newsmon", "maintenance"],
    doc_md="""
### newsmon_maintenance

Daily at 03:20 UTC.

1. `install_templates` re-applies the index templates (idempotent), so a new image's mapping
   changes reach the next monthly index even if `newsmon init` was not re-run.
2. `maintain` drops whole monthly story indices older than the retention period
   (`NEWSMON_RETENTION_MONTHS`) and reports feed health (feeds failing or silent); its report is
   the task's return value (XCom).
""",
)
def newsmon_maintenance() -> None:
    @task(execution_timeout=timedelta(minutes=5))
    def install_templates() -> dict[str, Any]:
        """Install or update the index templates."""
        from monitor.airflow_bridge import settings_for_airflow
        from monitor.pipeline import init

        return init(settings_for_airflow())

    @task(execution_timeout=timedelta(minutes=30))
    def maintain() -> dict[str, Any]:
        """Retention and the feed-health report."""
        from monitor.airflow_bridge import settings_for_airflow
        from monitor.pipeline import maintain as run_maintenance

        return run_maintenance(settings_for_airflow())

    install_templates() >> maintain()


newsmon_maintenance()
