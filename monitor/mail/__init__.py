"""E-mail: render alerts (Jinja2, HTML + plain text), build their headers, send over SMTP.

The only package that talks to SMTP (`send`); `render` and `headers` are pure.
"""

from monitor.mail.feed_notice import render_feed_notice
from monitor.mail.headers import encode_words
from monitor.mail.render import (
    render,
    render_notice,
    render_test,
    render_watchdog,
    subject_for,
)
from monitor.mail.send import Mailer, MailError

__all__ = [
    "MailError",
    "Mailer",
    "encode_words",
    "render",
    "render_feed_notice",
    "render_notice",
    "render_test",
    "render_watchdog",
    "subject_for",
]
