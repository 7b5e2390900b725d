"""The compose stack's Airflow login, exercised with the installed Airflow: the auth manager the
compose file names loads, and takes the password airflow-init writes from .env (none generated)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.compose_file import resolved, sample_env

PROBE = """
import json
from airflow.api_fastapi.app import create_auth_manager
m = create_auth_manager()
m.init()
print(json.dumps({
    "class": type(m).__module__ + "." + type(m).__name__,
    "users": [[u.username, u.role] for u in m.get_users()],
    "passwords": m.get_passwords(),
}))
"""


def test_compose_login_works_with_the_env_password(tmp_path: Path) -> None:
    env = {**sample_env(), "AIRFLOW_ADMIN_USER": "chief"}
    services = resolved(env)["services"]
    api_env = {k: str(v) for k, v in services["airflow-apiserver"]["environment"].items()}
    init_env = services["airflow-init"]["environment"]
    passwords = tmp_path / "auth" / "passwords.json"
    # airflow-init's step, with the container path moved into tmp_path.
    write = subprocess.run(
        [sys.executable, "-m", "monitor.airflow_auth", str(passwords)],
        env={
            **os.environ,
            "AIRFLOW_ADMIN_USER": init_env["AIRFLOW_ADMIN_USER"],
            "AIRFLOW_ADMIN_PASSWORD": init_env["AIRFLOW_ADMIN_PASSWORD"],
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert write.returncode == 0, write.stderr
    assert oct(passwords.stat().st_mode & 0o777) == "0o600"
    probe_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")},
        "AIRFLOW_HOME": str(tmp_path / "home"),
        "AIRFLOW__CORE__AUTH_MANAGER": api_env["AIRFLOW__CORE__AUTH_MANAGER"],
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": api_env[
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"
        ],
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
    }
    proc = subprocess.run(
        [sys.executable, "-c", PROBE],
        env=probe_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["class"] == api_env["AIRFLOW__CORE__AUTH_MANAGER"]
    assert result["users"] == [["chief", "admin"]]
    # The operator's password, and no generated one beside it.
    assert result["passwords"] == {"chief": "adminpw1"}
    assert "Password for user" not in proc.stdout


def test_auth_helper_refuses_an_empty_password(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "monitor.airflow_auth", str(tmp_path / "p.json")],
        env={k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_ADMIN")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr == "error: AIRFLOW_ADMIN_PASSWORD is empty: set it in .env\n"
    assert not (tmp_path / "p.json").exists()
