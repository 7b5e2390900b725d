"""newsmon's Kibana saved objects (data views, searches, visualisations, dashboard) and links.

The shipped NDJSON is written for the default index prefix `newsmon`. `objects_for_prefix` moves
every object to another prefix: ids and references (so two installations share one Kibana
without overwriting each other), data view index patterns, and titles. `newsmon init`,
`newsmon kibana import` and the docker-compose import all go through `import_saved_objects`, so
the prefix is applied the same way everywhere. Kibana cannot run on the development machine:
the import request is tested against a local HTTP server that records it, and the call is
Kibana's documented ``POST /api/saved_objects/_import?overwrite=true``.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from monitor.config import ElasticsearchSettings
from monitor.resources import KIBANA_SAVED_OBJECTS_NAME, kibana_saved_objects

__all__ = [
    "DEFAULT_PREFIX",
    "KibanaError",
    "discover_url",
    "import_saved_objects",
    "objects_for_prefix",
    "rison",
    "stories_view_id",
]

DEFAULT_PREFIX = "newsmon"


class KibanaError(RuntimeError):
    """Kibana refused the import or could not be reached (one line)."""


def stories_view_id(prefix: str) -> str:
    """The id of the stories data view (publish time) for an index prefix."""
    return f"{prefix}-stories"


def _moved(value: str, prefix: str) -> str:
    head = f"{DEFAULT_PREFIX}-"
    return f"{prefix}-{value[len(head) :]}" if value.startswith(head) else value


def _retitled(title: str, prefix: str) -> str:
    if title.startswith(f"{DEFAULT_PREFIX} "):
        return prefix + title[len(DEFAULT_PREFIX) :]
    return f"{title} ({prefix})"


def objects_for_prefix(ndjson: str, prefix: str) -> str:
    """The saved objects moved from the `newsmon` prefix to `prefix` (unchanged for `newsmon`).

    Every object's id and every reference start with the prefix; data views point at
    ``{prefix}-stories*`` and ``{prefix}-feeds``; titles name the prefix so Kibana's lists tell
    installations apart.
    """
    if prefix == DEFAULT_PREFIX:
        return ndjson
    out = []
    for line in ndjson.splitlines():
        if not line.strip():
            continue
        obj = json.loads(line)
        obj["id"] = _moved(obj["id"], prefix)
        for ref in obj.get("references", []):
            ref["id"] = _moved(ref["id"], prefix)
        attrs = obj["attributes"]
        if obj.get("type") == "index-pattern":
            attrs["title"] = _moved(attrs["title"], prefix)
            if "name" in attrs:
                attrs["name"] = _retitled(attrs["name"], prefix)
        else:
            attrs["title"] = _retitled(attrs["title"], prefix)
        out.append(json.dumps(obj, ensure_ascii=False))
    return "\n".join(out) + "\n"


def import_saved_objects(
    kibana_url: str, prefix: str, es: ElasticsearchSettings, timeout: float = 30.0
) -> dict[str, Any]:
    """Import (overwrite) the saved objects; Kibana takes the same credentials as Elasticsearch."""
    body = objects_for_prefix(kibana_saved_objects(), prefix)
    headers = {"kbn-xsrf": "newsmon"}
    auth: tuple[str, str] | None = None
    if es.api_key:
        headers["Authorization"] = f"ApiKey {es.api_key}"
    elif es.username:
        auth = (es.username, es.password or "")
    url = kibana_url.rstrip("/") + "/api/saved_objects/_import?overwrite=true"
    try:
        resp = httpx.post(
            url,
            headers=headers,
            auth=auth,
            files={"file": (KIBANA_SAVED_OBJECTS_NAME, body.encode(), "application/ndjson")},
            timeout=timeout,
            verify=es.ca_certs or True,
        )
    except httpx.HTTPError as e:
        raise KibanaError(
            f"cannot reach Kibana at {kibana_url}: {e} (set NEWSMON_KIBANA_URL)"
        ) from None
    if resp.status_code != 200:
        raise KibanaError(
            f"Kibana at {kibana_url} refused the saved objects: HTTP {resp.status_code} "
            f"{' '.join(resp.text[:200].split())} (check NEWSMON_KIBANA_URL and the credentials)"
        )
    try:
        result = resp.json()
    except ValueError:
        raise KibanaError(
            f"{kibana_url} answered the import with something other than JSON: is it Kibana? "
            "(check NEWSMON_KIBANA_URL)"
        ) from None
    if not result.get("success"):
        errors = [
            f"{e.get('type')}/{e.get('id')}: {e.get('error', {}).get('type')}"
            for e in result.get("errors", [])
        ]
        raise KibanaError(f"Kibana refused some saved objects: {'; '.join(errors)[:300]}")
    return {"success": True, "imported": int(result.get("successCount", 0))}


# ---- Discover links ---------------------------------------------------------------------

_RISON_ID = re.compile(r"^[A-Za-z_./~][A-Za-z0-9_./~-]*$")


def rison(value: Any) -> str:
    """Rison, the URL-friendly JSON Kibana's app state is written in."""
    if value is None:
        return "!n"
    if value is True:
        return "!t"
    if value is False:
        return "!f"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        if _RISON_ID.match(value):
            return value
        return "'" + value.replace("!", "!!").replace("'", "!'") + "'"
    if isinstance(value, list | tuple):
        return "!(" + ",".join(rison(v) for v in value) + ")"
    if isinstance(value, dict):
        return "(" + ",".join(f"{rison(str(k))}:{rison(v)}" for k, v in value.items()) + ")"
    raise TypeError(f"rison: cannot encode {type(value).__name__}")


def _phrase(field: str, value: str) -> str:
    return f'{field}:"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def discover_url(
    kibana_url: str,
    prefix: str,
    *,
    query: str = "",
    topic: str | None = None,
    person: str | None = None,
    lang: str | None = None,
    since: datetime | None = None,
    unique: bool = False,
) -> str:
    """The Kibana Discover URL showing the same stories as a `newsmon search` (Lucene query).

    Discover cannot collapse events, so ``unique`` shows first copies (``is_primary:true``).
    Without ``since`` the time range is the last ten years, i.e. everything retention keeps.
    """
    parts = [f"({query})"] if query.strip() else []
    if topic:
        parts.append(_phrase("topics", topic))
    if person:
        parts.append(_phrase("people", person))
    if lang:
        parts.append(_phrase("lang", lang.lower()))
    if unique:
        parts.append("is_primary:true")
    start = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z") if since else "now-10y"
    g = {"time": {"from": start, "to": "now"}}
    a = {
        "dataSource": {"dataViewId": stories_view_id(prefix), "type": "dataView"},
        "query": {"language": "lucene", "query": " AND ".join(parts)},
        "sort": [["published", "desc"]],
    }
    safe = "!'():,*~-_./@$"
    return (
        f"{kibana_url.rstrip('/')}/app/discover#/"
        f"?_g={quote(rison(g), safe=safe)}&_a={quote(rison(a), safe=safe)}"
    )
