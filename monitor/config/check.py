"""`newsmon config check`: every problem of the files and the environment, one line each."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from monitor.config.files import ConfigError, all_errors, read_yaml
from monitor.config.models import FeedsFile, Subscriber, SubscribersFile
from monitor.config.settings import Settings, env_int, load_settings

__all__ = ["ConfigCheck", "address_problem", "check_config", "url_problem"]


def url_problem(url: str) -> str | None:
    """Why `url` is not a usable http(s) service URL, or None (its password never shown)."""
    from urllib.parse import urlsplit

    from monitor.urls import redact_url

    shown = redact_url(url)
    try:
        parts = urlsplit(url.strip())
        port = parts.port  # raises ValueError on a port that is not a number in range
    except ValueError as e:
        return f"{shown!r} is not a valid URL ({e})"
    if parts.scheme not in ("http", "https"):
        return f"{shown!r} is not an http(s) URL"
    if not parts.hostname or " " in url.strip():
        return f"{shown!r} has no host name"
    del port
    return None


def address_problem(value: str) -> str | None:
    """Why `value` ('addr' or 'Name <addr>') is not a valid e-mail address, or None."""
    from email.utils import parseaddr

    from email_validator import EmailNotValidError, validate_email

    addr = parseaddr(value)[1]
    try:
        validate_email(addr or value, check_deliverability=False)
    except EmailNotValidError as e:
        return f"{value!r} is not a valid address: {e}"
    return None


@dataclass
class ConfigCheck:
    """What `newsmon config check` found: every problem, and what could be read."""

    problems: list[str] = field(default_factory=list)
    subscribers: list[Subscriber] = field(default_factory=list)
    subscribers_path: Path | None = None
    settings: Settings | None = None  # when everything loaded


def _valid_subscribers(data: Any) -> list[Subscriber]:
    """The entries of a subscribers file that validate on their own (the others' problems are
    reported by the whole-file validation), so their rules are still checked."""
    entries = data.get("subscribers") if isinstance(data, dict) else None
    out = []
    for entry in entries if isinstance(entries, list) else []:
        try:
            out.append(Subscriber.model_validate(entry))
        except ValidationError:
            continue
    return out


def _check_files(cdir: Path, out: ConfigCheck) -> None:
    for name, model in (("feeds.yaml", FeedsFile), ("subscribers.yaml", SubscribersFile)):
        path = cdir / name
        if name == "subscribers.yaml" and not path.exists():
            continue
        try:
            data = read_yaml(path)
        except ConfigError as e:
            out.problems.append(str(e))
            continue
        parsed, errors = all_errors(model, path, data)
        out.problems += errors
        if name == "subscribers.yaml":
            subs = parsed.subscribers if isinstance(parsed, SubscribersFile) else None
            out.subscribers = list(subs) if subs is not None else _valid_subscribers(data)
            out.subscribers_path = path


def _env_problems(env: Mapping[str, str]) -> list[str]:
    checks: list[tuple[str, str | None]] = []
    for u in (env.get("NEWSMON_ES_URL") or "http://localhost:9200").split(","):
        checks.append(("NEWSMON_ES_URL", url_problem(u) if u.strip() else "empty node URL"))
    if env.get("NEWSMON_KIBANA_URL"):
        checks.append(("NEWSMON_KIBANA_URL", url_problem(env["NEWSMON_KIBANA_URL"])))
    for key in ("NEWSMON_MAIL_FROM", "NEWSMON_OPERATOR_EMAIL"):
        if env.get(key):
            checks.append((key, address_problem(env[key])))
    host = env.get("NEWSMON_SMTP_HOST") or "localhost"
    if not re.match(r"^[A-Za-z0-9.:\[\]_-]+$", host):
        checks.append(("NEWSMON_SMTP_HOST", f"{host!r} is not a host name"))
    problems = [f"environment: {k}: {msg}" for k, msg in checks if msg]
    try:
        port = env_int(env, "NEWSMON_SMTP_PORT", 25)
        if not 0 < port < 65536:
            problems.append(f"environment: NEWSMON_SMTP_PORT: {port} is not a port (1-65535)")
    except ConfigError as e:
        problems.append(str(e))
    return problems


def check_config(
    config_dir: str | Path | None = None, env: Mapping[str, str] | None = None
) -> ConfigCheck:
    """Validate the configuration files and the environment, collecting every problem (one
    line each, naming the file and key or the variable) instead of stopping at the first."""
    env = os.environ if env is None else env
    out = ConfigCheck()
    cdir = Path(config_dir or env.get("NEWSMON_CONFIG_DIR") or "./config")
    if not cdir.is_dir():
        out.problems.append(f"{cdir}: configuration directory not found (set NEWSMON_CONFIG_DIR)")
        return out
    _check_files(cdir, out)
    out.problems += _env_problems(env)
    if out.problems:
        return out
    try:
        out.settings = load_settings(cdir, env)
    except ConfigError as e:  # whatever else the loader checks (prefix, booleans, numbers)
        out.problems.append(str(e))
    return out
