"""Render alert e-mails (Jinja2, HTML + plain text) and send them over SMTP.

The only module that talks to SMTP. The Message-ID is derived from the ledger's delivery id, so
even a message that somehow went out twice would be collapsed by most mail clients.
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formataddr, formatdate

import css_inline
from jinja2 import Environment, PackageLoader, select_autoescape

from monitor.alerts import PlannedMail
from monitor.config import SmtpSettings
from monitor.models import Delivery

_env = Environment(
    loader=PackageLoader("monitor", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default=False),
    trim_blocks=True,
    lstrip_blocks=True,
)
# Many mail clients drop <style> blocks, so styles are inlined onto the elements.
_inliner = css_inline.CSSInliner(keep_style_tags=False)


class MailError(RuntimeError):
    """The SMTP server could not be reached or refused the message (one line)."""


def subject_for(mail: PlannedMail) -> str:
    if mail.mode == "digest":
        n = len(mail.stories)
        return f"[newsmon] {mail.rule.name} digest: {n} {'story' if n == 1 else 'stories'}"
    return f"[newsmon] {mail.rule.name}: {mail.stories[0].title}"[:200]


def render(mail: PlannedMail, mail_from: str) -> EmailMessage:
    """A multipart/alternative message (text first, inlined HTML second)."""
    ctx = {
        "mode": mail.mode,
        "rule": mail.rule,
        "subscriber": mail.subscriber,
        "stories": mail.stories,
        "period": mail.period,
    }
    text = _env.get_template("alert.txt.j2").render(ctx)
    html = _inliner.inline(_env.get_template("alert.html.j2").render(ctx))
    msg = EmailMessage()
    msg["Subject"] = subject_for(mail)
    msg["From"] = mail_from
    msg["To"] = formataddr((mail.subscriber.name, mail.subscriber.email))
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    domain = mail_from.rpartition("@")[2] or "newsmon.local"
    msg["Message-ID"] = f"<{mail.delivery_id}@{domain}>"
    msg["X-Newsmon-Delivery"] = mail.delivery_id
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    return msg


def render_notice(
    d: Delivery, tries: int, error: str, operator: str, smtp: SmtpSettings
) -> EmailMessage:
    """The one message to the operator when a delivery is given up."""
    msg = EmailMessage()
    msg["Subject"] = f"[newsmon] delivery given up: {d.alert} to {d.subscriber}"
    msg["From"] = smtp.mail_from
    msg["To"] = operator
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    domain = smtp.mail_from.rpartition("@")[2] or "newsmon.local"
    msg["Message-ID"] = f"<notice-{d.id}@{domain}>"
    msg.set_content(
        f"newsmon gave up the {d.mode} alert {d.alert!r} to {d.subscriber}\n"
        f"after {tries} failed sends. Last error:\n\n  {error}\n\n"
        f"Delivery id: {d.id}\n"
        "Later runs skip it: check the address and the SMTP server's answer above.\n"
    )
    return msg


class Mailer:
    """One SMTP connection reused for a batch of messages; use as a context manager."""

    def __init__(self, settings: SmtpSettings, timeout: float = 30.0) -> None:
        self.settings = settings
        self.timeout = timeout
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> Mailer:
        s = self.settings
        try:
            if s.security == "tls":
                self._smtp = smtplib.SMTP_SSL(
                    s.host, s.port, timeout=self.timeout, context=ssl.create_default_context()
                )
            else:
                self._smtp = smtplib.SMTP(s.host, s.port, timeout=self.timeout)
                if s.security == "starttls":
                    self._smtp.starttls(context=ssl.create_default_context())
            if s.username:
                self._smtp.login(s.username, s.password or "")
        except (OSError, smtplib.SMTPException) as e:
            raise MailError(
                f"SMTP {s.host}:{s.port} ({s.security}) unavailable: {e} "
                "(check NEWSMON_SMTP_HOST/PORT/SECURITY)"
            ) from None
        return self

    def send(self, msg: EmailMessage) -> None:
        if self._smtp is None:
            raise MailError("mailer used outside its 'with' block")
        try:
            self._smtp.send_message(msg)
        except (OSError, smtplib.SMTPException) as e:
            raise MailError(f"SMTP refused message to {msg['To']}: {e}") from None

    def __exit__(self, *exc: object) -> None:
        if self._smtp is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self._smtp.quit()
            self._smtp = None
