"""newsmon_poll: poll the feeds that are due, in parallel batches, and index their stories."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import Asset, Param, dag, get_current_context, task

from monitor.airflow_bridge import DEFAULT_ARGS, failure_notifier

# Updated by every poll batch that finishes; newsmon_alerts is scheduled on it. The alerts DAG
# declares the same name and URI (Assets compare by value, so no import between DAG files).
STORIES = Asset(name="newsmon_stories", uri="newsmon://stories")


@dag(
    dag_id="newsmon_poll",
    schedule="*/5 * * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    # One run must finish before the next tick would start one; a stuck run is cut off.
    dagrun_timeout=timedelta(minutes=30),
    default_args=DEFAULT_ARGS,
    on_failure_callback=failure_notifier(),
    tags=["newsmon", "ingest"],
    params={
        "force": Param(
            False,
            type="boolean",
            description="Poll every enabled feed now, whether or not its interval has elapsed.",
        )
    },
    doc_md="""
### newsmon_poll

Every 5 minutes: `feed_batches` lists the feeds that are due (each feed has its own next due
time: its interval in `feeds.yaml`, or longer when the server asks or the feed is failing; dead
feeds are probed daily, gone ones not at all; see the README) in batches of 10; `poll` runs
once per batch (dynamic task mapping) and fetches, parses, deduplicates, tags and indexes
those feeds into Elasticsearch.

* Every batch that finishes updates the Asset `newsmon_stories` (the event's extra carries the
  batch's counts), which triggers `newsmon_alerts`.
* No feed due means no mapped task and no alert run. A manual trigger within a feed's
  interval of its last poll therefore does nothing, unless it sets the param **`force`**:
  "Trigger DAG" → `force: true` (REST: `POST /api/v2/dags/newsmon_poll/dagRuns` with
  `{"logical_date": null, "conf": {"force": true}}`) polls every enabled feed now, backing-off,
  dead and gone ones included. Scheduled
  runs keep the default, `false`.
* Re-running or clearing a batch is safe: documents are upserted by a hash of the canonical
  URL, and conditional GET state is kept per feed.
* One failing feed is reported in the task's result and does not fail the batch; a batch fails
  (and is retried with backoff) only when Elasticsearch itself is unusable.
""",
)
def newsmon_poll() -> None:
    @task(execution_timeout=timedelta(minutes=2))
    def feed_batches() -> list[list[str]]:
        """Ids of the feeds due now (every feed with the param force), split into batches."""
        from monitor.airflow_bridge import settings_for_airflow
        from monitor.pipeline import feed_batches as due_batches

        force = bool(get_current_context()["params"].get("force", False))
        return due_batches(settings_for_airflow(), batch_size=10, force=force)

    @task(outlets=[STORIES], max_active_tis_per_dagrun=4)
    def poll(batch: list[str]) -> dict[str, Any]:
        """Fetch, parse, dedupe, tag and index one batch of feeds."""
        from monitor.airflow_bridge import settings_for_airflow
        from monitor.pipeline import poll as poll_feeds

        report = poll_feeds(settings_for_airflow(), batch)
        # The event's extra carries the counts only, so the Asset history in the UI stays small.
        extra: dict[str, Any] = {"batch": batch}
        extra.update((k, v) for k, v in report.items() if isinstance(v, str | int | float | bool))
        get_current_context()["outlet_events"][STORIES].extra = extra
        return report

    poll.expand(batch=feed_batches())


newsmon_poll()
