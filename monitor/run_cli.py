"""`newsmon run`: one whole cycle (`--once`), or cycles on a loop for a server without Airflow.

Registered on the `newsmon` app by importing this module (monitor.cli does).
"""

from __future__ import annotations

import signal
import sys
import time
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from monitor import cli
from monitor.cli import (
    ConfigOpt,
    JsonOpt,
    app,
    duration,
    emit,
    err,
    error_line,
    fail,
    guarded,
    out,
    settings,
)
from monitor.config import ConfigError, Settings, load_settings

__all__ = ["run"]


@app.command()
def run(
    once: Annotated[bool, typer.Option("--once", help="Run one cycle and exit.")] = False,
    interval: Annotated[str, typer.Option(help="Pause between cycles when looping.")] = "60s",
    config_dir: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Poll due feeds, index new stories, send due alerts and digests; once or in a loop."""
    from monitor import pipeline
    from monitor.clock import utcnow

    pause = duration("--interval", interval)
    s = settings(config_dir)
    if once:
        report = guarded(partial(pipeline.run_once, s), s)
        cli._report_feed_errors(report["poll"])
        emit(report, as_json, cli._render_run)
        return
    from monitor.store import LeaseBusy, StoreError

    # SIGTERM is how `docker stop`, systemd and `make down` stop a service; Python's default
    # exits without running `finally`, which left the loop's lease held until it expired (five
    # minutes at least) and a restarted loop refusing to start meanwhile.
    stop = _Stop()
    signal.signal(signal.SIGTERM, stop.handle)
    try:
        with pipeline.exclusive_loop(s, timedelta(seconds=pause)) as renew:
            while True:
                stop.check()
                started = utcnow()
                s, done = _cycle(config_dir, s, started)
                if done is not None:
                    _print_cycle(started, done, as_json)
                try:
                    renew()
                except LeaseBusy:
                    raise
                except StoreError as e:  # Elasticsearch away: renewed next cycle, if still ours
                    _cycle_error(started, e)
                stop.pause(pause)
    except _Terminated:
        from monitor.display import local_time

        at = local_time(utcnow(), seconds=True)
        line = f"{at} stopped (SIGTERM); the loop's lease is released"
        err.print(Text(line), highlight=False, soft_wrap=True)
    except StoreError as e:  # the lease: another loop runs on this prefix, or took over
        fail(str(e), 1)


class _Terminated(BaseException):
    """SIGTERM reached `newsmon run --interval`: stop now, releasing the loop's lease.

    A BaseException, as KeyboardInterrupt is: the code a cycle runs catches Exception where
    one feed's or one e-mail's failure must not stop the others, and must not swallow this."""


class _Stop:
    """SIGTERM's handler, and the flag it leaves for the loop to check between cycles.

    The handler raises `_Terminated` wherever the main thread is, so a long cycle stops at once.
    But Python runs a signal handler at any bytecode, finalisers included (a garbage-collected
    HTTP response closing itself), and an exception raised in a finaliser is printed and
    dropped: the flag makes such a SIGTERM stop the loop at its next check instead of never.
    (A loop still running a minute after SIGTERM failed CI once; this is the one way we found
    for the old handler, which raised and then ignored SIGTERM, to lose the stop.)

    The flag is a plain attribute, not a `threading.Event`: setting an Event takes a lock the
    interrupted main thread may hold, and the handler would wait on itself.
    """

    def __init__(self) -> None:
        self.requested = False

    def handle(self, signum: int, frame: object) -> None:
        if self.requested:
            return  # already stopping: a second SIGTERM must not interrupt the lease's release
        self.requested = True
        raise _Terminated

    def check(self) -> None:
        if self.requested:
            raise _Terminated

    def pause(self, seconds: float) -> None:
        """Sleep between cycles. A SIGTERM raises out of the sleep; one whose raise got lost
        ends it within a second."""
        end = time.monotonic() + seconds
        while not self.requested and (left := end - time.monotonic()) > 0:
            time.sleep(min(left, 1.0))
        self.check()


def _cycle(
    config_dir: Path | None, last: Settings, started: datetime
) -> tuple[Settings, dict[str, Any] | None]:
    """One cycle of the loop: the settings it ran with, and its report (None if it failed).

    An unattended loop outlives what one cycle meets: Elasticsearch or the mail server away
    for a while, a configuration edit that does not parse. The cycle says why in one line on
    stderr and the loop tries again next cycle (a failed cycle loses nothing: its stories stay
    pending and its alerts owed). A broken edit keeps the last good settings until fixed.
    """
    from monitor import pipeline

    try:
        s = load_settings(config_dir)  # re-read each cycle: config edits apply at once
    except ConfigError as e:
        _cycle_error(started, e, "configuration not reloaded, running with the last good one")
        s = last
    try:
        return s, pipeline.run_once(s, started)
    except tuple(cli.unit_errors()) as e:
        _cycle_error(started, e, "retrying next cycle")
        return s, None


def _print_cycle(started: datetime, report: dict[str, Any], as_json: bool) -> None:
    from monitor.display import cycle_line

    cli._report_feed_errors(report["poll"])
    # A loop runs for days: one timestamped line per cycle, not a page of tables.
    if as_json:
        emit({"at": started.isoformat(), **report}, True, cli._render_run)
    else:
        out.print(Text(cycle_line(started, report)), highlight=False, soft_wrap=True)
    # Piped into a log (journald, `docker logs`), stdout is block-buffered: a cycle's line
    # would wait for the next dozens of cycles.
    sys.stdout.flush()


def _cycle_error(at: datetime, e: Exception, then: str = "") -> None:
    from monitor.display import local_time

    when = local_time(at, seconds=True)  # as the cycle lines print it
    err.print(error_line(f"{when} cycle: {e}" + (f"; {then}" if then else "")), highlight=False)
