"""Run the test suite under shifted system clocks, to show its result does not depend on when.

    python -m localdev.clockshift [--instant 'TZ|YYYY-MM-DD HH:MM:SS' ...] [--every-test]
                                  [--rotation R] [-- pytest args]

Starts one Elasticsearch on the real clock (a JVM under a fake clock would only test the JVM),
then runs pytest once per instant under libfaketime (LD_PRELOAD), with
``NEWSMON_TEST_ES_URL`` pointing at that server. The default instants are the ones that broke
or could break a time-dependent test: the end of a year, both European DST changes and minute
47 of an ordinary hour. The Airflow tests are left out: Airflow's scheduler needs the real clock.

By default the pure tests (tests/unit) run under every instant and the service tests are split
in as many slices as there are instants, one slice per instant (``NEWSMON_TEST_SHARD``, see
tests/conftest.py): the same coverage per run as one whole extra run instead of four. Which
slice meets which instant rotates with the day (``--rotation``, printed), so within four days
every service test has met every instant. ``--every-test`` runs everything under every instant.
Prints one JSON line per instant and exits non-zero if any run failed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from localdev import elasticsearch as local_es

ROOT = Path(__file__).resolve().parent.parent

# (TZ, local wall-clock time at which the clock starts; it then runs at normal speed).
DEFAULT_INSTANTS = (
    ("UTC", "2026-12-31 23:47:00"),  # a year, month, day and hour end 13 minutes in
    ("Europe/London", "2026-03-29 00:52:00"),  # 8 minutes before clocks go forward
    ("Europe/Berlin", "2026-10-25 02:41:00"),  # inside the hour that happens twice
    ("UTC", "2026-06-10 14:47:00"),  # minute 47 of an ordinary hour
)


def _libfaketime() -> Path:
    """libfaketime as vendored by the `libfaketime` package (a dev dependency).

    Debian's libfaketime 0.9.10 is not used: under it Python's threading waits either hang
    (fake monotonic clock) or time.sleep fails with EINVAL (real monotonic clock).
    """
    try:
        import libfaketime
    except ImportError:
        raise SystemExit("error: the libfaketime package is missing: run `make setup`") from None
    lib = Path(libfaketime.__file__).parent / "vendor" / "libfaketime" / "src" / "libfaketime.so.1"
    if not lib.is_file():
        raise SystemExit(f"error: {lib} not found: reinstall the libfaketime package")
    return lib


def _offset_seconds(tz: str, when: str) -> int:
    """Seconds from the real clock to `when` read as wall-clock time in `tz`.

    An offset, not a start time: every process (pytest and the `newsmon` commands it spawns)
    then sees the same shifted clock, which keeps running.
    """
    local = datetime.strptime(when, "%Y-%m-%d %H:%M:%S").replace(tzinfo=ZoneInfo(tz))
    return round(local.timestamp() - time.time())


def _observed_clock(env: dict[str, str]) -> str:
    """The local time a Python process sees under `env`: proof the shift took effect."""
    probe = "import datetime; print(datetime.datetime.now().strftime('%Y-%m-%d %H:%M:%S %Z'))"
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=False
    )
    return out.stdout.strip() or out.stderr.strip()


def slices(instants: int, rotation: int) -> list[str]:
    """The service-test slice (``NEWSMON_TEST_SHARD``) for each instant: each slice once, and a
    rotation of one moves every slice on to the next instant."""
    return [f"{(i + rotation) % instants}/{instants}" for i in range(instants)]


def _parse_instant(raw: str) -> tuple[str, str]:
    tz, sep, when = raw.partition("|")
    if not sep or not when.strip():
        raise argparse.ArgumentTypeError(f"{raw!r}: expected 'TZ|YYYY-MM-DD HH:MM:SS'")
    return tz.strip(), when.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--instant",
        action="append",
        type=_parse_instant,
        help="'TZ|YYYY-MM-DD HH:MM:SS' (repeatable); default: four edge instants",
    )
    parser.add_argument(
        "--every-test",
        action="store_true",
        help="every test under every instant, not one slice of the service tests per instant",
    )
    parser.add_argument(
        "--rotation",
        type=int,
        default=date.today().toordinal(),
        help="which slice meets which instant (default: today's date; a failing run prints it)",
    )
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = parser.parse_args(argv)
    instants = args.instant or list(DEFAULT_INSTANTS)
    lib = _libfaketime()
    pytest_args = args.pytest_args or ["tests/unit", "tests/integration", "tests/e2e"]

    external = os.environ.get("NEWSMON_TEST_ES_URL")
    node = None
    if not external:
        try:
            node = local_es.start(name="clockshift")
        except local_es.ElasticsearchStartError as e:
            print(f"error: test Elasticsearch could not be started: {e}", file=sys.stderr)
            return 1
    es_url = external or (node.url if node else "")
    failed = 0
    # Named tests run under every instant: whoever names them wants to see them there.
    sharded = not (args.every_test or args.pytest_args)
    shards = slices(len(instants), args.rotation) if sharded else [""] * len(instants)
    try:
        for (tz, when), shard in zip(instants, shards, strict=True):
            env = {
                **os.environ,
                "TZ": tz,
                "NEWSMON_TEST_ES_URL": es_url,
                "LD_PRELOAD": str(lib),
                "FAKETIME": f"{_offset_seconds(tz, when):+d}",
                # Timeouts and sleeps keep real durations; only the calendar moves.
                "FAKETIME_DONT_FAKE_MONOTONIC": "1",
                "NEWSMON_TEST_SHARD": shard,
            }
            cmd = [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "-m",
                # Airflow, the Celery stack and the make up stack run their own processes on
                # the real clock; the fault and hostile-input suites test I/O, not the calendar.
                "not airflow and not celery and not standalone and not faults and not slow",
                *pytest_args,
            ]
            seen = _observed_clock(env)
            if not seen.startswith(when[:13]):  # the hour must match; seconds run on
                print(f"error: clock shift failed: wanted {when} {tz}, saw {seen}", file=sys.stderr)
                return 1
            print(f"==> pytest with the clock at {seen} ({tz})", file=sys.stderr, flush=True)
            began = time.monotonic()
            proc = subprocess.run(cmd, cwd=ROOT, env=env, check=False)
            failed += proc.returncode != 0
            result = {
                "instant": when,
                "observed": seen,
                "tz": tz,
                "service_tests": f"slice {shard} (--rotation {args.rotation})" if shard else "all",
                "passed": proc.returncode == 0,
                "exit_code": proc.returncode,
                "seconds": round(time.monotonic() - began, 1),
            }
            print(json.dumps(result), flush=True)
    finally:
        if node is not None:
            node.stop()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
