"""The operator's e-mail when a feed turns dead, is gone (410), or comes back."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage

from monitor.config import SmtpSettings
from monitor.mail.render import operator_mail
from monitor.models import FeedState

__all__ = ["render_feed_notice"]


def _when(dt: datetime | None) -> str:
    return f"{dt.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if dt else "an unknown time"


def render_feed_notice(
    kind: str,
    notice_id: str,
    st: FeedState,
    now: datetime,
    operator: str,
    smtp: SmtpSettings,
) -> EmailMessage:
    """`kind` "dead" (failed too often in a row), "gone" (410) or "revived"."""
    polled = st.effective_url or st.url
    if kind == "revived":
        subject = f"[newsmon] feed {st.feed_id} is back"
        body = (
            f"The feed {st.feed_id} ({polled}) answered again at {_when(now)}, after failing\n"
            f"since {_when(st.revived_from)}. It is polled on its normal schedule again.\n"
        )
    elif kind == "gone":
        subject = f"[newsmon] feed {st.feed_id} is gone (HTTP 410)"
        body = (
            f"The server of the feed {st.feed_id} ({polled}) answered 410 Gone at {_when(now)}.\n"
            "newsmon no longer polls it. Give the feed a new url in feeds.yaml (its state\n"
            'starts over), or remove it; see the README, "Feed scheduling and health".\n'
        )
    else:
        subject = f"[newsmon] feed {st.feed_id} is dead"
        body = (
            f"The feed {st.feed_id} ({polled}) failed {st.consecutive_failures} polls in a row,\n"
            f"since {_when(st.failing_since)}. Last error ({st.error_class}):\n\n"
            f"  {st.last_error}\n\n"
            "newsmon now probes it slowly (NEWSMON_DEAD_PROBE, a day by default) and\n"
            "resumes by itself when it answers; you get one more message then.\n"
            "`newsmon feeds` shows every feed's state.\n"
        )
    return operator_mail(subject, body, notice_id, now, operator, smtp)
