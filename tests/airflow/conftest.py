"""Airflow test set-up: a throw-away AIRFLOW_HOME, so no test reads or writes ~/airflow."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DAGS_DIR = REPO_ROOT / "dags"


@pytest.fixture(scope="session", autouse=True)
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh AIRFLOW_HOME for the session; Airflow must not have been imported before it."""
    home = tmp_path_factory.mktemp("airflow_home")
    if "airflow.configuration" in sys.modules and os.environ.get("AIRFLOW_HOME") != str(home):
        # Airflow reads AIRFLOW_HOME once, at import; a late change would silently not apply.
        pytest.fail(
            "airflow was imported before the airflow_home fixture ran; import it inside tests",
            pytrace=False,
        )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIRFLOW_HOME", str(home))
        mp.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(DAGS_DIR))
        mp.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
        yield home
