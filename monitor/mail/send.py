"""Send messages over SMTP: the only module that talks to an SMTP server.

A failed send is one of two kinds, and the ledger must tell them apart:

- *not sent*: the connection failed, or the server answered with a refusal (4xx/5xx), before
  or after the message. Nothing was accepted; sending again is safe.
- *ambiguous*: the whole message went out (the final ``.`` of DATA) and then the answer never
  came (the connection dropped, or the reply took longer than the timeout). The server may
  have accepted it: sending again may deliver a second copy.
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
from email.message import EmailMessage
from typing import Any

from monitor.config import SmtpSettings

__all__ = ["MailError", "Mailer"]

# What a client writes after the message body: the end of DATA. Nothing else smtplib sends
# ends so (commands are one line, and the body's own lines starting with "." are doubled).
_END_OF_DATA = b"\r\n.\r\n"


class MailError(RuntimeError):
    """The SMTP server could not be reached or refused the message (one line).

    ``ambiguous``: the message was transmitted but no answer came, so it may have been
    delivered. ``unreachable``: no connection could be made, so nothing was sent.
    """

    def __init__(self, message: str, *, ambiguous: bool = False, unreachable: bool = False) -> None:
        super().__init__(message)
        self.ambiguous = ambiguous
        self.unreachable = unreachable


class _Tracked:
    """Mixin for smtplib's clients: remembers whether the end of a message's DATA went out."""

    message_out = False

    def send(self, s: Any) -> None:
        super().send(s)  # type: ignore[misc]
        if isinstance(s, bytes) and s.endswith(_END_OF_DATA):
            self.message_out = True


class _SMTP(_Tracked, smtplib.SMTP):
    pass


class _SMTPS(_Tracked, smtplib.SMTP_SSL):
    pass


class Mailer:
    """One SMTP connection reused for a batch of messages; use as a context manager.

    A connection lost between messages is opened again for the next one.
    """

    def __init__(self, settings: SmtpSettings, timeout: float | None = None) -> None:
        self.settings = settings
        self.timeout = settings.timeout if timeout is None else timeout
        self._smtp: _SMTP | _SMTPS | None = None

    def _connect(self) -> _SMTP | _SMTPS:
        s = self.settings
        smtp: _SMTP | _SMTPS | None = None
        try:
            if s.security == "tls":
                smtp = _SMTPS(
                    s.host, s.port, timeout=self.timeout, context=ssl.create_default_context()
                )
            else:
                smtp = _SMTP(s.host, s.port, timeout=self.timeout)
                if s.security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
            if s.username:
                smtp.login(s.username, s.password or "")
        except (OSError, smtplib.SMTPException) as e:
            if smtp is not None:
                with contextlib.suppress(OSError):
                    smtp.close()
            raise MailError(
                f"SMTP {s.host}:{s.port} ({s.security}) unavailable: {e} "
                "(check NEWSMON_SMTP_HOST/PORT/SECURITY)",
                unreachable=True,
            ) from None
        return smtp

    def __enter__(self) -> Mailer:
        self._smtp = self._connect()
        return self

    def send(self, msg: EmailMessage) -> None:
        """Send one message; raise MailError (see its flags) when it was not accepted."""
        if self._smtp is None:
            self._smtp = self._connect()
        smtp = self._smtp
        smtp.message_out = False
        try:
            smtp.send_message(msg)
        except smtplib.SMTPResponseException as e:
            # The server answered: whatever it said, it did not take the message.
            raise MailError(f"SMTP refused message to {msg['To']}: {e}") from None
        except smtplib.SMTPRecipientsRefused as e:
            raise MailError(f"SMTP refused message to {msg['To']}: {e}") from None
        except (OSError, smtplib.SMTPException) as e:
            self._drop()
            if smtp.message_out:
                raise MailError(
                    f"SMTP answer lost after the message to {msg['To']} was transmitted "
                    f"({type(e).__name__}: {e}): it may have been delivered",
                    ambiguous=True,
                ) from None
            raise MailError(f"SMTP connection lost before message to {msg['To']}: {e}") from None

    def _drop(self) -> None:
        if self._smtp is not None:
            with contextlib.suppress(OSError):
                self._smtp.close()
            self._smtp = None

    def __exit__(self, *exc: object) -> None:
        if self._smtp is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self._smtp.quit()
            self._smtp = None
