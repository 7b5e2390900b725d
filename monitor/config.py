"""Load and validate configuration: YAML files in the config directory plus NEWSMON_* environment.

Errors are one line naming file and key: ``config/feeds.yaml: feeds[2].url: not an http(s) URL``.
Secrets (passwords, API keys) come only from the environment, never from YAML.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

_M = TypeVar("_M", bound=BaseModel)
_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class ConfigError(ValueError):
    """A configuration problem, phrased as one line naming the file and key."""


def parse_duration(value: str | int) -> int:
    """'10m' -> 600 seconds; plain integers are seconds."""
    if isinstance(value, int):
        return value
    m = _DURATION.match(value)
    if not m:
        raise ValueError(f"{value!r} is not a duration like 30s, 10m, 2h or 1d")
    return int(m.group(1)) * _UNIT_SECONDS[m.group(2)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeedConfig(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    url: str
    name: str
    language: str | None = None
    interval: int | None = None  # seconds; None = settings default
    enabled: bool = True
    fulltext: bool = False  # index each new story's article page text as `content` (README)

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        if not re.match(r"^https?://[^\s/]+", v):
            raise ValueError("not an http(s) URL")
        return v

    @field_validator("interval", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> Any:
        return None if v is None else parse_duration(v)


class FeedsFile(_Strict):
    default_interval: int = 600
    feeds: list[FeedConfig]

    @field_validator("default_interval", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> Any:
        return parse_duration(v)

    @field_validator("feeds")
    @classmethod
    def _unique(cls, v: list[FeedConfig]) -> list[FeedConfig]:
        seen: set[str] = set()
        for f in v:
            if f.id in seen:
                raise ValueError(f"duplicate feed id {f.id!r}")
            seen.add(f.id)
        return v


_DIGEST = re.compile(r"^(daily|weekdays)\s+([01]\d|2[0-3]):([0-5]\d)$|^hourly$")


def _one_line_name(v: str) -> str:
    # Names go into e-mail headers (To, List-Id): a CR/LF there is a header injection.
    if any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in v):
        raise ValueError("must be one line with no control characters")
    return v


class AlertRule(_Strict):
    name: str
    query: str
    mode: Literal["instant", "digest"] = "instant"
    digest: str | None = None  # "daily 07:00", "weekdays 08:30", "hourly"
    # Instant e-mails per run for this rule before the rest go as one "N more" (NEWSMON_ALERT_CAP).
    max_per_run: int | None = Field(default=None, ge=1)

    _name = field_validator("name")(_one_line_name)

    @field_validator("digest")
    @classmethod
    def _digest(cls, v: str | None) -> str | None:
        if v is not None and not _DIGEST.match(v.strip()):
            raise ValueError("digest must look like 'daily 07:00', 'weekdays 08:30' or 'hourly'")
        return v.strip() if v else v


class Subscriber(_Strict):
    email: str
    name: str = ""
    timezone: str = "UTC"
    alerts: list[AlertRule] = Field(default_factory=list)

    _name = field_validator("name")(_one_line_name)

    @field_validator("email")
    @classmethod
    def _email(cls, v: str) -> str:
        from email_validator import EmailNotValidError, validate_email

        try:
            return validate_email(v, check_deliverability=False).normalized
        except EmailNotValidError as e:
            raise ValueError(str(e)) from None

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {v!r} (use an IANA name such as Europe/Istanbul)"
            ) from None
        return v


class SubscribersFile(_Strict):
    subscribers: list[Subscriber] = Field(default_factory=list)


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


def topic_labels(path: Path) -> dict[str, str]:
    """Topic id -> its `name` in topics.yaml, for e-mails; {} when the file is missing or odd
    (an e-mail then shows the ids; the tagger reports a broken file itself)."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return {}
    topics = raw.get("topics") if isinstance(raw, dict) else None
    if not isinstance(topics, dict):
        return {}
    return {
        str(k): str(v["name"])
        for k, v in topics.items()
        if isinstance(v, dict) and isinstance(v.get("name"), str)
    }


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    try:
        return yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "?"
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{path}: {where}: invalid YAML: {problem}") from None


def _validate(model: type[_M], path: Path, data: Any) -> _M:
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    try:
        return model.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        msg = str(err["msg"]).removeprefix("Value error, ")
        more = f" (and {e.error_count() - 1} more)" if e.error_count() > 1 else ""
        raise ConfigError(f"{path}: {_loc(tuple(err['loc']))}: {msg}{more}") from None


