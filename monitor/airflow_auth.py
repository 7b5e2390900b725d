"""The Airflow login of the docker-compose stack: the simple auth manager with a password from .env.

Airflow's simple auth manager reads ``{user: password}`` from a JSON file and generates (and
logs) a random password for any configured user missing from it. The compose file's one-shot
`airflow-init` writes the file from ``AIRFLOW_ADMIN_USER`` and ``AIRFLOW_ADMIN_PASSWORD`` first,
so the login is the one the operator chose and nothing is generated:

    python -m monitor.airflow_auth /opt/airflow/auth/passwords.json

The FAB auth manager would need the FAB provider, which is in none of newsmon's extras.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

__all__ = ["SIMPLE_AUTH_MANAGER", "write_passwords"]

SIMPLE_AUTH_MANAGER = (
    "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
)


def write_passwords(path: Path, user: str, password: str) -> None:
    """Write the passwords file (owner read/write only), replacing any earlier one."""
    if not user or ":" in user or "," in user:
        raise ValueError(f"AIRFLOW_ADMIN_USER: {user!r} must be a non-empty name without : or ,")
    if not password:
        raise ValueError("AIRFLOW_ADMIN_PASSWORD is empty: set it in .env")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(json.dumps({user: password}) + "\n")
    tmp.replace(path)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write("usage: python -m monitor.airflow_auth PASSWORDS_FILE\n")
        return 2
    try:
        write_passwords(
            Path(argv[0]),
            os.environ.get("AIRFLOW_ADMIN_USER") or "admin",
            os.environ.get("AIRFLOW_ADMIN_PASSWORD") or "",
        )
    except (ValueError, OSError) as e:
        sys.stderr.write(f"error: {e}\n")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
