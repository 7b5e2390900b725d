"""Map Airflow Connections onto newsmon settings.

Inside Airflow the services are configured as Connections (``elasticsearch_default``,
``smtp_default``), usually given as ``AIRFLOW_CONN_*`` JSON environment variables. This module
turns them into the same ``NEWSMON_*`` variables the command line reads, so the DAGs and
``newsmon run --once`` share one settings path. Airflow is imported only inside
:func:`settings_for_airflow`, so the rest of newsmon never needs it installed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from monitor.config import ConfigError, Settings, load_settings

ES_CONN_ID = "elasticsearch_default"
SMTP_CONN_ID = "smtp_default"

# A connection, when present, is authoritative for its service: variables it does not set are
# dropped rather than inherited, so a password meant for one host never reaches another.
_ES_KEYS = (
    "NEWSMON_ES_URL",
    "NEWSMON_ES_API_KEY",
    "NEWSMON_ES_USERNAME",
    "NEWSMON_ES_PASSWORD",
    "NEWSMON_ES_CA_CERTS",
)
# NEWSMON_MAIL_FROM is left out on purpose: the sender is an identity, not part of the server,
# so it is kept from the environment when the connection has no ``from_email`` extra.
_SMTP_KEYS = (
    "NEWSMON_SMTP_HOST",
    "NEWSMON_SMTP_PORT",
    "NEWSMON_SMTP_USERNAME",
    "NEWSMON_SMTP_PASSWORD",
    "NEWSMON_SMTP_SECURITY",
)
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _flag(conn_id: str, extra: Mapping[str, Any], key: str, default: bool) -> bool:
    # URI-form connections carry extras as strings, so "false" must not count as true.
    value = extra.get(key)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"connection {conn_id}: extra {key}: {value!r} is not a boolean")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _extra(conn_id: str, conn: Mapping[str, Any]) -> Mapping[str, Any]:
    extra = conn.get("extra") or {}
    if not isinstance(extra, Mapping):
        raise ConfigError(f"connection {conn_id}: extra must be a JSON object")
    return extra


def _es_url(conn: Mapping[str, Any], extra: Mapping[str, Any]) -> str:
    host = _text(conn.get("host")) or "localhost"
    if host.startswith(("http://", "https://")):
        # A full URL in the host field is common in the UI; take it as given.
        base = host.rstrip("/")
        port = conn.get("port")
        return f"{base}:{port}" if port and base.count(":") == 1 else base
    schema = (_text(conn.get("schema")) or "").lower()
    if schema in ("http", "https"):
        scheme = schema
    elif _text(extra.get("scheme")):
        scheme = str(extra["scheme"]).strip().lower()
    else:
        scheme = "https" if _flag(ES_CONN_ID, extra, "use_ssl", False) else "http"
    if scheme not in ("http", "https"):
        raise ConfigError(f"connection {ES_CONN_ID}: scheme {scheme!r} is not http or https")
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # bare IPv6 literal
    port = conn.get("port") or 9200
    return f"{scheme}://{host}:{port}"


def _smtp_security(extra: Mapping[str, Any]) -> str:
    explicit = _text(extra.get("security"))
    if explicit:
        security = explicit.lower()
        if security not in ("starttls", "tls", "none"):
            raise ConfigError(
                f"connection {SMTP_CONN_ID}: extra security: {explicit!r} is not one of "
                "starttls, tls, none"
            )
        return security
    # Same defaults as the SMTP provider's SmtpHook (implicit TLS unless disable_ssl, then
    # STARTTLS unless disable_tls), so one connection behaves alike for Airflow's failure
    # e-mails and newsmon's alerts.
    disable_ssl = _flag(SMTP_CONN_ID, extra, "disable_ssl", False)
    disable_tls = _flag(SMTP_CONN_ID, extra, "disable_tls", False)
    if not disable_ssl:
        return "tls"
    return "none" if disable_tls else "starttls"


def env_from_connections(
    es: Mapping[str, Any] | None,
    smtp: Mapping[str, Any] | None,
    base_env: Mapping[str, str],
) -> dict[str, str]:
    """NEWSMON_* environment from connection dicts (host, port, schema, login, password, extra).

    ``None`` for a connection keeps ``base_env``'s variables for that service.
    """
    env = dict(base_env)
    if es is not None:
        extra = _extra(ES_CONN_ID, es)
        for key in _ES_KEYS:
            env.pop(key, None)
        env["NEWSMON_ES_URL"] = _es_url(es, extra)
        api_key = _text(extra.get("api_key"))
        if api_key:
            env["NEWSMON_ES_API_KEY"] = api_key
        login, password = _text(es.get("login")), _text(es.get("password"))
        if login:
            env["NEWSMON_ES_USERNAME"] = login
        if password:
            env["NEWSMON_ES_PASSWORD"] = password
        ca_certs = _text(extra.get("ca_certs"))
        if ca_certs:
            env["NEWSMON_ES_CA_CERTS"] = ca_certs
    if smtp is not None:
        extra = _extra(SMTP_CONN_ID, smtp)
        for key in _SMTP_KEYS:
            env.pop(key, None)
        env["NEWSMON_SMTP_HOST"] = _text(smtp.get("host")) or "localhost"
        env["NEWSMON_SMTP_SECURITY"] = _smtp_security(extra)
        if smtp.get("port"):
            env["NEWSMON_SMTP_PORT"] = str(smtp["port"])
        login, password = _text(smtp.get("login")), _text(smtp.get("password"))
        if login:
            env["NEWSMON_SMTP_USERNAME"] = login
        if password:
            env["NEWSMON_SMTP_PASSWORD"] = password
        from_email = _text(extra.get("from_email"))
        if from_email:
            env["NEWSMON_MAIL_FROM"] = from_email
    return env


def connection_dict(conn_id: str) -> dict[str, Any] | None:
    """The Airflow Connection ``conn_id`` as a plain dict, or None when it is not defined."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return None
    return {
        "conn_type": conn.conn_type,
        "host": conn.host,
        "port": conn.port,
        "schema": conn.schema,
        "login": conn.login,
        "password": conn.password,
        "extra": conn.extra_dejson,
    }


