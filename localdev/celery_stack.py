"""A real Airflow CeleryExecutor stack on loopback: Redis, PostgreSQL and N Celery workers.

For ``tests/celery`` and by hand. Everything is private to one stack: a redis-server and a
PostgreSQL cluster (``initdb`` into the stack's directory, run as the ``postgres`` user or
``newsmon-pg`` when we are root, since PostgreSQL refuses root) on free loopback ports, an
``AIRFLOW_HOME`` of its own, and the Airflow 3 components from this virtual environment with the
repository's ``dags/``: ``api-server``, ``scheduler``, ``dag-processor`` and ``celery worker``
processes (no triggerer: no DAG defers). Missing Debian packages (``redis-server``,
``postgresql``) are installed with apt-get when we are root.

Every process is started in its own process group and stopped by group (SIGTERM, then SIGKILL
after a grace period), together with any descendant that left the group (Airflow puts each task
process in a group of its own), also when start-up fails half-way.

Workers are told apart by ``--celery-hostname`` and by the hostname Airflow records on each task
instance: Airflow asks ``[core] hostname_callable``, which for the workers started here is
:func:`worker_hostname` (the worker's name from ``NEWSMON_CELERY_HOSTNAME``); on one machine the
real host name would be the same for every worker.

CLI (runs until Ctrl-C)::

    python -m localdev.celery_stack up --workers 2 [--es-url http://127.0.0.1:9200]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from localdev.airflow_api import SCHEDULER_PARTS, AirflowApi

__all__ = [
    "CeleryStack",
    "CeleryStackError",
    "ensure_packages",
    "main",
    "worker_hostname",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
DAGS_DIR = REPO_ROOT / "dags"
PG_USER_FALLBACK = "newsmon-pg"
DB_NAME = "airflow"
STOP_GRACE = 20.0
START_TIMEOUT = 240.0
_SYSTEM_WORKDIR = Path("/var/tmp/newsmon-celery")
_APT_PACKAGES = ("redis-server", "postgresql")
_HOSTNAME_ENV = "NEWSMON_CELERY_HOSTNAME"


class CeleryStackError(RuntimeError):
    """A component could not be installed, started or reached; the message says which and why."""


def worker_hostname() -> str:
    """Airflow ``hostname_callable`` for the workers started here: the worker's own name."""
    return os.environ.get(_HOSTNAME_ENV) or socket.getfqdn()


# --------------------------------------------------------------------------- helpers


def _say(message: str) -> None:
    print(f"celery-stack: {message}", file=sys.stderr, flush=True)


def _is_root() -> bool:
    return os.geteuid() == 0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    kept = [ln[:300] for ln in text.splitlines() if ln.strip()]
    return "\n".join(kept[-lines:])


def _pg_bindir() -> Path | None:
    """The newest PostgreSQL server's bin directory (Debian keeps it off PATH)."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if found:
        return found[-1].parent
    on_path = shutil.which("postgres")
    return Path(on_path).parent if on_path else None


def _missing_packages() -> list[str]:
    missing = []
    if shutil.which("redis-server") is None:
        missing.append("redis-server")
    if _pg_bindir() is None or not (_pg_bindir() or Path()).joinpath("initdb").exists():
        missing.append("postgresql")
    return missing


def ensure_packages() -> None:
    """Install redis-server and postgresql from Debian when they are missing (needs root)."""
    missing = _missing_packages()
    if not missing:
        return
    if not _is_root() or shutil.which("apt-get") is None:
        raise CeleryStackError(
            f"{' '.join(missing)} not installed: run `apt-get install -y {' '.join(_APT_PACKAGES)}`"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", *_APT_PACKAGES]
    _say(f"installing {' '.join(missing)} with apt-get")
    done = subprocess.run(install, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        # The package lists may be missing or stale on a fresh machine: refresh once and retry.
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, check=False)
        done = subprocess.run(install, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0 or _missing_packages():
        reason = (done.stderr.strip().splitlines() or ["still missing after install"])[-1]
        raise CeleryStackError(f"apt-get install {' '.join(_APT_PACKAGES)} failed: {reason}")


def _pg_account() -> pwd.struct_passwd | None:
    """The account PostgreSQL runs as: None (ourselves) unless we are root."""
    if not _is_root():
        return None
    for name in ("postgres", PG_USER_FALLBACK):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    subprocess.run(
        [
            "useradd",
            "--system",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            PG_USER_FALLBACK,
        ],
        capture_output=True,
        check=False,
    )
    try:
        return pwd.getpwnam(PG_USER_FALLBACK)
    except KeyError:
        raise CeleryStackError(
            f"cannot create user {PG_USER_FALLBACK} to run PostgreSQL (it refuses root)"
        ) from None


def _descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (from /proc), children first."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: fields start after the last ")".
        fields = text[text.rfind(")") + 2 :].split()
        with contextlib.suppress(ValueError, IndexError):
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class _Proc:
    """One started process (the leader of its own process group) and its log."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    stop_signal: int = signal.SIGTERM

    @property
    def pid(self) -> int:
        return self.popen.pid

    def running(self) -> bool:
        return self.popen.poll() is None

    def stop(self, grace: float = STOP_GRACE) -> None:
        """Stop the group and stray descendants; SIGKILL whatever outlives the grace period."""
        strays = _descendants(self.pid) if self.running() else []
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, self.stop_signal)
        for pid in strays:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                if os.getpgid(pid) != self.pid:
                    os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            self.popen.poll()
            left = [p for p in strays if _pid_alive(p)]
            if not _group_alive(self.pid) and not left:
                break
            time.sleep(0.2)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        for pid in strays:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=10)


