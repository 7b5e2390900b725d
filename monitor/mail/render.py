"""Render alert e-mails: Jinja2 templates to an HTML part (CSS inlined) and a plain-text part.

Every text block carries ``dir="auto"`` and its story's ``lang`` so Arabic and Hebrew read
right to left with their punctuation in place; times are shown in the subscriber's zone with
babel; topic ids become the labels of topics.yaml; matched terms are marked from the
Elasticsearch highlight. The Message-ID is derived from the ledger's delivery id, so even a
message that somehow went out twice would be collapsed by most mail clients.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr
from zoneinfo import ZoneInfo

import css_inline
from babel.dates import format_datetime as babel_datetime
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from monitor.alerts import PlannedMail, StoryHit
from monitor.clock import utcnow
from monitor.config import SmtpSettings
from monitor.mail.headers import POLICY, from_header, list_id, list_unsubscribe
from monitor.models import HIGHLIGHT_END, HIGHLIGHT_START, Delivery

__all__ = ["operator_mail", "render", "render_notice", "render_test", "subject_for"]

_env = Environment(
    loader=PackageLoader("monitor", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default=False),
    trim_blocks=True,
    lstrip_blocks=True,
)
# Many mail clients drop <style> blocks, so styles are inlined onto the elements.
_inliner = css_inline.CSSInliner(keep_style_tags=False)
_SUBJECT_MAX = 180
_SNIPPET_MAX = 320


def _marked_html(text: str) -> Markup:
    """Escaped text with the highlighted terms in <mark>."""
    safe = str(escape(text))
    return Markup(safe.replace(HIGHLIGHT_START, "<mark>").replace(HIGHLIGHT_END, "</mark>"))


def _plain(text: str) -> str:
    return text.replace(HIGHLIGHT_START, "").replace(HIGHLIGHT_END, "")


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut + " …"


def _when(value: str | datetime | None, tz: str, locale: str = "en_GB") -> str:
    """'1 Jan 2027, 02:47 (Europe/Istanbul)': human, in the subscriber's zone."""
    if value is None:
        return ""
    dt = datetime.fromisoformat(value) if isinstance(value, str) else value
    local = dt.astimezone(ZoneInfo(tz))
    return f"{babel_datetime(local, 'd MMM y, HH:mm', locale=locale)} ({tz})"


_env.filters["marked"] = _marked_html
_env.filters["plain"] = _plain


def subject_for(mail: PlannedMail) -> str:
    if mail.mode == "digest":
        n = len(mail.stories)
        return f"[newsmon] {mail.rule.name} digest: {n} {'event' if n == 1 else 'events'}"
    if mail.mode == "overflow":
        return f"[newsmon] {mail.rule.name}: {mail.more} more matches not sent one by one"
    return _shorten(f"[newsmon] {mail.rule.name}: {mail.stories[0].title}", _SUBJECT_MAX)


def _story_view(h: StoryHit, tz: str, labels: Mapping[str, str]) -> dict[str, object]:
    title = h.highlight.get("title") or h.title
    snippet = h.highlight.get("summary") or h.summary
    others = [r for r in h.reports if r.url != h.url]
    return {
        "hit": h,
        "title": title,
        "snippet": _shorten(snippet, _SNIPPET_MAX),
        "when": _when(h.published, tz),
        "topics": [labels.get(t, t) for t in h.topics],
        "languages": h.languages,
        "others": others,
        # Outlets known only by name (the cluster's count on its primary): listed unlinked.
        "unlinked": [o for o in h.also_reported_by if o not in {r.outlet for r in others}],
    }


def _contact(mail_from: str, contact: str | None) -> str:
    return parseaddr(contact or mail_from)[1] or mail_from


def render(
    mail: PlannedMail,
    mail_from: str,
    *,
    now: datetime | None = None,
    labels: Mapping[str, str] | None = None,
    contact: str | None = None,
    search_link: str | None = None,
) -> EmailMessage:
    """A multipart/alternative message (text first, inlined HTML second).

    `labels` maps topic ids to their names (topics.yaml); `contact` is who removes a rule on
    request (the operator; the sender when unset); `search_link` is where the matches beyond
    an over-cap e-mail can be seen (a Kibana URL or a `newsmon search` command line).
    """
    now = now or utcnow()
    tz = mail.subscriber.timezone
    who = _contact(mail_from, contact)
    ctx = {
        "mode": mail.mode,
        "rule": mail.rule,
        "subscriber": mail.subscriber,
        "stories": [_story_view(h, tz, labels or {}) for h in mail.stories],
        "period": mail.period,
        "window": [_when(t, tz) for t in mail.window] if mail.window else None,
        "more": mail.more,
        "search_link": search_link or mail.link,
        "contact": who,
        "unsubscribe": list_unsubscribe(who, mail.rule.name, mail.subscriber.email)[1:-1],
    }
    text = _env.get_template("alert.txt.j2").render(ctx)
    html = _inliner.inline(_env.get_template("alert.html.j2").render(ctx))
    msg = EmailMessage(policy=POLICY)
    msg["Subject"] = subject_for(mail)
    msg["From"] = from_header(mail_from)
    msg["To"] = formataddr((mail.subscriber.name, mail.subscriber.email))
    msg["Date"] = format_datetime(now.astimezone(UTC), usegmt=True)
    domain = parseaddr(mail_from)[1].rpartition("@")[2] or "newsmon.local"
    msg["Message-ID"] = f"<{mail.delivery_id}@{domain}>"
    msg["List-Id"] = list_id(mail.rule.name, mail.subscriber.email, mail_from)
    msg["List-Unsubscribe"] = list_unsubscribe(who, mail.rule.name, mail.subscriber.email)
    msg["X-Newsmon-Delivery"] = mail.delivery_id
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    return msg


