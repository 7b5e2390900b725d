"""docker-compose.yml as Compose reads it: ${VAR} interpolation with a sample .env."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Compose-style ${VAR}, ${VAR:-default}, ${VAR:?error} and $$ substitution."""

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name, op, arg = m.group(1), m.group(2), m.group(3)
        value = env.get(name)
        if op in (":-", "-"):
            return value if value or (op == "-" and value is not None) else arg
        if op in (":?", "?") and not value:
            raise KeyError(f"{name}: {arg}")
        return value or ""

    return _VAR.sub(sub, text)


def sample_env() -> dict[str, str]:
    """Every variable the compose file requires, as the .env template in the docs lists them."""
    return {
        "ELASTIC_PASSWORD": "elasticpw1",
        "KIBANA_PASSWORD": "kibanapw1",
        "KIBANA_ENCRYPTION_KEY": "k" * 32,
        "NEWSMON_ES_PASSWORD": "newsmonpw1",
        "POSTGRES_PASSWORD": "pgpw1",
        "AIRFLOW_JWT_SECRET": "jwt",
        "AIRFLOW_SECRET_KEY": "sk",
        "AIRFLOW_ADMIN_PASSWORD": "adminpw1",
        "NEWSMON_SUBSCRIBERS_FILE": "./config/subscribers.yaml",
    }


def resolved(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The compose file after interpolation, as YAML data."""
    text = interpolate(COMPOSE.read_text(encoding="utf-8"), env or sample_env())
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data
