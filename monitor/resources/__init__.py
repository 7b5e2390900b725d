"""Files newsmon ships inside its package: Elasticsearch index templates and Kibana saved objects.

They are package data, read through `importlib.resources`, because an installed wheel (the
Docker image) has no repository around it: a path built from `__file__` up into `config/` points
into site-packages, where nothing is. This directory holds the only copy of each file;
`config/elasticsearch` and `config/kibana` are relative symlinks to it, so the repository layout
still shows them under `config/` and nothing can drift. docker-compose mounts the real directory
(`monitor/resources/kibana`), not the symlink, for its Kibana import container.
"""

from __future__ import annotations

import json
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any, Final

__all__ = [
    "INDEX_TEMPLATE_KINDS",
    "KIBANA_SAVED_OBJECTS_NAME",
    "index_template",
    "kibana_saved_objects",
]

INDEX_TEMPLATE_KINDS: Final = ("stories", "feeds", "deliveries")
KIBANA_SAVED_OBJECTS_NAME: Final = "newsmon.ndjson"


def _root() -> Traversable:
    return files(__name__)


def index_template(kind: str) -> dict[str, Any]:
    """The index template shipped for `kind` (stories, feeds or deliveries), as a fresh dict."""
    if kind not in INDEX_TEMPLATE_KINDS:
        raise ValueError(
            f"no index template {kind!r}: expected one of {', '.join(INDEX_TEMPLATE_KINDS)}"
        )
    text = (_root() / "elasticsearch" / f"{kind}.json").read_text(encoding="utf-8")
    body = json.loads(text)
    if not isinstance(body, dict):
        raise ValueError(f"index template {kind}.json: expected a JSON object")
    return body


def kibana_saved_objects() -> str:
    """The Kibana saved objects (data view, searches, dashboard) as NDJSON text."""
    return (_root() / "kibana" / KIBANA_SAVED_OBJECTS_NAME).read_text(encoding="utf-8")
