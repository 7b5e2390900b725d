"""Load newsmon's Kibana saved objects (data view, searches, dashboard) through Kibana's API.

The shipped NDJSON is written for the default index prefix `newsmon`; another prefix gets its
data view retitled so Kibana points at that installation's stories. Kibana cannot run on the
development machine, so only the pure rewrite is tested there; the import call is Kibana's
documented `POST /api/saved_objects/_import?overwrite=true`.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from monitor.config import ElasticsearchSettings
from monitor.resources import KIBANA_SAVED_OBJECTS_NAME, kibana_saved_objects

DEFAULT_PREFIX = "newsmon"


class KibanaError(RuntimeError):
    """Kibana refused the import or could not be reached (one line)."""


def objects_for_prefix(ndjson: str, prefix: str) -> str:
    """The saved objects with every `newsmon-stories` index pattern moved to `{prefix}-stories`."""
    if prefix == DEFAULT_PREFIX:
        return ndjson
    out = []
    for line in ndjson.splitlines():
        if not line.strip():
            continue
        obj = json.loads(line)
        if obj.get("type") == "index-pattern":
            attrs = obj["attributes"]
            attrs["title"] = attrs["title"].replace(
                f"{DEFAULT_PREFIX}-stories", f"{prefix}-stories"
            )
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
            f"Kibana refused the saved objects: HTTP {resp.status_code} {resp.text[:200]}"
        )
    result = resp.json()
    return {"success": bool(result.get("success")), "imported": int(result.get("successCount", 0))}
