"""Reading the configuration's YAML files: one-line errors naming the file and key."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

__all__ = ["ConfigError", "all_errors", "parse_duration", "read_yaml", "topic_labels", "validate"]

_M = TypeVar("_M", bound=BaseModel)
_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class ConfigError(ValueError):
    """A configuration problem, phrased as one line naming the file and key."""


def parse_duration(value: str | int) -> int:
    """'10m' -> 600 seconds; plain integers are seconds."""
    if isinstance(value, int):
        return value
    m = _DURATION.match(value)
    if not m:
        raise ValueError(f"{value!r} is not a duration like 30s, 10m, 2h or 1d")
    return int(m.group(1)) * _UNIT_SECONDS[m.group(2)]


def topic_labels(path: Path) -> dict[str, str]:
    """Topic id -> its `name` in topics.yaml, for e-mails; {} when the file is missing or odd
    (an e-mail then shows the ids; the tagger reports a broken file itself)."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return {}
    topics = raw.get("topics") if isinstance(raw, dict) else None
    if not isinstance(topics, dict):
        return {}
    return {
        str(k): str(v["name"])
        for k, v in topics.items()
        if isinstance(v, dict) and isinstance(v.get("name"), str)
    }


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    try:
        return yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "?"
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{path}: {where}: invalid YAML: {problem}") from None


def validate(model: type[_M], path: Path, data: Any) -> _M:
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    try:
        return model.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        msg = str(err["msg"]).removeprefix("Value error, ")
        more = f" (and {e.error_count() - 1} more)" if e.error_count() > 1 else ""
        raise ConfigError(f"{path}: {_loc(tuple(err['loc']))}: {msg}{more}") from None


def all_errors(model: type[_M], path: Path, data: Any) -> tuple[_M | None, list[str]]:
    """Like `_validate`, but every problem, one line each."""
    if not isinstance(data, dict):
        return None, [f"{path}: expected a mapping at the top level"]
    try:
        return model.model_validate(data), []
    except ValidationError as e:
        return None, [
            f"{path}: {_loc(tuple(err['loc']))}: {str(err['msg']).removeprefix('Value error, ')}"
            for err in e.errors()
        ]
