"""A small client of the Airflow 3 REST API v2, shared by the `make up` stack and the Celery stack.

Authentication is the simple auth manager's: ``POST /auth/token`` with the generated ``admin``
password (or any password in all-admins mode) gives a JWT, renewed once when a call answers 401.
The test-only stacks need a handful of calls (health, DAGs, trigger, wait, clear); the
`apache-airflow-client` package would pin its own Airflow API version and pydantic models for
that, so these few calls are written here over httpx.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

__all__ = ["DB_RETRIES", "SCHEDULER_PARTS", "AirflowApi", "AirflowApiError"]

SCHEDULER_PARTS = ("metadatabase", "scheduler", "dag_processor")
DB_RETRIES = 5  # `AirflowApi.call`: tries again on a metadatabase error


def _database_busy(response: httpx.Response) -> bool:
    """Airflow's answer to a metadatabase error: HTTP 500, detail reason "Database error"."""
    if response.status_code != 500:
        return False
    with contextlib.suppress(ValueError, KeyError, TypeError):
        return bool(response.json()["detail"]["reason"] == "Database error")
    return False


class AirflowApiError(RuntimeError):
    """An Airflow REST call failed or a run did not succeed; the message says which and why."""


@dataclass
class AirflowApi:
    """The REST API of one Airflow api-server, with a JWT from ``POST /auth/token``.

    ``error`` is the exception type raised, so each stack reports API failures as its own error.
    """

    url: str
    airflow_home: Path
    error: type[RuntimeError] = AirflowApiError
    poll_every: float = 1.0  # seconds between run-state checks in `wait_for_run`
    retry_pause: float = 1.0  # seconds before `call` tries again after a metadatabase error
    _token: str | None = field(default=None, repr=False)

    def password(self) -> str | None:
        """The generated password of ``admin`` (none in all-admins mode)."""
        path = self.airflow_home / "simple_auth_manager_passwords.json.generated"
        with contextlib.suppress(OSError, ValueError, KeyError):
            return str(json.loads(path.read_text())["admin"])
        return None

    def get_public(self, path: str) -> Any:
        """An unauthenticated GET (version, health); raises httpx errors while starting up."""
        response = httpx.get(self.url + path, timeout=10)
        response.raise_for_status()
        return response.json()

    def token(self) -> str:
        if self._token is None:
            # In all-admins mode the endpoint ignores the credentials and returns an admin token.
            body = {"username": "admin", "password": self.password() or "-"}
            response = httpx.post(f"{self.url}/auth/token", json=body, timeout=30)
            if response.is_error:
                raise self.error(f"Airflow login: HTTP {response.status_code}: {response.text}")
            self._token = str(response.json()["access_token"])
        return self._token

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """One API call; the decoded JSON. An HTTP error raises `error`.

        A 401 logs in again once. A 500 "Database error" is made again, up to `DB_RETRIES`
        times `retry_pause` apart: standalone's SQLite metadatabase is locked while the scheduler
        writes (CI once failed `make up` on it), and the failed call's transaction was rolled
        back, so nothing it asked for happened yet.
        """
        relogged, busy = False, 0
        while True:
            response = httpx.request(
                method,
                self.url + path,
                json=body,
                headers={"Authorization": f"Bearer {self.token()}"},
                timeout=30,
            )
            if response.status_code == 401 and not relogged:
                relogged, self._token = True, None  # expired: log in again
                continue
            if _database_busy(response) and busy < DB_RETRIES:
                busy += 1
                time.sleep(self.retry_pause)
                continue
            if response.is_error:
                raise self.error(
                    f"{method} {path}: HTTP {response.status_code}: {response.text[:500]}"
                )
            return response.json() if response.content else None

    def healthy(self, parts: Sequence[str] = (*SCHEDULER_PARTS, "triggerer")) -> bool:
        health = self.get_public("/api/v2/monitor/health")
        return all(health.get(part, {}).get("status") == "healthy" for part in parts)

    def active_dags(self) -> list[str]:
        """Ids of the parsed, unpaused DAGs; raises `error` on any DAG import error."""
        errors = self.call("GET", "/api/v2/importErrors")
        if errors.get("total_entries"):
            raise self.error(f"DAG import errors: {errors['import_errors']}")
        dags = self.call("GET", "/api/v2/dags?limit=100")["dags"]
        return sorted(d["dag_id"] for d in dags if not d["is_paused"])

    def trigger(self, dag_id: str, conf: Mapping[str, Any] | None = None) -> str:
        """A manual run now; returns its run id."""
        body: dict[str, Any] = {"logical_date": None, "conf": dict(conf or {})}
        return str(self.call("POST", f"/api/v2/dags/{dag_id}/dagRuns", body)["dag_run_id"])

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        found = self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns?limit=100&order_by=run_after")
        return list(found["dag_runs"])

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=1000"
        return list(self.call("GET", path)["task_instances"])

    def _ti_states(self, dag_id: str, run_id: str) -> list[tuple[str, int, str | None]]:
        with contextlib.suppress(RuntimeError, OSError):
            return [
                (t["task_id"], t["map_index"], t["state"])
                for t in self.task_instances(dag_id, run_id)
            ]
        return []

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float) -> dict[str, Any]:
        """Wait until the run ended; raises `error` unless it succeeded in time."""
        deadline = time.monotonic() + timeout
        while True:
            run: dict[str, Any] = self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
            if run["state"] in ("success", "failed"):
                break
            if time.monotonic() > deadline:
                raise self.error(
                    f"{dag_id} run {run_id} still {run['state']} after {timeout:.0f} s: "
                    f"{self._ti_states(dag_id, run_id)}"
                )
            time.sleep(self.poll_every)
        if run["state"] != "success":
            raise self.error(f"{dag_id} run {run_id} failed: {self._ti_states(dag_id, run_id)}")
        return run

    def clear(self, dag_id: str, run_id: str, task_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Clear tasks of a run (they run again, as "Clear" in the UI does)."""
        body = {
            "dry_run": False,
            "dag_run_id": run_id,
            "task_ids": list(task_ids),
            "only_failed": False,
            "reset_dag_runs": True,
        }
        found = self.call("POST", f"/api/v2/dags/{dag_id}/clearTaskInstances", body)
        return list(found["task_instances"])
