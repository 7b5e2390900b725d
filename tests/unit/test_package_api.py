"""The public names of the config, store and pipeline packages are pinned: the API stays narrow on
purpose, and a new export is a decision made here, not an accident."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

PUBLIC = {
    "monitor.config": [
        "AlertRule",
        "ConfigCheck",
        "ConfigError",
        "ElasticsearchSettings",
        "FeedConfig",
        "FeedsFile",
        "Settings",
        "SmtpSettings",
        "Subscriber",
        "SubscribersFile",
        "address_problem",
        "check_config",
        "load_settings",
        "parse_duration",
        "settings_from_env",
        "topic_labels",
        "url_problem",
    ],
    "monitor.store": [
        "BatchLookup",
        "GroupCounts",
        "IndexNames",
        "IndexReport",
        "LeaseBusy",
        "SearchHit",
        "SearchRequest",
        "SearchResult",
        "Store",
        "StoreError",
        "StoreEventLookup",
        "connect",
        "monthly_index",
        "open_store",
        "retention_cutoff",
    ],
    "monitor.pipeline": [
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
    ],
    "monitor.resources": [
        "INDEX_TEMPLATE_KINDS",
        "KIBANA_SAVED_OBJECTS_NAME",
        "index_template",
        "kibana_saved_objects",
    ],
}


@pytest.mark.parametrize("package", sorted(PUBLIC))
def test_public_names_are_pinned_and_importable(package: str) -> None:
    module = importlib.import_module(package)
    assert sorted(module.__all__) == PUBLIC[package]
    for name in module.__all__:
        assert getattr(module, name) is not None


def test_only_store_imports_the_elasticsearch_client() -> None:
    root = Path(__file__).resolve().parents[2]
    found = subprocess.run(
        ["grep", "-rln", r"import elasticsearch\|from elasticsearch\|elastic_transport", "monitor"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    assert found
    assert all(path.startswith("monitor/store/") for path in found), found


def test_no_monitor_module_is_much_longer_than_500_lines() -> None:
    root = Path(__file__).resolve().parents[2]
    lengths = {
        str(p.relative_to(root)): len(p.read_text(encoding="utf-8").splitlines())
        for p in (root / "monitor").rglob("*.py")
    }
    assert {p: n for p, n in lengths.items() if n > 520} == {}


def test_importing_the_pipeline_does_not_pull_in_airflow() -> None:
    code = "import monitor.pipeline, sys; print('airflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_several_elasticsearch_nodes_in_one_url_setting() -> None:
    from monitor.config import ElasticsearchSettings
    from monitor.store import connect

    client = connect(ElasticsearchSettings(url="http://es1:9200, http://es2:9201"))
    nodes = sorted(str(n.base_url) for n in client.transport.node_pool.all())
    assert nodes == ["http://es1:9200", "http://es2:9201"]
