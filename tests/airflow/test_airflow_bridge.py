"""Airflow Connections -> NEWSMON_* settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.airflow_bridge import env_from_connections, settings_for_airflow
from monitor.config import ConfigError
from tests.factories import airflow_connections, feed, write_config

BASE = {
    "NEWSMON_ES_URL": "http://env-es:9200",
    "NEWSMON_ES_PASSWORD": "env-secret",
    "NEWSMON_ES_CA_CERTS": "/env/ca.pem",
    "NEWSMON_SMTP_HOST": "env-mail",
    "NEWSMON_SMTP_PASSWORD": "env-mail-secret",
    "NEWSMON_MAIL_FROM": "env@example.org",
    "NEWSMON_INDEX_PREFIX": "prod",
    "PATH": "/usr/bin",
}


def test_no_connections_keep_the_environment() -> None:
    assert env_from_connections(None, None, BASE) == BASE


def test_elasticsearch_connection_with_basic_auth_and_ca() -> None:
    es = {
        "host": "elasticsearch",
        "port": 9200,
        "schema": "https",
        "login": "elastic",
        "password": "s3cret",
        "extra": {"ca_certs": "/certs/ca.crt"},
    }
    env = env_from_connections(es, None, BASE)
    assert env["NEWSMON_ES_URL"] == "https://elasticsearch:9200"
    assert env["NEWSMON_ES_USERNAME"] == "elastic"
    assert env["NEWSMON_ES_PASSWORD"] == "s3cret"
    assert env["NEWSMON_ES_CA_CERTS"] == "/certs/ca.crt"
    assert env["NEWSMON_INDEX_PREFIX"] == "prod"  # unrelated variables pass through
    assert env["NEWSMON_SMTP_HOST"] == "env-mail"


def test_elasticsearch_connection_replaces_env_credentials() -> None:
    """A connection with an API key must not inherit a password meant for another server."""
    env = env_from_connections(
        {"host": "es.internal", "extra": {"api_key": "a2V5OnNlY3JldA=="}}, None, BASE
    )
    assert env["NEWSMON_ES_URL"] == "http://es.internal:9200"
    assert env["NEWSMON_ES_API_KEY"] == "a2V5OnNlY3JldA=="
    assert "NEWSMON_ES_PASSWORD" not in env
    assert "NEWSMON_ES_CA_CERTS" not in env


@pytest.mark.parametrize(
    ("conn", "url"),
    [
        ({"host": "https://es.example.org"}, "https://es.example.org"),
        ({"host": "https://es.example.org", "port": 9243}, "https://es.example.org:9243"),
        ({"host": "http://es:9201/", "port": 9999}, "http://es:9201"),
        ({"host": "es", "extra": {"use_ssl": "true"}}, "https://es:9200"),
        ({"host": "es", "extra": {"use_ssl": "false"}}, "http://es:9200"),
        ({"host": "es", "extra": {"scheme": "https"}}, "https://es:9200"),
        ({"host": "::1", "port": 9201}, "http://[::1]:9201"),
        ({}, "http://localhost:9200"),
    ],
)
def test_elasticsearch_url_forms(conn: dict[str, object], url: str) -> None:
    assert env_from_connections(conn, None, {})["NEWSMON_ES_URL"] == url


def test_smtp_connection_maps_host_credentials_and_sender() -> None:
    smtp = {
        "host": "mail.example.org",
        "port": 587,
        "login": "newsmon",
        "password": "pw",
        "extra": {"from_email": "alerts@example.org", "disable_ssl": True},
    }
    env = env_from_connections(None, smtp, BASE)
    assert env["NEWSMON_SMTP_HOST"] == "mail.example.org"
    assert env["NEWSMON_SMTP_PORT"] == "587"
    assert env["NEWSMON_SMTP_USERNAME"] == "newsmon"
    assert env["NEWSMON_SMTP_PASSWORD"] == "pw"
    assert env["NEWSMON_SMTP_SECURITY"] == "starttls"
    assert env["NEWSMON_MAIL_FROM"] == "alerts@example.org"
    assert env["NEWSMON_ES_URL"] == "http://env-es:9200"


def test_smtp_connection_without_sender_or_password_keeps_sender_drops_password() -> None:
    env = env_from_connections(None, {"host": "mailpit", "port": 1025}, BASE)
    assert env["NEWSMON_MAIL_FROM"] == "env@example.org"
    assert "NEWSMON_SMTP_PASSWORD" not in env


@pytest.mark.parametrize(
    ("extra", "security"),
    [
        ({}, "tls"),  # the SMTP provider's default: implicit TLS
        ({"disable_ssl": True}, "starttls"),
        ({"disable_ssl": True, "disable_tls": True}, "none"),
        ({"disable_ssl": "true", "disable_tls": "True"}, "none"),  # URI-form extras are strings
        ({"disable_ssl": "false"}, "tls"),
        ({"security": "NONE", "disable_ssl": False}, "none"),  # explicit wins
    ],
)
def test_smtp_security_follows_the_provider_flags(extra: dict[str, object], security: str) -> None:
    env = env_from_connections(None, {"host": "m", "extra": extra}, {})
    assert env["NEWSMON_SMTP_SECURITY"] == security


@pytest.mark.parametrize(
    ("es", "smtp", "needle"),
    [
        (None, {"host": "m", "extra": {"security": "ssl3"}}, "extra security"),
        (None, {"host": "m", "extra": {"disable_tls": "maybe"}}, "disable_tls"),
        ({"host": "es", "schema": "", "extra": {"scheme": "ftp"}}, None, "scheme"),
        ({"host": "es", "extra": ["not", "a", "dict"]}, None, "extra must be a JSON object"),
    ],
)
def test_bad_connections_fail_in_one_line(
    es: dict[str, object] | None, smtp: dict[str, object] | None, needle: str
) -> None:
    with pytest.raises(ConfigError) as err:
        env_from_connections(es, smtp, {})
    message = str(err.value)
    assert needle in message
    assert "\n" not in message
    assert message.startswith("connection ")


def _config_dir(tmp_path: Path) -> Path:
    return write_config(
        tmp_path / "config",
        feeds=[feed("local", "http://127.0.0.1:8000/feed.xml")],
        topics=False,
    )


def test_settings_for_airflow_reads_real_connections(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Connections given as AIRFLOW_CONN_* JSON reach Settings through Airflow's own lookup."""
    connections = airflow_connections(
        es_url="https://elastic:changeme-please@elasticsearch:9200",
        es_ca_certs="/certs/ca.crt",
        smtp_host="mailpit",
        smtp_port=1025,
    )
    for name, value in connections.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("NEWSMON_INDEX_PREFIX", "airflowtest")
    settings = settings_for_airflow(_config_dir(tmp_path))
    assert settings.es.url == "https://elasticsearch:9200"
    assert (settings.es.username, settings.es.password) == ("elastic", "changeme-please")
    assert settings.es.ca_certs == "/certs/ca.crt"
    assert (settings.smtp.host, settings.smtp.port) == ("mailpit", 1025)
    assert settings.smtp.security == "none"
    assert settings.smtp.mail_from == "newsmon@example.org"
    assert settings.index_prefix == "airflowtest"
    assert [f.id for f in settings.feeds] == ["local"]


def test_settings_for_airflow_falls_back_to_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_ELASTICSEARCH_DEFAULT", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_SMTP_DEFAULT", raising=False)
    monkeypatch.setenv("NEWSMON_ES_URL", "http://127.0.0.1:9299")
    monkeypatch.setenv("NEWSMON_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("NEWSMON_SMTP_SECURITY", "none")
    settings = settings_for_airflow(_config_dir(tmp_path))
    assert settings.es.url == "http://127.0.0.1:9299"
    assert (settings.smtp.host, settings.smtp.port, settings.smtp.security) == (
        "127.0.0.1",
        25,
        "none",
    )