@dataclass
class Worker:
    """A running ``airflow celery worker``."""

    hostname: str
    log_server_port: int
    proc: _Proc

    def ready(self) -> bool:
        """Celery logs "<name>@<host> ready." once the worker consumes from its queues."""
        text = self.proc.log.read_text(errors="replace")
        return f"{self.hostname}@" in text and " ready." in text


@dataclass
class CeleryStack:
    """Redis, PostgreSQL, Airflow api-server, scheduler, dag-processor and Celery workers.

    ``env`` reaches every Airflow process (Connections as ``AIRFLOW_CONN_*``, ``NEWSMON_*``);
    :meth:`start_workers` adds per-worker variables. Use as a context manager, or call
    :meth:`start` and (always) :meth:`stop`.
    """

    workers: int = 2
    worker_concurrency: int = 2
    parallelism: int = 4
    env: Mapping[str, str] = field(default_factory=dict)
    worker_env: Mapping[str, str] = field(default_factory=dict)
    dags_folder: Path = DAGS_DIR
    workdir: Path | None = None
    # Keep the stack directory (logs, AIRFLOW_HOME) after stop: NEWSMON_CELERY_KEEP=1.
    keep: bool = field(default_factory=lambda: os.environ.get("NEWSMON_CELERY_KEEP") == "1")
    start_timeout: float = START_TIMEOUT

    api_port: int = 0
    redis_port: int = 0
    pg_port: int = 0
    _base: Path | None = field(default=None, init=False, repr=False)
    _owns_base: bool = field(default=False, init=False, repr=False)
    _infra: list[_Proc] = field(default_factory=list, init=False, repr=False)
    _workers: list[Worker] = field(default_factory=list, init=False, repr=False)
    _rest: AirflowApi | None = field(default=None, init=False, repr=False)
    _worker_seq: int = field(default=0, init=False, repr=False)
    _config: dict[str, str] = field(default_factory=dict, init=False, repr=False)

    # ---- layout ------------------------------------------------------------------------

    @property
    def base(self) -> Path:
        if self._base is None:
            raise CeleryStackError("the stack is not started")
        return self._base

    @property
    def airflow_home(self) -> Path:
        return self.base / "airflow_home"

    @property
    def logs(self) -> Path:
        return self.base / "logs"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def broker_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def sql_alchemy_conn(self) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.pg_port}/{DB_NAME}"

    @property
    def running_workers(self) -> list[Worker]:
        return list(self._workers)

    def _make_base(self) -> Path:
        if self.workdir is not None:
            parent = Path(self.workdir)
        elif os.environ.get("NEWSMON_CELERY_WORKDIR"):
            parent = Path(os.environ["NEWSMON_CELERY_WORKDIR"])
        elif _is_root():
            # The PostgreSQL account must reach its data directory: a repository inside a
            # private `mktemp -d` is not reachable, /var/tmp is.
            parent = _SYSTEM_WORKDIR
        else:
            parent = REPO_ROOT / "var" / "celery"
        parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(PermissionError):
            parent.chmod(parent.stat().st_mode | 0o755)
        base = Path(tempfile.mkdtemp(prefix="stack-", dir=parent))
        base.chmod(0o755)
        self._owns_base = True
        return base

    # ---- processes ---------------------------------------------------------------------

    def _spawn(
        self,
        name: str,
        cmd: Sequence[str],
        env: Mapping[str, str],
        *,
        user: pwd.struct_passwd | None = None,
        stop_signal: int = signal.SIGTERM,
    ) -> _Proc:
        self.logs.mkdir(parents=True, exist_ok=True)
        log = self.logs / f"{name}.log"
        with log.open("ab") as out:
            popen = subprocess.Popen(
                list(cmd),
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.base,
                start_new_session=True,
                user=user.pw_uid if user else None,
                group=user.pw_gid if user else None,
                extra_groups=[] if user else None,
            )
        return _Proc(name, popen, log, stop_signal)

    def _fail(self, what: str, proc: _Proc | None = None) -> CeleryStackError:
        detail = ""
        if proc is not None:
            status = "exited" if not proc.running() else "running"
            detail = f" ({proc.name} {status}; log {proc.log}):\n{_tail(proc.log)}"
        return CeleryStackError(f"{what}{detail}")

    def _wait(self, what: str, ready: Any, proc: _Proc | None, timeout: float) -> None:
        """Poll ``ready()`` until true; fail early when ``proc`` exits, or after ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                if ready():
                    return
            if proc is not None and not proc.running():
                raise self._fail(f"{what}: process exited", proc)
            time.sleep(0.5)
        raise self._fail(f"{what}: not ready after {timeout:.0f} s", proc)

    def _airflow_env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        # A clean Airflow configuration: nothing from the caller's AIRFLOW_* or NEWSMON_*.
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AIRFLOW_", "AIRFLOW__", "NEWSMON_", "PYTEST_"))
        }
        venv_bin = str(Path(sys.executable).parent)
        env["PATH"] = f"{venv_bin}:{env.get('PATH', '/usr/bin:/bin')}"
        # Workers import localdev.celery_stack.worker_hostname; the repository must be on the path.
        env["PYTHONPATH"] = str(REPO_ROOT)
        env.update(self._config)
        env.update(self.env)
        env.update(extra or {})
        return env

    def _airflow(self, *args: str) -> list[str]:
        return [str(Path(sys.executable).with_name("airflow")), *args]

    # ---- start -------------------------------------------------------------------------

    def start(self) -> CeleryStack:
        """Bring up the whole stack and ``workers`` workers; stops what started on failure."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        t0 = time.monotonic()
        ensure_packages()
        self._base = self._make_base()
        self.airflow_home.mkdir()
        self.redis_port = self.redis_port or free_port()
        self.pg_port = self.pg_port or free_port()
        self.api_port = self.api_port or free_port()
        self._start_redis()
        self._start_postgres()
        self._config = self._airflow_config()
        self._migrate()
        self._start_airflow()
        if self.workers:
            self.start_workers(self.workers)
        _say(f"stack up in {time.monotonic() - t0:.1f} s: {self.api_url} ({self.base})")

    def _start_redis(self) -> None:
        (self.base / "redis").mkdir()
        proc = self._spawn(
            "redis",
            [
                shutil.which("redis-server") or "redis-server",
                "--bind", "127.0.0.1",
                "--port", str(self.redis_port),
                "--dir", str(self.base / "redis"),
                "--save", "",
                "--appendonly", "no",
                "--daemonize", "no",
                "--protected-mode", "yes",
            ],
            os.environ,
        )  # fmt: skip
        self._infra.append(proc)

        def pong() -> bool:
            with socket.create_connection(("127.0.0.1", self.redis_port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")

        self._wait("redis-server", pong, proc, 30)

    def _start_postgres(self) -> None:
        bindir = _pg_bindir()
        assert bindir is not None  # ensure_packages() made sure
        account = _pg_account()
        data, sock_dir = self.base / "pg" / "data", self.base / "pg" / "run"
        sock_dir.mkdir(parents=True)
        if account is not None:
            uid, gid = account.pw_uid, account.pw_gid
            os.chown(self.base / "pg", uid, gid)
            os.chown(sock_dir, uid, gid)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "LANG": "C"}
        init = self._spawn(
            "initdb",
            [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
             "-E", "UTF8", "--no-locale", "--no-sync"],
            env,
            user=account,
        )  # fmt: skip
        try:
            code = init.popen.wait(timeout=120)
        except subprocess.TimeoutExpired:
            init.stop()
            raise self._fail("initdb: timed out", init) from None
        if code != 0:
            raise self._fail(f"initdb failed ({code})", init)
        proc = self._spawn(
            "postgres",
            [
                str(bindir / "postgres"),
                "-D", str(data),
                "-p", str(self.pg_port),
                "-k", str(sock_dir),
                "-c", "listen_addresses=127.0.0.1",
                "-c", "max_connections=200",
                "-c", "fsync=off",
                "-c", "synchronous_commit=off",
                "-c", "full_page_writes=off",
            ],
            env,
            user=account,
            # SIGINT is PostgreSQL's fast shutdown; SIGTERM would wait for every client.
            stop_signal=signal.SIGINT,
        )  # fmt: skip
        self._infra.append(proc)
        pg_isready = [str(bindir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.pg_port)]
        self._wait(
            "postgres",
            lambda: subprocess.run(pg_isready, check=False, timeout=5).returncode == 0,
            proc,
            60,
        )
        createdb = [str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(self.pg_port)]
        done = subprocess.run(
            [*createdb, "-U", "postgres", DB_NAME],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        if done.returncode != 0:
            raise self._fail(f"createdb {DB_NAME} failed: {done.stderr.strip()}", proc)

    def _airflow_config(self) -> dict[str, str]:
        from cryptography.fernet import Fernet

        api = self.api_url
        return {
            "AIRFLOW_HOME": str(self.airflow_home),
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__PARALLELISM": str(self.parallelism),
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.sql_alchemy_conn,
            "AIRFLOW__CELERY__BROKER_URL": self.broker_url,
            "AIRFLOW__CELERY__RESULT_BACKEND": (
                f"db+postgresql+psycopg2://postgres@127.0.0.1:{self.pg_port}/{DB_NAME}"
            ),
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(self.worker_concurrency),
            # Two cores: the executor's state-sync pool needs no more than one process.
            "AIRFLOW__CELERY__SYNC_PARALLELISM": "1",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__API__BASE_URL": api,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            # Log servers bind on all interfaces at fixed default ports: move every one of them.
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        }

    def _migrate(self) -> None:
        log = self.logs / "db-migrate.log"
        with log.open("ab") as out:
            try:
                done = subprocess.run(
                    self._airflow("db", "migrate"),
                    env=self._airflow_env(),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=self.base,
                    timeout=300,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                raise CeleryStackError(f"airflow db migrate timed out:\n{_tail(log)}") from None
        if done.returncode != 0:
            raise CeleryStackError(f"airflow db migrate failed:\n{_tail(log)}")

    def _start_airflow(self) -> None:
        env = self._airflow_env()
        api = self._spawn("api-server", self._airflow("api-server", "--workers", "1"), env)
        self._infra.append(api)
        scheduler = self._spawn("scheduler", self._airflow("scheduler"), env)
        self._infra.append(scheduler)
        processor = self._spawn("dag-processor", self._airflow("dag-processor"), env)
        self._infra.append(processor)
        self._wait(
            "api-server", lambda: self.rest.get_public("/api/v2/version"), api, self.start_timeout
        )

        def healthy() -> bool:
            return self.rest.healthy(SCHEDULER_PARTS)  # no triggerer in this stack

        self._wait("scheduler and dag-processor health", healthy, scheduler, self.start_timeout)
        self.wait_for_dags(timeout=self.start_timeout)

    def wait_for_dags(self, timeout: float = 120.0) -> list[str]:
        """Wait until every DAG file in the folder is parsed, unpaused, with no import error."""
        expected = len(list(self.dags_folder.glob("*.py")))
        found: list[str] = []

        def parsed() -> bool:
            found[:] = self.rest.active_dags()
            return len(found) >= expected

        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(OSError, KeyError, ValueError):
                if parsed():
                    return found
            if time.monotonic() > deadline:
                processor = next((p for p in self._infra if p.name == "dag-processor"), None)
                raise self._fail(f"DAGs not parsed after {timeout:.0f} s (have {found})", processor)
            time.sleep(1)

    def start_workers(
        self, count: int, env: Mapping[str, str] | None = None, timeout: float = 120.0
    ) -> list[Worker]:
        """Start ``count`` Celery workers (each its own hostname and log-server port)."""
        started = []
        for _ in range(count):
            self._worker_seq += 1
            hostname = f"worker{self._worker_seq}"
            port = free_port()
            extra = {
                **self.worker_env,
                **(env or {}),
                _HOSTNAME_ENV: hostname,
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": "localdev.celery_stack.worker_hostname",
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(port),
            }
            cmd = self._airflow(
                "celery", "worker",
                "--celery-hostname", f"{hostname}@%h",
                "--concurrency", str(self.worker_concurrency),
                "--without-gossip",
            )  # fmt: skip
            proc = self._spawn(hostname, cmd, self._airflow_env(extra))
            worker = Worker(hostname, port, proc)
            self._workers.append(worker)
            started.append(worker)
        for worker in started:
            self._wait(f"celery worker {worker.hostname}", worker.ready, worker.proc, timeout)
        return started

    # ---- stop --------------------------------------------------------------------------

    def stop_workers(self, grace: float = STOP_GRACE) -> None:
        """Stop every running worker (warm shutdown, then SIGKILL)."""
        while self._workers:
            self._workers.pop().proc.stop(grace)

    def stop(self, grace: float = STOP_GRACE) -> None:
        """Stop everything started, newest first; remove the stack directory unless ``keep``."""
        self.stop_workers(grace)
        while self._infra:
            self._infra.pop().stop(grace)
        if self._base is not None and self._owns_base and not self.keep:
            shutil.rmtree(self._base, ignore_errors=True)
            self._base = None

    def __enter__(self) -> CeleryStack:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ---- REST API ----------------------------------------------------------------------

    @property
    def rest(self) -> AirflowApi:
        """The api-server's REST client (one login, shared by every call)."""
        if self._rest is None:
            self._rest = AirflowApi(
                self.api_url, self.airflow_home, error=CeleryStackError, poll_every=0.5
            )
        return self._rest

    def password(self) -> str:
        """The simple auth manager's generated password for ``admin``."""
        return self.rest.password() or "-"

    def api(self, method: str, path: str, body: Any = None) -> Any:
        """One REST API v2 call; returns the decoded JSON (raises on an HTTP error)."""
        return self.rest.call(method, path, body)

    def trigger(self, dag_id: str) -> str:
        """Trigger a manual run now; returns its run id."""
        return self.rest.trigger(dag_id)

    def dag_runs(self, dag_id: str) -> list[dict[str, Any]]:
        return self.rest.runs(dag_id)

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float) -> dict[str, Any]:
        """Wait until a run finished; return it. Raises if it failed or did not finish in time."""
        return self.rest.wait_for_run(dag_id, run_id, timeout)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return self.rest.task_instances(dag_id, run_id)

    def log_tails(self) -> str:
        """The end of every component's log, for a failure report."""
        parts = []
        for log in sorted(self.logs.glob("*.log")) if self._base else []:
            parts.append(f"--- {log.name}\n{_tail(log, 15)}")
        return "\n".join(parts)


# --------------------------------------------------------------------------- CLI


@contextlib.contextmanager
def _signals_raise() -> Iterator[None]:
    def _raise(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    """Run a stack in the foreground until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m localdev.celery_stack",
        description="Airflow on the CeleryExecutor with Redis, PostgreSQL and N workers.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the stack and keep it running until Ctrl-C")
    up.add_argument("--workers", type=int, default=2)
    up.add_argument("--concurrency", type=int, default=2, help="task slots per worker")
    up.add_argument(
        "--es-url", help="elasticsearch_default connection (e.g. http://127.0.0.1:9200)"
    )
    up.add_argument("--smtp", help="smtp_default connection as host:port (plain SMTP)")
    up.add_argument("--config-dir", type=Path, help="NEWSMON_CONFIG_DIR for the workers")
    up.add_argument("--index-prefix", default="newsmon")
    args = parser.parse_args(argv)

    env = {"NEWSMON_INDEX_PREFIX": args.index_prefix, "NEWSMON_ALLOW_PRIVATE_FEEDS": "true"}
    if args.config_dir:
        env["NEWSMON_CONFIG_DIR"] = str(args.config_dir.resolve())
    if args.es_url:
        env["NEWSMON_ES_URL"] = args.es_url
    if args.smtp:
        host, _, port = args.smtp.rpartition(":")
        env["AIRFLOW_CONN_SMTP_DEFAULT"] = json.dumps(
            {
                "conn_type": "smtp",
                "host": host,
                "port": int(port),
                "extra": {"disable_ssl": True, "disable_tls": True},
            }
        )
    stack = CeleryStack(workers=args.workers, worker_concurrency=args.concurrency, env=env)
    with _signals_raise():
        try:
            stack.start()
            print(
                f"Airflow {stack.api_url}  user admin  password {stack.password()}\n"
                f"workers: {', '.join(w.hostname for w in stack.running_workers)}; "
                f"logs in {stack.logs}; Ctrl-C stops everything",
                flush=True,
            )
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        except CeleryStackError as err:
            print(f"celery-stack: {err}", file=sys.stderr)
            return 1
        finally:
            stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
