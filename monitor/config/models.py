"""The configuration files' schemas: feeds.yaml and subscribers.yaml (pydantic, strict)."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from monitor.config.files import parse_duration

__all__ = ["AlertRule", "FeedConfig", "FeedsFile", "Subscriber", "SubscribersFile"]


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
