"""Units of work shared by the CLI and the Airflow DAGs: init, poll, alerts, digests, upkeep.

Each takes validated Settings (and optionally the instant it runs at; by default it reads the
clock once) and returns a JSON-able report, so a DAG task can hand it to XCom and the CLI can
print it as a table or JSON. Data flows one way:
fetch -> parse -> dedupe -> tag -> store -> alerts (match -> ledger -> render -> send).

Modules, one job each: `polling` (the poll), `delivery` (instant alerts and digests),
`maintenance` (retention, health, re-tagging), `cycle` (init and one whole cycle) and
`context` (the store and the compiled taxonomy every unit starts from).
"""

from monitor.pipeline.checks import check_rules
from monitor.pipeline.context import open_store, tagger_for
from monitor.pipeline.cycle import config_summary, exclusive_loop, init, run_once
from monitor.pipeline.delivery import preview_alert, send_alerts, send_digests, send_test_mail
from monitor.pipeline.grouping import group_pending
from monitor.pipeline.maintenance import enable_feed, feed_health, maintain, retag
from monitor.pipeline.polling import DUE_SLACK, due_feeds, feed_batches, poll

__all__ = [
    "DUE_SLACK",
    "check_rules",
    "config_summary",
    "due_feeds",
    "enable_feed",
    "exclusive_loop",
    "feed_batches",
    "feed_health",
    "group_pending",
    "init",
    "maintain",
    "open_store",
    "poll",
    "preview_alert",
    "retag",
    "run_once",
    "send_alerts",
    "send_digests",
    "send_test_mail",
    "tagger_for",
]
