"""A real SMTP server (aiosmtpd) that captures every message it is given.

In tests::

    with MailCatcher() as smtp:
        send_something(host=smtp.host, port=smtp.port)
        [msg] = smtp.wait_for(1)
        assert msg.rcpt_tos == ["analyst@example.org"]

A recipient whose address starts with ``refuse`` is answered ``550`` (an SMTP server that
bounces one address), so tests can make one delivery fail for good while others go through.
``defer(n)`` answers the next ``n`` messages ``451`` (a server asking to try again later) and
``delay`` holds each answer to DATA that many seconds (a slow server; the message is kept
before the wait, as a real server that has queued it would).

For ``make up``: ``python -m localdev.mailcatcher --port 1025 --dir var/mail`` writes each delivered
message to ``var/mail/*.eml`` until interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

__all__ = ["CapturedMessage", "MailCatcher", "main"]


class CapturedMessage(EmailMessage):
    """An ``EmailMessage`` plus the SMTP envelope it arrived with and its raw bytes."""

    mail_from: str
    rcpt_tos: list[str]
    raw: bytes


def _parse(raw: bytes, mail_from: str, rcpt_tos: list[str]) -> CapturedMessage:
    message = BytesParser(_class=CapturedMessage, policy=policy.default).parsebytes(raw)
    assert isinstance(message, CapturedMessage)
    message.mail_from = mail_from
    message.rcpt_tos = list(rcpt_tos)
    message.raw = raw
    return message


class _Handler:
    """aiosmtpd handler: hands each message's envelope to a callback, then answers 250."""

    def __init__(self, deliver: Callable[[bytes, str, list[str]], None]) -> None:
        self._deliver = deliver
        self.deferrals = 0  # how many next messages get a temporary 451
        self.delay = 0.0  # seconds to hold each 250 answer
        self.lock = threading.Lock()

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address.lower().startswith("refuse"):
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.lock:
            if self.deferrals > 0:
                self.deferrals -= 1
                return "451 4.3.0 temporary failure, try again later"
        # original_content is the exact bytes on the wire (content may be decoded for SMTPUTF8).
        raw = envelope.original_content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        self._deliver(raw, envelope.mail_from or "", list(envelope.rcpt_tos))
        if self.delay:
            await asyncio.sleep(self.delay)
        return "250 Message accepted for delivery"


class _Controller(Controller):
    """Controller that accepts port 0 and learns the port the OS picked."""

    def _trigger_server(self) -> None:
        # The stock controller connects to self.port to finish start-up, which fails for port 0.
        if self.port == 0 and isinstance(self.server, asyncio.Server):
            self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


class MailCatcher:
    """A threaded SMTP server on ``host:port`` that keeps every message in memory (and, with
    ``directory``, writes it there as ``.eml``). ``port=0`` picks a free port: read ``.port``."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, *, directory: Path | None = None
    ) -> None:
        self.host = host
        self._requested_port = port
        self.directory = directory
        self._messages: list[CapturedMessage] = []
        self._cond = threading.Condition()
        self._seq = itertools.count(1)
        self._controller: _Controller | None = None
        self._handler = _Handler(self._deliver)

    @property
    def delay(self) -> float:
        """Seconds each answer to DATA is held after the message is kept (0: none)."""
        return self._handler.delay

    @delay.setter
    def delay(self, seconds: float) -> None:
        self._handler.delay = seconds

    def defer(self, count: int) -> None:
        """Answer the next `count` messages ``451`` (temporary failure; nothing kept)."""
        with self._handler.lock:
            self._handler.deferrals = count

    @property
    def port(self) -> int:
        """The port the server listens on (valid once started)."""
        if self._controller is None:
            raise RuntimeError("MailCatcher is not running")
        return int(self._controller.port)

    @property
    def messages(self) -> list[CapturedMessage]:
        """A snapshot of the messages received so far, oldest first."""
        with self._cond:
            return list(self._messages)

    def clear(self) -> None:
        """Forget the messages received so far."""
        with self._cond:
            self._messages.clear()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[CapturedMessage]:
        """Wait until ``count`` messages arrived; return all so far (fewer if it timed out)."""
        with self._cond:
            self._cond.wait_for(lambda: len(self._messages) >= count, timeout)
            return list(self._messages)

    def start(self) -> MailCatcher:
        """Start listening; returns self."""
        if self._controller is not None:
            return self
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
        controller = _Controller(self._handler, hostname=self.host, port=self._requested_port)
        controller.start()
        self._controller = controller
        return self

    def stop(self) -> None:
        """Stop listening (messages stay readable)."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> MailCatcher:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _deliver(self, raw: bytes, mail_from: str, rcpt_tos: list[str]) -> None:
        message = _parse(raw, mail_from, rcpt_tos)
        if self.directory is not None:
            self._write(raw, mail_from, rcpt_tos)
        with self._cond:
            self._messages.append(message)
            self._cond.notify_all()

    def _write(self, raw: bytes, mail_from: str, rcpt_tos: list[str]) -> None:
        assert self.directory is not None
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        name = f"{stamp}-{os.getpid()}-{next(self._seq):05d}.eml"
        # Envelope as headers so a reader of the folder sees who the mail was really sent to
        # (Bcc recipients appear nowhere else).
        envelope = (
            f"X-Envelope-From: <{mail_from}>\r\nX-Envelope-To: "
            + ", ".join(f"<{r}>" for r in rcpt_tos)
            + "\r\n"
        ).encode("utf-8")
        # Write then rename, so whoever watches the folder never reads half a message.
        tmp = self.directory / f".{name}.tmp"
        tmp.write_bytes(envelope + raw)
        tmp.rename(self.directory / name)


def main(argv: list[str] | None = None) -> int:
    """CLI: serve SMTP on a port and write each delivered message to a folder as ``.eml``."""
    parser = argparse.ArgumentParser(
        prog="python -m localdev.mailcatcher",
        description="Local SMTP server that writes every delivered message to a folder.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1025)
    parser.add_argument("--dir", type=Path, default=Path("var/mail"), help="where .eml files go")
    parser.add_argument("--pidfile", type=Path, help="write this process's id here")
    parser.add_argument(
        "--delay", type=float, default=0.0, help="seconds to hold each answer to DATA"
    )
    args = parser.parse_args(argv)

    catcher = MailCatcher(args.host, args.port, directory=args.dir)
    catcher.delay = args.delay
    try:
        catcher.start()
    except OSError as err:
        print(f"mailcatcher: cannot listen on {args.host}:{args.port}: {err}", file=sys.stderr)
        return 1
    if args.pidfile:
        args.pidfile.parent.mkdir(parents=True, exist_ok=True)
        args.pidfile.write_text(f"{os.getpid()}\n")
    print(
        f"mailcatcher: listening on {args.host}:{catcher.port}, writing mail to {args.dir}/",
        flush=True,
    )

    stopping = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> Any:
        stopping.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    try:
        while not stopping.wait(1.0):
            pass
    finally:
        catcher.stop()
        if args.pidfile:
            args.pidfile.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