def settings_for_airflow(config_dir: str | Path | None = None) -> Settings:
    """Settings for a task: Airflow Connections over the NEWSMON_* environment."""
    env = env_from_connections(
        connection_dict(ES_CONN_ID), connection_dict(SMTP_CONN_ID), os.environ
    )
    return load_settings(config_dir, env=env)


# ---- shared DAG defaults ---------------------------------------------------------------
# Kept here rather than in a module under dags/: a plain DagBag does not put the DAG folder on
# sys.path, so DAG files can only share code that is installed, like this package.

DEFAULT_ARGS: dict[str, Any] = {
    "owner": "newsmon",
    "retries": 3,
    "retry_delay": timedelta(seconds=20),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=4),
    "execution_timeout": timedelta(minutes=10),
}

FAILURE_SUBJECT = "[newsmon] {{ dag.dag_id }} failed ({{ run_id }})"
FAILURE_HTML = (
    "<p>newsmon DAG <b>{{ dag.dag_id }}</b>, run <code>{{ run_id }}</code>, failed"
    "{% if reason %}: {{ reason }}{% endif %}.</p>"
    "{% if ti is defined %}<p>Last task: {{ ti.task_id }}, try {{ ti.try_number }}. "
    '<a href="{{ ti.log_url }}">Log</a></p>{% endif %}'
)


def ops_email_template(env: Mapping[str, str] | None = None) -> str:
    """Jinja for the ops address: the Variable ``newsmon_ops_email``, else NEWSMON_OPS_EMAIL.

    Resolved when the callback fires, not at parse time, so the Variable is read from Airflow's
    store only on failure; the environment value is the fallback (and the only source when the
    DAG processor runs a callback with a minimal context that has no ``var``).
    """
    fallback = (os.environ if env is None else env).get("NEWSMON_OPS_EMAIL", "").replace("'", "")
    return (
        f"{{{{ var.value.get('newsmon_ops_email', '{fallback}') if var is defined "
        f"else '{fallback}' }}}}"
    )


def failure_notifier() -> Any:
    """The DAG-level failure e-mail (Airflow's SmtpNotifier on the ``smtp_default`` connection)."""
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    return SmtpNotifier(to=ops_email_template(), subject=FAILURE_SUBJECT, html_content=FAILURE_HTML)
