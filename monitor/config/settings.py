"""Settings: the configuration directory's files plus the NEWSMON_* environment, validated."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from monitor.config.files import ConfigError, parse_duration, read_yaml, validate
from monitor.config.models import FeedConfig, FeedsFile, Subscriber, SubscribersFile

__all__ = [
    "ElasticsearchSettings",
    "Settings",
    "SmtpSettings",
    "env_int",
    "load_settings",
    "settings_from_env",
]


@dataclass(frozen=True)
class ElasticsearchSettings:
    url: str = "http://localhost:9200"
    api_key: str | None = None
    username: str | None = None
    password: str | None = None
    ca_certs: str | None = None
    # Seconds one request may take before the client retries it (every write is idempotent).
    timeout: float = 30.0


@dataclass(frozen=True)
class SmtpSettings:
    host: str = "localhost"
    port: int = 587
    username: str | None = None
    password: str | None = None
    security: Literal["starttls", "tls", "none"] = "starttls"
    mail_from: str = "newsmon@localhost"
    # Seconds one SMTP step (connect, each command, the reply to the message) may take.
    timeout: float = 30.0


@dataclass(frozen=True)
class Settings:
    config_dir: Path
    es: ElasticsearchSettings
    smtp: SmtpSettings
    index_prefix: str = "newsmon"
    allow_private_feeds: bool = False
    feeds: list[FeedConfig] = field(default_factory=list)
    default_interval: int = 600
    subscribers: list[Subscriber] = field(default_factory=list)
    fetch_timeout: float = 20.0
    fetch_concurrency: int = 64  # measured (README, Performance): 32 leaves a 304 poll waiting
    dedupe_window_days: int = 7
    retention_months: int = 24
    kibana_url: str | None = None
    # Where people reach Kibana (links in `newsmon search`), when not kibana_url itself.
    kibana_public_url: str | None = None
    # A delivery whose send failed this many times is given up (and the operator told once).
    max_send_attempts: int = 5
    operator_email: str | None = None
    # Entries read from one feed body; the rest are reported (a 100,000-entry feed is an attack
    # or a broken export, not news).
    max_entries_per_feed: int = 1000
    # Instant e-mails per rule and run before the rest are announced in one "N more" e-mail.
    alert_cap: int = 200
    # An e-mail whose message reached the SMTP server but whose answer was lost (dropped
    # connection, timeout) may or may not have been accepted: resend it (same Message-ID) or
    # leave it for the operator (the default: never two copies).
    resend_ambiguous: bool = False
    # A claim whose run died before it started the SMTP send is taken over after this long.
    claim_expiry_minutes: int = 30
    # The operator is told once when no story has been indexed for this long (dead man's switch).
    stale_hours: int = 6
    # Feed scheduling and health (README, "Feed scheduling and health"): the longest wait a
    # server's <ttl>, max-age or Retry-After can impose (seconds); every N-th poll of a feed
    # skips the validators; failures in a row that make a feed dead; how often a dead feed is
    # probed (seconds).
    max_interval: int = 86400
    unconditional_every: int = 10
    dead_after: int = 10
    dead_probe: int = 86400
    fulltext_host_delay: float = 1.0  # seconds between article-page requests to one host

    @property
    def topics_path(self) -> Path:
        return self.config_dir / "topics.yaml"

    def feed(self, feed_id: str) -> FeedConfig:
        for f in self.feeds:
            if f.id == feed_id:
                return f
        raise ConfigError(f"{self.config_dir / 'feeds.yaml'}: no feed with id {feed_id!r}")


def _bool(env: Mapping[str, str], key: str, default: bool) -> bool:
    raw = env.get(key)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"environment: {key}: {raw!r} is not a boolean (use true or false)")


def env_int(env: Mapping[str, str], key: str, default: int) -> int:
    raw = env.get(key)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"environment: {key}: {raw!r} is not a whole number") from None


def _duration_env(env: Mapping[str, str], key: str, default: int) -> int:
    raw = env.get(key)
    if not raw:
        return default
    try:
        return max(1, parse_duration(int(raw) if raw.strip().isdigit() else raw))
    except ValueError as e:
        raise ConfigError(f"environment: {key}: {e}") from None


def settings_from_env(
    env: Mapping[str, str] | None = None,
) -> tuple[ElasticsearchSettings, SmtpSettings]:
    """The service settings (Elasticsearch, SMTP) from NEWSMON_* variables."""
    env = os.environ if env is None else env
    es = ElasticsearchSettings(
        url=env.get("NEWSMON_ES_URL") or "http://localhost:9200",
        api_key=env.get("NEWSMON_ES_API_KEY") or None,
        username=env.get("NEWSMON_ES_USERNAME") or None,
        password=env.get("NEWSMON_ES_PASSWORD") or None,
        ca_certs=env.get("NEWSMON_ES_CA_CERTS") or None,
        timeout=float(max(1, env_int(env, "NEWSMON_ES_TIMEOUT", 30))),
    )
    security = (env.get("NEWSMON_SMTP_SECURITY") or "starttls").lower()
    if security not in ("starttls", "tls", "none"):
        raise ConfigError(
            f"environment: NEWSMON_SMTP_SECURITY: {security!r} is not one of starttls, tls, none"
        )
    default_port = {"starttls": 587, "tls": 465, "none": 25}[security]
    smtp = SmtpSettings(
        host=env.get("NEWSMON_SMTP_HOST") or "localhost",
        port=env_int(env, "NEWSMON_SMTP_PORT", default_port),
        username=env.get("NEWSMON_SMTP_USERNAME") or None,
        password=env.get("NEWSMON_SMTP_PASSWORD") or None,
        security=security,  # type: ignore[arg-type]
        mail_from=env.get("NEWSMON_MAIL_FROM") or "newsmon@localhost",
        timeout=float(max(1, env_int(env, "NEWSMON_SMTP_TIMEOUT", 30))),
    )
    return es, smtp


def load_settings(
    config_dir: str | Path | None = None, env: Mapping[str, str] | None = None
) -> Settings:
    """Read the config directory and environment into validated Settings, or raise ConfigError."""
    env = os.environ if env is None else env
    cdir = Path(config_dir or env.get("NEWSMON_CONFIG_DIR") or "./config")
    if not cdir.is_dir():
        raise ConfigError(f"{cdir}: configuration directory not found (set NEWSMON_CONFIG_DIR)")
    feeds_path = cdir / "feeds.yaml"
    feeds = validate(FeedsFile, feeds_path, read_yaml(feeds_path))
    subs_path = cdir / "subscribers.yaml"
    # No subscribers file is a valid set-up: newsmon then only indexes.
    subs = (
        validate(SubscribersFile, subs_path, read_yaml(subs_path))
        if subs_path.exists()
        else SubscribersFile()
    )
    prefix = env.get("NEWSMON_INDEX_PREFIX") or "newsmon"
    if not re.match(r"^[a-z0-9][a-z0-9_-]*$", prefix):
        raise ConfigError(
            f"environment: NEWSMON_INDEX_PREFIX: {prefix!r} must be lower-case letters, "
            "digits, - or _"
        )
    es, smtp = settings_from_env(env)
    return Settings(
        config_dir=cdir,
        es=es,
        smtp=smtp,
        index_prefix=prefix,
        allow_private_feeds=_bool(env, "NEWSMON_ALLOW_PRIVATE_FEEDS", False),
        feeds=list(feeds.feeds),
        default_interval=feeds.default_interval,
        subscribers=list(subs.subscribers),
        fetch_timeout=float(env_int(env, "NEWSMON_FETCH_TIMEOUT", 20)),
        fetch_concurrency=env_int(env, "NEWSMON_FETCH_CONCURRENCY", 64),
        dedupe_window_days=env_int(env, "NEWSMON_DEDUPE_WINDOW_DAYS", 7),
        retention_months=env_int(env, "NEWSMON_RETENTION_MONTHS", 24),
        kibana_url=env.get("NEWSMON_KIBANA_URL") or None,
        kibana_public_url=env.get("NEWSMON_KIBANA_PUBLIC_URL") or None,
        max_send_attempts=max(1, env_int(env, "NEWSMON_MAX_SEND_ATTEMPTS", 5)),
        operator_email=env.get("NEWSMON_OPERATOR_EMAIL") or None,
        max_entries_per_feed=max(1, env_int(env, "NEWSMON_MAX_ENTRIES_PER_FEED", 1000)),
        alert_cap=max(1, env_int(env, "NEWSMON_ALERT_CAP", 200)),
        resend_ambiguous=_bool(env, "NEWSMON_RESEND_AMBIGUOUS", False),
        claim_expiry_minutes=max(1, env_int(env, "NEWSMON_CLAIM_EXPIRY_MINUTES", 30)),
        stale_hours=max(1, env_int(env, "NEWSMON_STALE_HOURS", 6)),
        max_interval=_duration_env(env, "NEWSMON_MAX_INTERVAL", 86400),
        unconditional_every=max(1, env_int(env, "NEWSMON_UNCONDITIONAL_EVERY", 10)),
        dead_after=max(1, env_int(env, "NEWSMON_DEAD_AFTER", 10)),
        dead_probe=_duration_env(env, "NEWSMON_DEAD_PROBE", 86400),
        fulltext_host_delay=max(0, env_int(env, "NEWSMON_FULLTEXT_HOST_DELAY_MS", 1000)) / 1000,
    )
