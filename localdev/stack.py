"""The local stack behind ``make up`` / ``make down`` / ``make status``.

``up`` starts, in the background and each in its own process group: the local Elasticsearch
(``localdev.elasticsearch``), the mail catcher (every delivered message as ``var/mail/*.eml``),
the demo feed server (``localdev.demofeeds``, unless real feeds are asked for) and
``airflow standalone`` (SQLite, LocalExecutor) with the repository's ``dags/``, the Connections
``elasticsearch_default`` and ``smtp_default`` as ``AIRFLOW_CONN_*`` variables, parallelism for
two cores, DAGs unpaused. It waits until Airflow is healthy and every DAG is parsed, then prints
where everything is. A second ``up`` says it is already running. ``down`` stops all of it
(SIGTERM to each process group and stray descendants, SIGKILL after a grace period); ``status``
prints one row per component with its memory.

Everything lives under the run directory (``var/``): ``stack.json`` (what runs, ports, pids),
``run/*.pid``, ``log/*.log``, ``airflow/`` (AIRFLOW_HOME), ``config/`` (the configuration
directory the DAGs read), ``mail/``, ``demo/feeds/`` and ``es/``.

CLI::

    python -m localdev.stack up [--feeds config/feeds.yaml] [--es-port 9200] [--api-port 8080]
    python -m localdev.stack status [--json]
    python -m localdev.stack down
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from localdev.airflow_api import AirflowApi

# The process-tree walk the Celery harness stops its Airflow with; one implementation for both.
from localdev.celery_stack import _descendants, free_port

__all__ = [
    "AirflowApi",
    "StackConfig",
    "StackError",
    "down",
    "main",
    "memory",
    "status",
    "up",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
DAGS_DIR = REPO_ROOT / "dags"
DEMO_DIR = REPO_ROOT / "config" / "demo"
DEMO_PORT_IN_FILE = "127.0.0.1:8765"
STOP_GRACE = 20.0
DAG_IDS = ("newsmon_alerts", "newsmon_digest", "newsmon_maintenance", "newsmon_poll")


class StackError(RuntimeError):
    """A component could not start or answer; the message says which, why and where its log is."""


@dataclass
class StackConfig:
    """What ``up`` starts and where. ``es_url`` set: use that Elasticsearch, start none."""

    run_dir: Path = REPO_ROOT / "var"
    es_port: int = 9200
    es_url: str | None = None
    smtp_port: int = 1025
    api_port: int = 8080
    demo_port: int = 8765
    # None: the offline demo (config/demo/). A path: that feeds.yaml, polled on the Internet.
    feeds: Path | None = None
    reveal_every: float = 90.0
    index_prefix: str = "newsmon"
    # The simple auth manager's "everyone is admin" mode: no login page (a local demo only).
    all_admins: bool = False
    parallelism: int = 4
    start_timeout: float = 300.0

    @property
    def demo(self) -> bool:
        return self.feeds is None


# --------------------------------------------------------------------------- processes


def _say(message: str) -> None:
    print(f"stack: {message}", file=sys.stderr, flush=True)


def _alive(pid: int) -> bool:
    # A child of ours that exited is a zombie until reaped, and kill(pid, 0) succeeds on it.
    with contextlib.suppress(ChildProcessError, OSError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _state_of(pid) != "Z"


def _state_of(pid: int) -> str:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return text[text.rfind(")") + 2 :].split()[0]


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    kept = [ln[:300] for ln in text.splitlines() if ln.strip()]
    return "\n".join(kept[-lines:])


def stop_tree(pid: int, grace: float = STOP_GRACE) -> bool:
    """Stop a process group led by ``pid`` and every descendant that left it; True if it ran."""
    if not _alive(pid):
        return False
    # Collected first: once the leader is gone its children are re-parented and lost to us.
    strays = _descendants(pid)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
    for child in strays:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(child, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not _alive(pid) and not any(_alive(c) for c in strays):
            break
        time.sleep(0.2)
    for target in (pid, *strays):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(target, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    _alive(pid)  # reap
    return True


def _spawn(name: str, cmd: Sequence[str], env: Mapping[str, str], cfg: StackConfig) -> int:
    """Start ``cmd`` detached (own session), output to log/<name>.log, pid to run/<name>.pid."""
    log = cfg.run_dir / "log" / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    (cfg.run_dir / "run").mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            list(cmd),
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
            start_new_session=True,
        )
    (cfg.run_dir / "run" / f"{name}.pid").write_text(f"{proc.pid}\n")
    return proc.pid


def _wait(what: str, ready: Callable[[], bool], pid: int | None, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if ready():
                return
        if pid is not None and not _alive(pid):
            raise StackError(f"{what} exited during start-up; log {log}:\n{_tail(log)}")
        time.sleep(0.5)
    raise StackError(f"{what} not ready after {timeout:.0f} s; log {log}:\n{_tail(log)}")


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _python(*args: str) -> list[str]:
    return [sys.executable, *args]


# --------------------------------------------------------------------------- up


def _state_path(run_dir: Path) -> Path:
    return run_dir / "stack.json"


def _load_state(run_dir: Path) -> dict[str, Any] | None:
    with contextlib.suppress(OSError, ValueError):
        state = json.loads(_state_path(run_dir).read_text())
        return state if isinstance(state, dict) else None
    return None


def _secrets(run_dir: Path) -> dict[str, str]:
    """Keys Airflow needs to stay the same across restarts, made once per run directory."""
    path = run_dir / "airflow" / "stack-secrets.json"
    with contextlib.suppress(OSError, ValueError):
        return dict(json.loads(path.read_text()))
    from cryptography.fernet import Fernet

    keys = {
        "fernet": Fernet.generate_key().decode(),
        "api_secret": secrets.token_hex(16),
        "jwt_secret": secrets.token_hex(32),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(keys) + "\n")
    path.chmod(0o600)
    return keys


def _write_config(cfg: StackConfig) -> Path:
    """The configuration directory the DAGs read: feeds, topics and subscribers."""
    target = cfg.run_dir / "config"
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REPO_ROOT / "config" / "topics.yaml", target / "topics.yaml")
    if cfg.feeds is None:
        feeds = (DEMO_DIR / "feeds.yaml").read_text(encoding="utf-8")
        feeds = feeds.replace(DEMO_PORT_IN_FILE, f"127.0.0.1:{cfg.demo_port}")
        (target / "feeds.yaml").write_text(feeds, encoding="utf-8")
        shutil.copyfile(DEMO_DIR / "subscribers.yaml", target / "subscribers.yaml")
    else:
        shutil.copyfile(cfg.feeds, target / "feeds.yaml")
        subscribers = REPO_ROOT / "config" / "subscribers.yaml"
        if not subscribers.exists():
            subscribers = REPO_ROOT / "config" / "subscribers.example.yaml"
        shutil.copyfile(subscribers, target / "subscribers.yaml")
    return target


def _newsmon_env(cfg: StackConfig, es_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTEST_"))}
    env.update(
        {
            "NEWSMON_CONFIG_DIR": str((cfg.run_dir / "config").resolve()),
            "NEWSMON_ES_URL": es_url,
            "NEWSMON_INDEX_PREFIX": cfg.index_prefix,
            "NEWSMON_SMTP_HOST": "127.0.0.1",
            "NEWSMON_SMTP_PORT": str(cfg.smtp_port),
            "NEWSMON_SMTP_SECURITY": "none",
            "NEWSMON_MAIL_FROM": env.get("NEWSMON_MAIL_FROM") or "newsmon@localhost",
            # The demo's feed server is on loopback, which the SSRF guard refuses otherwise.
            "NEWSMON_ALLOW_PRIVATE_FEEDS": "true" if cfg.demo else "false",
        }
    )
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '/usr/bin:/bin')}"
    return env


def _airflow_env(cfg: StackConfig, es_url: str, state: Mapping[str, Any]) -> dict[str, str]:
    home = (cfg.run_dir / "airflow").resolve()
    keys = _secrets(cfg.run_dir)
    api = f"http://127.0.0.1:{cfg.api_port}"
    es = httpx.URL(es_url)
    env = _newsmon_env(cfg, es_url)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            # Two cores: four task slots keep the machine responsive (the poll maps 4 at most).
            "AIRFLOW__CORE__PARALLELISM": str(cfg.parallelism),
            "AIRFLOW__CORE__FERNET_KEY": keys["fernet"],
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": str(cfg.all_admins),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(cfg.api_port),
            "AIRFLOW__API__BASE_URL": api,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__SECRET_KEY": keys["api_secret"],
            "AIRFLOW__API_AUTH__JWT_SECRET": keys["jwt_secret"],
            # The log servers bind on all interfaces at 8793/8794 by default: move them.
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(state["worker_log_port"]),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(state["trigger_log_port"]),
            "AIRFLOW_CONN_ELASTICSEARCH_DEFAULT": json.dumps(
                {
                    "conn_type": "elasticsearch",
                    "host": es.host,
                    "port": es.port or 9200,
                    "schema": es.scheme,
                }
            ),
            "AIRFLOW_CONN_SMTP_DEFAULT": json.dumps(
                {
                    "conn_type": "smtp",
                    "host": "127.0.0.1",
                    "port": cfg.smtp_port,
                    "extra": {"disable_ssl": True, "disable_tls": True},
                }
            ),
        }
    )
    return env


def running(run_dir: Path) -> dict[str, Any] | None:
    """The state of a stack that runs in ``run_dir`` (its Airflow process alive), or None."""
    state = _load_state(run_dir)
    if state is None:
        return None
    pid = state.get("pids", {}).get("airflow")
    return state if isinstance(pid, int) and _alive(pid) else None


def _start_es(cfg: StackConfig) -> str:
    if cfg.es_url:
        return cfg.es_url.rstrip("/")
    cmd = _python(
        "-m", "localdev.elasticsearch", "start",
        "--port", str(cfg.es_port),
        "--data", str(cfg.run_dir / "es"),
        "--run-dir", str(cfg.run_dir),
    )  # fmt: skip
    done = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise StackError(f"Elasticsearch did not start: {done.stderr.strip() or done.stdout}")
    return done.stdout.strip().splitlines()[-1]


def up(cfg: StackConfig) -> dict[str, Any]:
    """Start the stack (or find it running); returns its state. Stops what it started on error."""
    cfg.run_dir = cfg.run_dir.resolve()
    already = running(cfg.run_dir)
    if already is not None:
        return {**already, "already_running": True}
    t0 = time.monotonic()
    wanted = [(cfg.api_port, "Airflow", "AIRFLOW_PORT"), (cfg.smtp_port, "mail", "SMTP_PORT")]
    if cfg.demo:
        wanted.append((cfg.demo_port, "demo feeds", "DEMO_PORT"))
    for port, what, variable in wanted:
        if _port_open(port):
            raise StackError(f"port {port} ({what}) is taken: choose another, e.g. {variable}=...")
    for sub in ("mail", "log", "run"):
        (cfg.run_dir / sub).mkdir(parents=True, exist_ok=True)
    state: dict[str, Any] = {
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()},
        "pids": {},
        "worker_log_port": free_port(),
        "trigger_log_port": free_port(),
    }
    try:
        _start(cfg, state)
    except BaseException:
        _stop_pids(state["pids"])
        _state_path(cfg.run_dir).unlink(missing_ok=True)
        raise
    state["healthy_after_s"] = round(time.monotonic() - t0, 1)
    _state_path(cfg.run_dir).write_text(json.dumps(state, indent=2) + "\n")
    return state


def _start(cfg: StackConfig, state: dict[str, Any]) -> None:
    run_dir = cfg.run_dir
    state["es_url"] = _start_es(cfg)
    state["es_started"] = cfg.es_url is None
    pids: dict[str, int] = state["pids"]
    # Saved at once, so a failing start-up or a `down` from another shell finds every pid.
    _state_path(run_dir).write_text(json.dumps(state, indent=2) + "\n")

    pids["mailcatcher"] = _spawn(
        "mailcatcher",
        _python(
            "-m", "localdev.mailcatcher",
            "--port", str(cfg.smtp_port),
            "--dir", str(run_dir / "mail"),
        ),
        os.environ,
        cfg,
    )  # fmt: skip
    if cfg.demo:
        pids["demofeeds"] = _spawn(
            "demofeeds",
            _python(
                "-m", "localdev.demofeeds",
                "--stories", str(DEMO_DIR / "stories.yaml"),
                "--dir", str(run_dir / "demo" / "feeds"),
                "--port", str(cfg.demo_port),
                "--reveal-every", str(cfg.reveal_every),
            ),
            os.environ,
            cfg,
        )  # fmt: skip
    _write_config(cfg)
    _state_path(run_dir).write_text(json.dumps(state, indent=2) + "\n")
    log = run_dir / "log"
    _wait(
        "mail catcher",
        lambda: _port_open(cfg.smtp_port),
        pids["mailcatcher"],
        log / "mailcatcher.log",
        30,
    )
    if cfg.demo:
        _wait(
            "demo feed server",
            lambda: _port_open(cfg.demo_port),
            pids["demofeeds"],
            log / "demofeeds.log",
            30,
        )

    init_log = log / "newsmon-init.log"
    with init_log.open("ab") as out:
        done = subprocess.run(
            [str(Path(sys.executable).with_name("newsmon")), "init"],
            env=_newsmon_env(cfg, state["es_url"]),
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
            check=False,
            timeout=120,
        )
    if done.returncode != 0:
        raise StackError(f"newsmon init failed; log {init_log}:\n{_tail(init_log)}")

    airflow_log = log / "airflow.log"
    pids["airflow"] = _spawn(
        "airflow",
        [str(Path(sys.executable).with_name("airflow")), "standalone"],
        _airflow_env(cfg, state["es_url"], state),
        cfg,
    )
    _state_path(run_dir).write_text(json.dumps(state, indent=2) + "\n")
    api = AirflowApi(f"http://127.0.0.1:{cfg.api_port}", run_dir / "airflow", error=StackError)
    _wait("airflow standalone", api.healthy, pids["airflow"], airflow_log, cfg.start_timeout)
    _wait(
        "DAGs parsed and unpaused",
        lambda: set(DAG_IDS) <= set(api.active_dags()),
        pids["airflow"],
        airflow_log,
        cfg.start_timeout,
    )
    # The scheduler starts the last tick's run only on a fresh database; after a restart the
    # next poll would wait for the next 5-minute tick. One manual run polls whatever is due now.
    state["first_poll"] = api.trigger("newsmon_poll")
    state["airflow_url"] = api.url
    state["airflow_password"] = None if cfg.all_admins else api.password()


# --------------------------------------------------------------------------- down / status


def _stop_pids(pids: Mapping[str, int]) -> list[str]:
    stopped = []
    # Airflow first: its tasks may still be writing to Elasticsearch or sending mail.
    for name in sorted(pids, key=lambda n: n != "airflow"):
        if stop_tree(pids[name]):
            stopped.append(name)
    return stopped


def down(run_dir: Path) -> list[str]:
    """Stop everything ``up`` started in ``run_dir``; returns the names of what was running."""
    run_dir = run_dir.resolve()
    state = _load_state(run_dir) or {}
    pids = dict(state.get("pids", {}))
    # Pid files too: they outlive a stack.json lost in a crash mid-start.
    for pidfile in (run_dir / "run").glob("*.pid") if (run_dir / "run").is_dir() else []:
        with contextlib.suppress(ValueError, OSError):
            pids.setdefault(pidfile.stem, int(pidfile.read_text().split()[0]))
    stopped = _stop_pids(pids)
    for pidfile in (run_dir / "run").glob("*.pid") if (run_dir / "run").is_dir() else []:
        pidfile.unlink(missing_ok=True)
    if state.get("es_started", True):
        done = subprocess.run(
            _python(
                "-m", "localdev.elasticsearch", "stop",
                "--data", str(run_dir / "es"),
                "--run-dir", str(run_dir),
            ),
            cwd=REPO_ROOT, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if "stopped" in done.stdout and "not running" not in done.stdout:
            stopped.append("elasticsearch")
    _state_path(run_dir).unlink(missing_ok=True)
    return stopped


def _es_pid(run_dir: Path) -> int | None:
    with contextlib.suppress(OSError, ValueError, KeyError):
        return int(json.loads((run_dir / "elasticsearch.json").read_text())["pid"])
    return None


def memory(pid: int) -> int:
    """Resident memory (KiB) of a process and all its descendants."""
    return sum(_rss_kib(p) for p in (pid, *_descendants(pid)))


def status(run_dir: Path) -> dict[str, Any]:
    """One row per component: running or not, pid, processes, resident memory."""
    run_dir = run_dir.resolve()
    state = _load_state(run_dir) or {}
    pids: dict[str, int] = dict(state.get("pids", {}))
    es_pid = _es_pid(run_dir)
    if es_pid is not None:
        pids["elasticsearch"] = es_pid
    rows = []
    for name in ("elasticsearch", "mailcatcher", "demofeeds", "airflow"):
        pid = pids.get(name)
        alive = pid is not None and _alive(pid)
        rows.append(
            {
                "component": name,
                "running": alive,
                "pid": pid if alive else None,
                "processes": 1 + len(_descendants(pid)) if alive and pid else 0,
                "rss_mib": round(memory(pid) / 1024) if alive and pid else 0,
            }
        )
    mail = run_dir / "mail"
    return {
        "components": rows,
        "rss_mib_total": sum(r["rss_mib"] for r in rows),
        "airflow_url": state.get("airflow_url"),
        "es_url": state.get("es_url"),
        "mail_dir": str(mail),
        "mails": len(list(mail.glob("*.eml"))) if mail.is_dir() else 0,
        "feeds": state.get("config", {}).get("feeds") or "demo",
    }


def feeds_answered(cfg: StackConfig, es_url: str, timeout: float) -> tuple[int, int] | None:
    """(feeds that answered, feeds) once every feed was polled once; None if not in time."""
    cmd = [str(Path(sys.executable).with_name("newsmon")), "feeds", "--json"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = subprocess.run(
            cmd,
            env=_newsmon_env(cfg, es_url),
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            check=False,
        )
        with contextlib.suppress(ValueError, KeyError):
            rows = json.loads(done.stdout)["feeds"]
            if rows and all(r["last_polled"] for r in rows):
                return sum(1 for r in rows if r["last_success"]), len(rows)
        time.sleep(5)
    return None


# --------------------------------------------------------------------------- CLI


def _print_up(state: Mapping[str, Any]) -> None:
    cfg = state["config"]
    if state.get("already_running"):
        print(f"already running (make status shows it; make down stops it): {state['airflow_url']}")
        return
    login = (
        "no login (all-admins mode)"
        if state.get("airflow_password") is None
        else f"user admin, password {state['airflow_password']}"
    )
    feeds = "offline demo (config/demo/)" if cfg["feeds"] is None else cfg["feeds"]
    rows = [
        ("Airflow", f"{state['airflow_url']}  ({login})"),
        ("Elasticsearch", state["es_url"]),
        ("mail folder", f"{cfg['run_dir']}/mail  (newsmon mail list)"),
        ("feeds", feeds),
        ("logs", f"{cfg['run_dir']}/log/"),
        ("healthy after", f"{state['healthy_after_s']} s"),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")


def _print_status(report: Mapping[str, Any]) -> None:
    print(f"{'component':<14} {'running':<8} {'pid':>8} {'procs':>6} {'rss MiB':>8}")
    for r in report["components"]:
        pid = str(r["pid"] or "-")
        running_text = "yes" if r["running"] else "no"
        print(
            f"{r['component']:<14} {running_text:<8} {pid:>8} {r['processes']:>6} {r['rss_mib']:>8}"
        )
    print(f"{'total':<14} {'':<8} {'':>8} {'':>6} {report['rss_mib_total']:>8}")
    print(
        f"Airflow {report['airflow_url'] or '-'}  Elasticsearch {report['es_url'] or '-'}  "
        f"mail {report['mail_dir']} ({report['mails']} messages)  feeds {report['feeds']}"
    )


def main(argv: list[str] | None = None) -> int:
    """CLI: up | down | status."""
    parser = argparse.ArgumentParser(
        prog="python -m localdev.stack", description="Local newsmon stack under airflow standalone."
    )
    parser.add_argument("--run-dir", type=Path, default=REPO_ROOT / "var")
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up", help="start everything in the background and wait for health")
    p_up.add_argument("--feeds", type=Path, help="a feeds.yaml to poll instead of the demo")
    p_up.add_argument("--es-port", type=int, default=9200)
    p_up.add_argument("--es-url", help="use this Elasticsearch instead of starting one")
    p_up.add_argument("--smtp-port", type=int, default=1025)
    p_up.add_argument("--api-port", type=int, default=8080)
    p_up.add_argument("--demo-port", type=int, default=8765)
    p_up.add_argument("--reveal-every", type=float, default=90.0, help="demo: seconds per step")
    p_up.add_argument("--all-admins", action="store_true", help="Airflow UI without login")
    sub.add_parser("down", help="stop everything up started")
    p_status = sub.add_parser("status", help="what runs, with its memory")
    p_status.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    if args.command == "down":
        stopped = down(args.run_dir)
        print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
        return 0
    if args.command == "status":
        report = status(args.run_dir)
        if args.json:
            print(json.dumps(report))
        else:
            _print_status(report)
        return 0
    feeds = args.feeds
    if feeds is not None and not feeds.is_file():
        print(f"stack: {feeds}: no such feeds file (FEEDS=config/feeds.yaml?)", file=sys.stderr)
        return 2
    cfg = StackConfig(
        run_dir=args.run_dir,
        es_port=args.es_port,
        es_url=args.es_url,
        smtp_port=args.smtp_port,
        api_port=args.api_port,
        demo_port=args.demo_port,
        feeds=feeds.resolve() if feeds else None,
        reveal_every=args.reveal_every,
        all_admins=args.all_admins,
    )
    try:
        state = up(cfg)
    except StackError as err:
        print(f"stack: {err}", file=sys.stderr)
        return 1
    _print_up(state)
    if cfg.feeds is not None and not state.get("already_running"):
        answered = feeds_answered(cfg, state["es_url"], timeout=120)
        if answered is not None and answered[0] == 0:
            print(
                f"every one of the {answered[1]} feeds failed on its first poll (no Internet? "
                "`newsmon feeds` says why); `make down && make up` runs the offline demo"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
