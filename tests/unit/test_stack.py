"""What `make up` hands to airflow standalone and to the DAGs (localdev/stack.py), no process."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from localdev.stack import StackConfig, _airflow_env, _write_config

ROOT = Path(__file__).resolve().parents[2]


def test_airflow_env_moves_every_port_and_sets_both_connections(tmp_path: Path) -> None:
    cfg = StackConfig(run_dir=tmp_path, api_port=18080, smtp_port=11025)
    ports = {"worker_log_port": 18793, "trigger_log_port": 18794}
    env = _airflow_env(cfg, "http://127.0.0.1:19200", ports)
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:18080/execution/"
    assert env["AIRFLOW__API__PORT"] == "18080"
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1"
    assert env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] == "18793"
    assert env["AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT"] == "18794"
    assert env["AIRFLOW__CORE__PARALLELISM"] == "4"
    assert env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "False"
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] == "False"
    es = json.loads(env["AIRFLOW_CONN_ELASTICSEARCH_DEFAULT"])
    assert (es["host"], es["port"], es["schema"]) == ("127.0.0.1", 19200, "http")
    smtp = json.loads(env["AIRFLOW_CONN_SMTP_DEFAULT"])
    assert (smtp["port"], smtp["extra"]["disable_ssl"]) == (11025, True)
    assert env["NEWSMON_ALLOW_PRIVATE_FEEDS"] == "true"  # the demo serves on loopback
    # Keys survive a restart: the same run directory gives the same secrets.
    again = _airflow_env(cfg, "http://127.0.0.1:19200", ports)
    assert again["AIRFLOW__CORE__FERNET_KEY"] == env["AIRFLOW__CORE__FERNET_KEY"]
    assert again["AIRFLOW__API_AUTH__JWT_SECRET"] == env["AIRFLOW__API_AUTH__JWT_SECRET"]


def test_demo_config_points_at_the_demo_port(tmp_path: Path) -> None:
    target = _write_config(StackConfig(run_dir=tmp_path, demo_port=18765))
    feeds = yaml.safe_load((target / "feeds.yaml").read_text(encoding="utf-8"))["feeds"]
    assert feeds
    assert all(f["url"].startswith("http://127.0.0.1:18765/") for f in feeds)
    assert (target / "topics.yaml").read_bytes() == (ROOT / "config/topics.yaml").read_bytes()


def test_real_feeds_keep_the_ssrf_guard(tmp_path: Path) -> None:
    cfg = StackConfig(run_dir=tmp_path, feeds=ROOT / "config" / "feeds.yaml")
    target = _write_config(cfg)
    assert (target / "feeds.yaml").read_bytes() == (ROOT / "config/feeds.yaml").read_bytes()
    env = _airflow_env(cfg, "http://127.0.0.1:9200", {"worker_log_port": 1, "trigger_log_port": 2})
    assert env["NEWSMON_ALLOW_PRIVATE_FEEDS"] == "false"
