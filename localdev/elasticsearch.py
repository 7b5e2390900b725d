"""Fetch, unpack, start and stop a real single-node Elasticsearch for tests and local runs.

The server is Maven Central's ``org.elasticsearch.distribution.integ-test-zip:elasticsearch``
(the server core, no bundled JDK), fetched with ``mvn dependency:copy`` into
``.cache/elasticsearch/`` and unpacked with ``unzip`` (which keeps the executable bits).

Elasticsearch refuses to run as root. As root we run it as the system user ``newsmon-es``, and keep
everything that user must reach (unpacked tree, per-node config, data, logs) under
``/var/tmp/newsmon-es``: the repository may sit in a private ``mktemp -d`` directory the
unprivileged user cannot traverse. ``NEWSMON_ES_WORKDIR`` overrides that location.

CLI (used by ``make up``)::

    python -m localdev.elasticsearch fetch|start|stop|status [--port 9200] [--data var/es]
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

__all__ = [
    "ES_VERSION",
    "ElasticsearchStartError",
    "EsNode",
    "delete_prefixed",
    "ensure_distribution",
    "find_java",
    "main",
    "start",
    "stop",
]

ES_VERSION = "9.5.4"
MAVEN_ARTIFACT = f"org.elasticsearch.distribution.integ-test-zip:elasticsearch:{ES_VERSION}:zip"
MIN_JAVA = 21
ES_USER = "newsmon-es"
HEAP_OPTS = "-Xms512m -Xmx512m"
START_TIMEOUT = 120.0
STOP_GRACE = 30.0

REPO_ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = REPO_ROOT / ".cache" / "elasticsearch"
_SYSTEM_WORKDIR = Path("/var/tmp/newsmon-es")
_SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class ElasticsearchStartError(RuntimeError):
    """Elasticsearch could not be fetched, unpacked or started; the message says why."""


@dataclass
class EsNode:
    """A running Elasticsearch node started by :func:`start`."""

    url: str
    port: int
    pid: int
    home: Path
    node_dir: Path
    data_dir: Path
    log_file: Path
    ephemeral: bool = False
    _stopped: bool = field(default=False, repr=False)

    @property
    def pidfile(self) -> Path:
        return self.node_dir / "es.pid"

    def stop(self, grace: float = STOP_GRACE) -> None:
        """Stop the node (SIGTERM, then SIGKILL after ``grace`` seconds); drop temp dirs."""
        if self._stopped:
            return
        stop(self.pid, grace=grace)
        self._stopped = True
        if self.ephemeral:
            shutil.rmtree(self.node_dir, ignore_errors=True)


# --------------------------------------------------------------------------- helpers


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _is_root() -> bool:
    return os.geteuid() == 0


def workdir() -> Path:
    """Where the unpacked tree and the nodes' config, data and logs live."""
    override = os.environ.get("NEWSMON_ES_WORKDIR")
    if override:
        return Path(override).resolve()
    return _SYSTEM_WORKDIR if _is_root() else CACHE_DIR


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock: parallel test sessions share the cache and the unpacked tree."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _tail(path: Path, lines: int = 30) -> str:
    """The last lines of a log without Java stack frames, each cut to a readable width."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    kept = [ln[:300] for ln in text.splitlines() if ln.strip() and not ln.startswith("\tat ")]
    return "\n".join(kept[-lines:])


_EXCEPTION = re.compile(r"\b(\w+(?:Exception|Error)): (.+)")


def _reason(*logs: Path) -> str | None:
    """The last exception message in the logs: why start-up failed, in one line."""
    for path in logs:
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        found = _EXCEPTION.findall(text)
        if found:
            name, message = found[-1]
            return f"{name}: {message.strip()[:300]}"
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


# --------------------------------------------------------------------------- distribution


def _fetch_zip() -> Path:
    zip_path = CACHE_DIR / f"elasticsearch-{ES_VERSION}.zip"
    with _locked(CACHE_DIR / ".fetch.lock"):
        if zip_path.is_file() and zip_path.stat().st_size > 0:
            return zip_path
        if shutil.which("mvn") is None:
            raise ElasticsearchStartError(
                "cannot fetch Elasticsearch: `mvn` is not installed (apt-get install maven)"
            )
        _say(f"fetching Elasticsearch {ES_VERSION} with Maven…")
        began = time.monotonic()
        # Copy into a scratch dir first so an interrupted copy never looks like a cached zip.
        scratch = CACHE_DIR / f".download-{os.getpid()}"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
        try:
            proc = subprocess.run(
                [
                    "mvn",
                    "-q",
                    "-B",
                    # -U: retry even if an earlier (e.g. offline) attempt cached a failure in ~/.m2.
                    "-U",
                    "-Dstyle.color=never",
                    "dependency:copy",
                    f"-Dartifact={MAVEN_ARTIFACT}",
                    f"-DoutputDirectory={scratch}",
                ],
                cwd=scratch,
                capture_output=True,
                text=True,
                check=False,
            )
            fetched = scratch / zip_path.name
            if proc.returncode != 0 or not fetched.is_file():
                plain = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr)
                output = plain.strip().splitlines()
                reason = next((ln for ln in output if "ERROR" in ln), output[-1] if output else "")
                raise ElasticsearchStartError(
                    f"cannot fetch {MAVEN_ARTIFACT} with Maven (exit {proc.returncode}): {reason}"
                )
            fetched.rename(zip_path)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        size = zip_path.stat().st_size / 1e6
        _say(f"fetched {zip_path.name} ({size:.0f} MB) in {time.monotonic() - began:.1f} s")
        return zip_path


def ensure_distribution() -> Path:
    """Return the unpacked Elasticsearch home, fetching and unpacking it first if needed."""
    version_dir = workdir() / "dist" / ES_VERSION
    home = version_dir / f"elasticsearch-{ES_VERSION}"
    marker = version_dir / ".complete"
    if marker.is_file() and (home / "bin" / "elasticsearch").is_file():
        return home
    zip_path = _fetch_zip()
    if _is_root():
        _make_traversable(workdir())
    with _locked(version_dir.parent / f".{ES_VERSION}.lock"):
        if marker.is_file() and (home / "bin" / "elasticsearch").is_file():
            return home  # another process unpacked it while we waited
        if shutil.which("unzip") is None:
            raise ElasticsearchStartError(
                "cannot unpack Elasticsearch: `unzip` is not installed (apt-get install unzip)"
            )
        _say(f"unpacking {zip_path.name} into {version_dir}…")
        # A tree without the marker is a half-finished unpack: start over.
        shutil.rmtree(version_dir, ignore_errors=True)
        version_dir.mkdir(parents=True)
        proc = subprocess.run(
            ["unzip", "-q", "-o", str(zip_path), "-d", str(version_dir)],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0 or not (home / "bin" / "elasticsearch").is_file():
            # A corrupt zip would fail forever: drop it so the next run downloads it again.
            zip_path.unlink(missing_ok=True)
            raise ElasticsearchStartError(
                f"cannot unpack {zip_path} (unzip exit {proc.returncode}): "
                f"{(proc.stderr or proc.stdout).strip()[:300]}; "
                "it was removed, run again to refetch"
            )
        # The tree stays owned by whoever unpacked it; the service user only needs to read it.
        subprocess.run(["chmod", "-R", "a+rX", str(version_dir)], check=True)
        marker.write_text(f"{ES_VERSION}\n")
    return home


# --------------------------------------------------------------------------- java


def _java_major(java: Path) -> int | None:
    try:
        proc = subprocess.run(
            [str(java), "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', proc.stderr + proc.stdout)
    if not match:
        return None
    major = int(match.group(1))
    # Java 8 and older report "1.8.0_…".
    return int(match.group(2) or 0) if major == 1 else major


def find_java() -> Path:
    """Return a JDK home with Java >= 21: ``ES_JAVA_HOME`` if set, else the newest one installed."""
    explicit = os.environ.get("ES_JAVA_HOME")
    if explicit:
        java = Path(explicit) / "bin" / "java"
        major = _java_major(java)
        if major is None:
            raise ElasticsearchStartError(f"ES_JAVA_HOME={explicit} has no working bin/java")
        if major < MIN_JAVA:
            raise ElasticsearchStartError(
                f"ES_JAVA_HOME={explicit} is Java {major}; Elasticsearch {ES_VERSION} "
                f"needs Java {MIN_JAVA} or newer"
            )
        return Path(explicit)

    homes: list[Path] = []
    jvm_root = Path("/usr/lib/jvm")
    if jvm_root.is_dir():
        homes.extend(sorted(p for p in jvm_root.iterdir() if (p / "bin" / "java").exists()))
    # The Temurin JDK here is not registered with update-alternatives, so the listing above is
    # the main source; alternatives catch JDKs installed elsewhere.
    if shutil.which("update-alternatives"):
        proc = subprocess.run(
            ["update-alternatives", "--list", "java"], capture_output=True, text=True, check=False
        )
        for line in proc.stdout.splitlines():
            java = Path(line.strip())
            if java.name == "java" and java.parent.name == "bin":
                homes.append(java.parent.parent)

    best: tuple[int, Path] | None = None
    seen: set[Path] = set()
    for home in homes:
        real = home.resolve()
        if real in seen:
            continue
        seen.add(real)
        major = _java_major(real / "bin" / "java")
        if major is not None and major >= MIN_JAVA and (best is None or major > best[0]):
            best = (major, real)
    if best is None:
        raise ElasticsearchStartError(
            f"no Java {MIN_JAVA}+ found under /usr/lib/jvm or in update-alternatives; install a "
            f"JDK {MIN_JAVA}+ or set ES_JAVA_HOME"
        )
    return best[1]


# --------------------------------------------------------------------------- service user


def _es_user() -> pwd.struct_passwd:
    """The unprivileged account Elasticsearch runs as when we are root (created if absent)."""
    try:
        return pwd.getpwnam(ES_USER)
    except KeyError:
        pass
    proc = subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", ES_USER],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        # A parallel session may have created it between our lookup and useradd.
        return pwd.getpwnam(ES_USER)
    except KeyError:
        raise ElasticsearchStartError(
            f"cannot create user {ES_USER} to run Elasticsearch (it refuses root): "
            f"{proc.stderr.strip()}"
        ) from None


def _chown_tree(path: Path, user: pwd.struct_passwd) -> None:
    subprocess.run(["chown", "-R", f"{user.pw_uid}:{user.pw_gid}", str(path)], check=True)


def _make_traversable(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(path.stat().st_mode | 0o755)


def _user_can_use(user: pwd.struct_passwd, path: Path, *, write: bool) -> bool:
    """Ask the kernel (via runuser) whether ``user`` can reach ``path``: parents may be private."""
    test = ["test", "-x", str(path), "-a", "-w" if write else "-r", str(path)]
    proc = subprocess.run(["runuser", "-u", user.pw_name, "--", *test], check=False)
    return proc.returncode == 0


# --------------------------------------------------------------------------- processes


def _proc_start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22 (starttime) follows the parenthesised command name, which may contain spaces.
    fields = stat.rsplit(")", 1)[1].split()
    return fields[19] if len(fields) > 19 else None


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # A zombie has exited; nobody may reap it if PID 1 does not, so it counts as gone.
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _is_elasticsearch(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"org.elasticsearch" in cmdline


def _read_pid(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None


def stop(target: EsNode | Path | int, *, grace: float = STOP_GRACE) -> bool:
    """Stop a node given as EsNode, pidfile or pid: SIGTERM, then SIGKILL after ``grace`` seconds.

    Returns False when no Elasticsearch process was running there (a stale pidfile is ignored,
    and a pid now owned by some other program is never signalled)."""
    if isinstance(target, EsNode):
        target.stop(grace=grace)
        return True
    pid = _read_pid(target) if isinstance(target, Path) else target
    if pid is None or not _alive(pid) or not _is_elasticsearch(pid):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
    return True


def _reap_orphans(nodes_root: Path) -> None:
    """Stop test nodes whose owning process died without stopping them (e.g. a killed pytest)."""
    if not nodes_root.is_dir():
        return
    for node_dir in nodes_root.iterdir():
        owner_file = node_dir / "owner"
        if not owner_file.is_file():
            continue  # not a throwaway test node
        try:
            owner_pid_s, owner_start = owner_file.read_text().split()
            owner_pid = int(owner_pid_s)
        except (OSError, ValueError):
            continue
        if _alive(owner_pid) and _proc_start_time(owner_pid) == owner_start:
            continue
        stop(node_dir / "es.pid", grace=10)
        shutil.rmtree(node_dir, ignore_errors=True)


# --------------------------------------------------------------------------- start


def _http_json(url: str, timeout: float) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        data = json.loads(response.read().decode("utf-8"))
    assert isinstance(data, dict)
    return data


def _wait_healthy(url: str, pid_of: Callable[[], int | None], deadline: float) -> None:
    last_error = "no answer yet"
    while time.monotonic() < deadline:
        pid = pid_of()
        if pid is not None and not _alive(pid):
            raise ElasticsearchStartError("Elasticsearch exited during start-up")
        try:
            health = _http_json(f"{url}/_cluster/health?wait_for_status=yellow&timeout=5s", 10)
            if health.get("status") in ("yellow", "green"):
                return
            last_error = f"cluster status {health.get('status')}"
        except (OSError, urllib.error.URLError, ValueError) as err:
            last_error = str(err)
        time.sleep(0.5)
    raise ElasticsearchStartError(f"Elasticsearch not healthy at {url} in time ({last_error})")


def _settings(port: int, data_dir: Path, logs_dir: Path, cluster: str, home: Path) -> list[str]:
    settings = {
        "cluster.name": cluster,
        "node.name": cluster,
        "discovery.type": "single-node",
        "xpack.security.enabled": "false",
        "http.host": "127.0.0.1",
        "http.port": str(port),
        "transport.host": "127.0.0.1",
        "path.data": str(data_dir),
        "path.logs": str(logs_dir),
        "cluster.routing.allocation.disk.threshold_enabled": "false",
        # Tests delete their indices by pattern ({prefix}-*).
        "action.destructive_requires_name": "false",
    }
    # Unknown settings abort start-up, so only switch off modules this distribution has.
    if (home / "modules" / "x-pack-ml").is_dir():
        settings["xpack.ml.enabled"] = "false"
    args: list[str] = []
    for key, value in settings.items():
        args += ["-E", f"{key}={value}"]
    return args


def _claim_node_dir(base: Path, nodes_root: Path, name: str, node_dir: Path | None) -> Path:
    """Reap orphaned test nodes, then create the node directory (``None``: a fresh throwaway one,
    which records its owning process)."""
    ephemeral = node_dir is None
    with _locked(base / ".nodes.lock"):
        _reap_orphans(nodes_root)
        if node_dir is None:
            node_dir = nodes_root / f"{name}-{secrets.token_hex(4)}"
        node_dir.mkdir(parents=True, exist_ok=True)
        if ephemeral:
            me = os.getpid()
            (node_dir / "owner").write_text(f"{me} {_proc_start_time(me)}\n")
    return node_dir


def _node_layout(
    home: Path, node_dir: Path, data_dir: Path | None
) -> tuple[Path, Path, Path, Path]:
    """Create the node's config, logs, tmp and data directories and return them in that order."""
    config_dir = node_dir / "config"
    if not (config_dir / "elasticsearch.yml").is_file():
        shutil.rmtree(config_dir, ignore_errors=True)
        # Each node gets its own config: start-up writes a keystore there, and nodes share home.
        shutil.copytree(home / "config", config_dir)
    logs_dir = node_dir / "logs"
    tmp_dir = node_dir / "tmp"
    for d in (logs_dir, tmp_dir):
        d.mkdir(exist_ok=True)
    data = (data_dir or node_dir / "data").resolve()
    data.mkdir(parents=True, exist_ok=True)
    return config_dir, logs_dir, tmp_dir, data


