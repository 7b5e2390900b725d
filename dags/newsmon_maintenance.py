"""newsmon_maintenance: daily retention and feed-health report."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pendulum
from airflow.providers.smtp.notifications.smtp import SmtpNotifier
from airflow.sdk import dag, task

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
    dag_id="newsmon_maintenance",
    # Off the hour so it never shares a tick with newsmon_digest.
    schedule="20 3 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=2),
    default_args=DEFAULT_ARGS
    | {"retry_delay": timedelta(minutes=2), "max_retry_delay": timedelta(minutes=30)},
    on_failure_callback=SmtpNotifier(
        to=OPS_EMAIL, subject=FAILURE_SUBJECT, html_content=FAILURE_HTML
    ),
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