def _all_errors(model: type[_M], path: Path, data: Any) -> tuple[_M | None, list[str]]:
    """Like `_validate`, but every problem, one line each."""
    if not isinstance(data, dict):
        return None, [f"{path}: expected a mapping at the top level"]
    try:
        return model.model_validate(data), []
    except ValidationError as e:
        return None, [
            f"{path}: {_loc(tuple(err['loc']))}: {str(err['msg']).removeprefix('Value error, ')}"
            for err in e.errors()
        ]


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
            data = _read_yaml(path)
        except ConfigError as e:
            out.problems.append(str(e))
            continue
        parsed, errors = _all_errors(model, path, data)
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
        port = _int(env, "NEWSMON_SMTP_PORT", 25)
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


def _bool(env: Mapping[str, str], key: str, default: bool) -> bool:
    raw = env.get(key)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"environment: {key}: {raw!r} is not a boolean (use true or false)")


def _int(env: Mapping[str, str], key: str, default: int) -> int:
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
        timeout=float(max(1, _int(env, "NEWSMON_ES_TIMEOUT", 30))),
    )
    security = (env.get("NEWSMON_SMTP_SECURITY") or "starttls").lower()
    if security not in ("starttls", "tls", "none"):
        raise ConfigError(
            f"environment: NEWSMON_SMTP_SECURITY: {security!r} is not one of starttls, tls, none"
        )
    default_port = {"starttls": 587, "tls": 465, "none": 25}[security]
    smtp = SmtpSettings(
        host=env.get("NEWSMON_SMTP_HOST") or "localhost",
        port=_int(env, "NEWSMON_SMTP_PORT", default_port),
        username=env.get("NEWSMON_SMTP_USERNAME") or None,
        password=env.get("NEWSMON_SMTP_PASSWORD") or None,
        security=security,  # type: ignore[arg-type]
        mail_from=env.get("NEWSMON_MAIL_FROM") or "newsmon@localhost",
        timeout=float(max(1, _int(env, "NEWSMON_SMTP_TIMEOUT", 30))),
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
    feeds = _validate(FeedsFile, feeds_path, _read_yaml(feeds_path))
    subs_path = cdir / "subscribers.yaml"
    # No subscribers file is a valid set-up: newsmon then only indexes.
    subs = (
        _validate(SubscribersFile, subs_path, _read_yaml(subs_path))
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
        fetch_timeout=float(_int(env, "NEWSMON_FETCH_TIMEOUT", 20)),
        fetch_concurrency=_int(env, "NEWSMON_FETCH_CONCURRENCY", 64),
        dedupe_window_days=_int(env, "NEWSMON_DEDUPE_WINDOW_DAYS", 7),
        retention_months=_int(env, "NEWSMON_RETENTION_MONTHS", 24),
        kibana_url=env.get("NEWSMON_KIBANA_URL") or None,
        kibana_public_url=env.get("NEWSMON_KIBANA_PUBLIC_URL") or None,
        max_send_attempts=max(1, _int(env, "NEWSMON_MAX_SEND_ATTEMPTS", 5)),
        operator_email=env.get("NEWSMON_OPERATOR_EMAIL") or None,
        max_entries_per_feed=max(1, _int(env, "NEWSMON_MAX_ENTRIES_PER_FEED", 1000)),
        alert_cap=max(1, _int(env, "NEWSMON_ALERT_CAP", 200)),
        resend_ambiguous=_bool(env, "NEWSMON_RESEND_AMBIGUOUS", False),
        claim_expiry_minutes=max(1, _int(env, "NEWSMON_CLAIM_EXPIRY_MINUTES", 30)),
        stale_hours=max(1, _int(env, "NEWSMON_STALE_HOURS", 6)),
        max_interval=_duration_env(env, "NEWSMON_MAX_INTERVAL", 86400),
        unconditional_every=max(1, _int(env, "NEWSMON_UNCONDITIONAL_EVERY", 10)),
        dead_after=max(1, _int(env, "NEWSMON_DEAD_AFTER", 10)),
        dead_probe=_duration_env(env, "NEWSMON_DEAD_PROBE", 86400),
        fulltext_host_delay=max(0, _int(env, "NEWSMON_FULLTEXT_HOST_DELAY_MS", 1000)) / 1000,
    )