def _hand_over(
    user: pwd.struct_passwd, node_dir: Path, data: Path, *, base: Path, home: Path, java_home: Path
) -> None:
    """Give the service user the node and data directories; check it can reach what it runs."""
    node_dir.chmod(0o755)
    _chown_tree(node_dir, user)
    _chown_tree(data, user)
    if not _user_can_use(user, data, write=True):
        raise ElasticsearchStartError(
            f"data directory {data} is not reachable by user {ES_USER} (a parent directory is "
            f"private); choose a data directory under {base} or another world-readable place"
        )
    for needed in (home / "bin" / "elasticsearch", java_home / "bin" / "java"):
        if not _user_can_use(user, needed, write=False):
            raise ElasticsearchStartError(
                f"{needed} is not reachable by user {ES_USER}; set NEWSMON_ES_WORKDIR to a "
                f"world-traversable directory"
            )


def _http_port(port: int | None) -> int:
    """The port to listen on: a free one for ``None``, else ``port`` if nothing listens there."""
    if port is None:
        return free_port()
    if _port_in_use(port):
        raise ElasticsearchStartError(f"port {port} on 127.0.0.1 is already in use")
    return port


def start(
    *,
    port: int | None = None,
    data_dir: Path | None = None,
    name: str = "test",
    node_dir: Path | None = None,
    timeout: float = START_TIMEOUT,
) -> EsNode:
    """Start a single-node Elasticsearch on 127.0.0.1 and wait until it is healthy (yellow).

    ``port=None`` picks a free port. ``data_dir=None`` keeps data in a throwaway node directory
    that :meth:`EsNode.stop` deletes. ``node_dir`` (config, logs, pidfile) defaults to a fresh
    directory under :func:`workdir`; pass a fixed one to keep a node's config between restarts."""
    began = time.monotonic()
    home = ensure_distribution()
    java_home = find_java()
    root = _is_root()
    user = _es_user() if root else None
    base = workdir()
    nodes_root = base / "nodes"
    if root:
        _make_traversable(base)
        _make_traversable(nodes_root)
    nodes_root.mkdir(parents=True, exist_ok=True)

    ephemeral = node_dir is None
    node_dir = _claim_node_dir(base, nodes_root, name, node_dir)
    config_dir, logs_dir, tmp_dir, data = _node_layout(home, node_dir, data_dir)
    pidfile = node_dir / "es.pid"
    pidfile.unlink(missing_ok=True)

    if user is not None:
        _hand_over(user, node_dir, data, base=base, home=home, java_home=java_home)

    port = _http_port(port)
    url = f"http://127.0.0.1:{port}"
    cluster = f"newsmon-{node_dir.name}"
    log_file = logs_dir / f"{cluster}.log"
    env = {
        "PATH": _SAFE_PATH,
        "HOME": str(node_dir),
        "LANG": "C.UTF-8",
        "ES_JAVA_HOME": str(java_home),
        "ES_JAVA_OPTS": HEAP_OPTS,
        "ES_PATH_CONF": str(config_dir),
        "ES_TMPDIR": str(tmp_dir),
    }
    command = [
        str(home / "bin" / "elasticsearch"),
        "-d",
        "-p",
        str(pidfile),
        *_settings(port, data, logs_dir, cluster, home),
    ]
    if user is not None:
        # env -i: hand the service user a clean, explicit environment whatever runuser keeps.
        command = [
            "runuser",
            "-u",
            user.pw_name,
            "--",
            "env",
            "-i",
            *(f"{k}={v}" for k, v in env.items()),
            *command,
        ]
    _say(f"starting Elasticsearch {ES_VERSION} on {url} (Java: {java_home})…")
    deadline = time.monotonic() + timeout
    console = logs_dir / "console.log"

    def failure(reason: str) -> ElasticsearchStartError:
        pid = _read_pid(pidfile)
        if pid is not None:
            stop(pid, grace=5)
        cause = _reason(console, log_file)
        tail = _tail(log_file) or _tail(console)
        return ElasticsearchStartError(
            f"{reason}"
            + (f" ({cause})" if cause else "")
            + f"; logs in {logs_dir}"
            + (f"\n--- last log lines ---\n{tail}" if tail else "")
        )

    with console.open("wb") as out:
        try:
            # -d returns once the node has started (or failed); its stdio goes to console.log.
            proc = subprocess.run(
                command,
                cwd=logs_dir,  # jvm.options puts gc.log and crash files in the working directory
                env=env if user is None else {"PATH": _SAFE_PATH},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=max(deadline - time.monotonic(), 1),
                # Own session: a Ctrl-C in the terminal that ran `make up` must not kill it.
                start_new_session=True,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise failure(f"Elasticsearch did not start within {timeout:.0f} s") from None
    if proc.returncode != 0:
        raise failure(f"bin/elasticsearch exited with {proc.returncode}")
    try:
        _wait_healthy(url, lambda: _read_pid(pidfile), deadline)
    except ElasticsearchStartError as err:
        raise failure(str(err)) from None
    pid = _read_pid(pidfile)
    if pid is None:
        raise failure("Elasticsearch wrote no pidfile")
    _say(f"Elasticsearch {ES_VERSION} ready on {url} in {time.monotonic() - began:.1f} s")
    return EsNode(
        url=url,
        port=port,
        pid=pid,
        home=home,
        node_dir=node_dir,
        data_dir=data,
        log_file=log_file,
        ephemeral=ephemeral,
    )


# --------------------------------------------------------------------------- test clean-up


def delete_prefixed(client: Elasticsearch, prefix: str) -> None:
    """Delete every index, index template and component template named ``{prefix}-*``."""
    from elasticsearch import NotFoundError

    pattern = f"{prefix}-*"
    # Resolve names first: a shared server may forbid wildcard deletes
    # (action.destructive_requires_name defaults to true).
    indices = list(client.indices.get(index=pattern, expand_wildcards="all"))
    if indices:
        client.indices.delete(index=",".join(indices), ignore_unavailable=True)
    # Index templates go before component templates: a component template in use cannot go.
    with contextlib.suppress(NotFoundError):
        found = client.indices.get_index_template(name=pattern)
        for template in found.get("index_templates", []):
            client.indices.delete_index_template(name=template["name"])
    with contextlib.suppress(NotFoundError):
        found = client.cluster.get_component_template(name=pattern)
        for template in found.get("component_templates", []):
            client.cluster.delete_component_template(name=template["name"])
    with contextlib.suppress(NotFoundError):
        for name in client.indices.get_template(name=pattern):
            client.indices.delete_template(name=name)


# --------------------------------------------------------------------------- CLI


def _state_file(run_dir: Path) -> Path:
    return run_dir / "elasticsearch.json"


def _load_state(run_dir: Path) -> dict[str, Any] | None:
    try:
        state = json.loads(_state_file(run_dir).read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def _live(state: dict[str, Any] | None) -> dict[str, Any] | None:
    pid = state.get("pid") if state else None
    if isinstance(pid, int) and _alive(pid) and _is_elasticsearch(pid):
        return state
    return None


def _local_node_dir(data: Path) -> Path:
    """One stable node dir per data dir: it keeps the node's config (and keystore) across runs."""
    key = hashlib.sha256(str(data.resolve()).encode()).hexdigest()[:10]
    return workdir() / "nodes" / f"local-{key}"


def _find_running(args: argparse.Namespace) -> dict[str, Any] | None:
    """The node started for this run dir, or for this data dir if var/ was wiped meanwhile."""
    return _live(_load_state(args.run_dir.resolve())) or _live(
        _load_state(_local_node_dir(args.data))
    )


def _cli_start(args: argparse.Namespace) -> int:
    run_dir: Path = args.run_dir.resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    state = _find_running(args)
    if state is None:
        data_dir: Path = args.data.resolve()
        node_dir = _local_node_dir(data_dir)
        if _is_root():
            user = _es_user()
            data_dir.mkdir(parents=True, exist_ok=True)
            _chown_tree(data_dir, user)
            if not _user_can_use(user, data_dir, write=True):
                # The checkout sits in a private directory (mktemp -d): keep data where the
                # service user can reach it rather than fail.
                data_dir = workdir() / "data" / node_dir.name.removeprefix("local-")
                _say(f"{args.data} is not reachable by user {ES_USER}; keeping data in {data_dir}")
        node = start(port=args.port, data_dir=data_dir, name="local", node_dir=node_dir)
        state = {
            "url": node.url,
            "pid": node.pid,
            "node_dir": str(node.node_dir),
            "data_dir": str(node.data_dir),
            "log_file": str(node.log_file),
            "version": ES_VERSION,
        }
        _state_file(node_dir).write_text(json.dumps(state, indent=2) + "\n")
    _state_file(run_dir).write_text(json.dumps(state, indent=2) + "\n")
    (run_dir / "elasticsearch.pid").write_text(f"{state['pid']}\n")
    print(state["url"])
    return 0


def _cli_stop(args: argparse.Namespace) -> int:
    run_dir: Path = args.run_dir.resolve()
    state = _find_running(args)
    pid = state["pid"] if state else _read_pid(run_dir / "elasticsearch.pid")
    stopped = isinstance(pid, int) and stop(pid)
    for stale in (
        _state_file(run_dir),
        run_dir / "elasticsearch.pid",
        _state_file(_local_node_dir(args.data)),
    ):
        stale.unlink(missing_ok=True)
    print("Elasticsearch stopped" if stopped else "Elasticsearch was not running")
    return 0


def _cli_status(args: argparse.Namespace) -> int:
    state = _find_running(args)
    if state is None:
        print("Elasticsearch is not running")
        return 1
    try:
        health = _http_json(f"{state['url']}/_cluster/health", 5)
        status = health.get("status", "unknown")
    except (OSError, urllib.error.URLError, ValueError) as err:
        status = f"not answering ({err})"
    print(f"Elasticsearch {state.get('version')} at {state['url']} (pid {state['pid']}): {status}")
    print(f"  data: {state.get('data_dir')}  log: {state.get('log_file')}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: fetch | start | stop | status."""
    parser = argparse.ArgumentParser(
        prog="python -m localdev.elasticsearch",
        description=f"Local single-node Elasticsearch {ES_VERSION} for development and tests.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("fetch", help="download and unpack the distribution")
    for name in ("start", "stop", "status"):
        cmd = sub.add_parser(name)
        cmd.add_argument(
            "--run-dir", type=Path, default=Path("var"), help="where the pid/state files live"
        )
        cmd.add_argument("--data", type=Path, default=Path("var/es"), help="data directory")
        if name == "start":
            cmd.add_argument("--port", type=int, default=9200)
    args = parser.parse_args(argv)
    try:
        if args.command == "fetch":
            print(ensure_distribution())
            return 0
        if args.command == "start":
            return _cli_start(args)
        if args.command == "stop":
            return _cli_stop(args)
        return _cli_status(args)
    except ElasticsearchStartError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