def render_notice(
    d: Delivery,
    tries: int,
    error: str,
    operator: str,
    smtp: SmtpSettings,
    *,
    kind: str = "given_up",
) -> EmailMessage:
    """The one message to the operator when a delivery is given up (`kind` "given_up") or
    its fate is unknown (`kind` "ambiguous": sent, answer lost)."""
    msg = EmailMessage(policy=POLICY)
    what = "delivery given up" if kind == "given_up" else "delivery ambiguous"
    msg["Subject"] = f"[newsmon] {what}: {d.alert} to {d.subscriber}"
    msg["From"] = from_header(smtp.mail_from)
    msg["To"] = operator
    msg["Date"] = format_datetime(d.created_at.astimezone(UTC), usegmt=True)
    domain = parseaddr(smtp.mail_from)[1].rpartition("@")[2] or "newsmon.local"
    prefix = "notice" if kind == "given_up" else kind
    msg["Message-ID"] = f"<{prefix}-{d.id}@{domain}>"
    if kind == "given_up":
        body = (
            f"newsmon gave up the {d.mode} alert {d.alert!r} to {d.subscriber}\n"
            f"after {tries} failed sends. Last error:\n\n  {error}\n\n"
            f"Delivery id: {d.id}\n"
            "Later runs skip it: check the address and the SMTP server's answer above.\n"
        )
    else:
        body = (
            f"newsmon sent the {d.mode} alert {d.alert!r} to {d.subscriber}, but the SMTP\n"
            f"server's answer never came:\n\n  {error}\n\n"
            f"Delivery id: {d.id} (Message-ID <{d.id}@{domain}>)\n"
            "The server may or may not have accepted it, so newsmon does not send it again.\n"
            "Search the SMTP server's log for the Message-ID; if it is not there, resend with\n"
            "NEWSMON_RESEND_AMBIGUOUS=true (see docs/operations.md).\n"
        )
    msg.set_content(body)
    return msg


def operator_mail(
    subject: str, body: str, key: str, now: datetime, operator: str, smtp: SmtpSettings
) -> EmailMessage:
    """A plain-text message to the operator; `key` (its ledger id) names its Message-ID, so a
    resend after an ambiguous SMTP answer is recognisably the same message."""
    msg = EmailMessage(policy=POLICY)
    msg["Subject"] = subject
    msg["From"] = from_header(smtp.mail_from)
    msg["To"] = operator
    msg["Date"] = format_datetime(now.astimezone(UTC), usegmt=True)
    domain = parseaddr(smtp.mail_from)[1].rpartition("@")[2] or "newsmon.local"
    msg["Message-ID"] = f"<{key}@{domain}>"
    msg.set_content(body)
    return msg


def render_watchdog(
    kind: str,
    marker: str,
    last_indexed: datetime,
    now: datetime,
    stale_hours: int,
    operator: str,
    smtp: SmtpSettings,
) -> EmailMessage:
    """The dead man's switch: `kind` "stale" (nothing indexed for `stale_hours`) or "resumed"."""
    when = f"{last_indexed.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    if kind == "stale":
        subject = f"[newsmon] no story indexed since {when}"
        body = (
            f"newsmon has indexed no story for {stale_hours} hours or more: the last one was\n"
            f"indexed at {when}.\n\n"
            "Check that the poll DAG runs, `newsmon feeds health`, and that Elasticsearch\n"
            "accepts writes (see docs/operations.md). You get one more message when\n"
            "stories are indexed again.\n"
        )
    else:
        subject = f"[newsmon] indexing resumed ({when})"
        body = f"newsmon is indexing stories again: the newest was indexed at {when}.\n"
    return operator_mail(subject, body, marker, now, operator, smtp)


def render_test(address: str, smtp: SmtpSettings, now: datetime) -> EmailMessage:
    """`newsmon mail test`: a short message that proves the SMTP settings work."""
    msg = EmailMessage(policy=POLICY)
    msg["Subject"] = "[newsmon] test message"
    msg["From"] = from_header(smtp.mail_from)
    msg["To"] = address
    msg["Date"] = format_datetime(now.astimezone(UTC), usegmt=True)
    msg.set_content(
        f"This is a test message from newsmon, sent through {smtp.host}:{smtp.port} "
        f"({smtp.security}).\nIf you read it, alerts can reach {address}.\n"
    )
    return msg
