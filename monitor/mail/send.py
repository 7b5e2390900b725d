"""Send messages over SMTP: the only module that talks to an SMTP server."""

from __future__ import annotations

import contextlib
import smtplib
import ssl
from email.message import EmailMessage

from monitor.config import SmtpSettings

__all__ = ["MailError", "Mailer"]


class MailError(RuntimeError):
    """The SMTP server could not be reached or refused the message (one line)."""


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
