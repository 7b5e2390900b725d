"""Kibana saved objects for any index prefix, the import request, and Discover links."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from monitor.config import ElasticsearchSettings
from monitor.kibana import (
    KibanaError,
    discover_url,
    import_saved_objects,
    objects_for_prefix,
    rison,
)
from monitor.resources import kibana_saved_objects
from tests.recorder import RecordingServer

ROOT = Path(__file__).resolve().parents[2]
NEWSMON = Path(sys.executable).parent / "newsmon"


def _parse(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def newsmon(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("NEWSMON_")}
    return subprocess.run(
        [str(NEWSMON), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**base, "NEWSMON_CONFIG_DIR": str(ROOT / "config"), **env},
        cwd=ROOT,
    )


def test_default_prefix_is_shipped_unchanged() -> None:
    text = kibana_saved_objects()
    assert objects_for_prefix(text, "newsmon") == text


def test_prefix_rewrite_covers_every_object() -> None:
    original = _parse(kibana_saved_objects())
    moved_text = objects_for_prefix(kibana_saved_objects(), "desk2")
    moved = _parse(moved_text)
    assert len(moved) == len(original) >= 15
    # Nothing of the default prefix is left anywhere: ids, references, patterns, titles.
    assert "newsmon" not in moved_text
    ids = {(o["type"], o["id"]) for o in moved}
    for before, after in zip(original, moved, strict=True):
        assert after["id"] == "desk2-" + before["id"].removeprefix("newsmon-")
        assert after["attributes"]["title"] != before["attributes"]["title"], after["id"]
        assert len(after["references"]) == len(before["references"])
        for ref in after["references"]:
            assert (ref["type"], ref["id"]) in ids, f"{after['id']}: dangling {ref}"
        # Only ids, references and titles change.
        rest = {k: v for k, v in after["attributes"].items() if k not in ("title", "name")}
        assert rest == {k: v for k, v in before["attributes"].items() if k not in ("title", "name")}
    patterns = {o["id"]: o["attributes"]["title"] for o in moved if o["type"] == "index-pattern"}
    assert patterns == {
        "desk2-stories": "desk2-stories*",
        "desk2-stories-indexed": "desk2-stories*",
        "desk2-feeds": "desk2-feeds",
    }


def test_export_prints_what_init_imports() -> None:
    proc = newsmon("kibana", "export", "--prefix", "desk2")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == objects_for_prefix(kibana_saved_objects(), "desk2")
    from_env = newsmon("kibana", "export", NEWSMON_INDEX_PREFIX="desk3")
    assert _parse(from_env.stdout)[0]["id"].startswith("desk3-")
    bad = newsmon("kibana", "export", "--prefix", "Desk 2")
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1
    assert "must be lower-case letters, digits, - or _" in bad.stderr


def test_import_request_is_well_formed() -> None:
    reply = b'{"success": true, "successCount": 17}'
    with RecordingServer(body=reply) as kibana:
        proc = newsmon(
            "kibana",
            "import",
            "--json",
            NEWSMON_KIBANA_URL=kibana.url + "/",
            NEWSMON_INDEX_PREFIX="desk2",
            NEWSMON_ES_USERNAME="elastic",
            NEWSMON_ES_PASSWORD="pw:with colon",
        )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"success": True, "imported": 17}
    [req] = kibana.requests
    assert req.method == "POST"
    assert req.path == "/api/saved_objects/_import"
    assert req.query == {"overwrite": ["true"]}
    assert req.headers["kbn-xsrf"]
    creds = base64.b64decode(req.headers["authorization"].removeprefix("Basic ")).decode()
    assert creds == "elastic:pw:with colon"
    assert req.headers["content-type"].startswith("multipart/form-data; boundary=")
    parts = req.form_parts()
    assert set(parts) == {"file"}
    upload = parts["file"]
    assert upload.get_filename() == "newsmon.ndjson"
    assert upload.get_content_type() == "application/ndjson"
    payload = upload.get_payload(decode=True)
    assert isinstance(payload, bytes)
    assert payload.decode() == objects_for_prefix(kibana_saved_objects(), "desk2")


def test_import_refusals_are_one_line() -> None:
    es = ElasticsearchSettings(url="http://127.0.0.1:9", api_key="k1")
    with RecordingServer(status=403, body=b'{"message": "forbidden"}') as kibana:
        with pytest.raises(KibanaError, match="HTTP 403") as info:
            import_saved_objects(kibana.url, "newsmon", es)
        assert kibana.requests[0].headers["authorization"] == "ApiKey k1"
    assert "\n" not in str(info.value)
    partial = json.dumps(
        {
            "success": False,
            "successCount": 1,
            "errors": [{"type": "lens", "id": "x", "error": {"type": "missing_references"}}],
        }
    ).encode()
    with (
        RecordingServer(body=partial) as kibana,
        pytest.raises(KibanaError, match="lens/x: missing_references"),
    ):
        import_saved_objects(kibana.url, "newsmon", es)
    with (
        RecordingServer(body=b"<html>hi</html>", content_type="text/html") as kibana,
        pytest.raises(KibanaError, match="is it Kibana"),
    ):
        import_saved_objects(kibana.url, "newsmon", es)


def test_import_without_kibana_url_says_what_to_set() -> None:
    proc = newsmon("kibana", "import")
    assert proc.returncode == 2
    assert "NEWSMON_KIBANA_URL is not set" in proc.stderr


def test_rison() -> None:
    encoded = rison({"a": [1, True, None], "b": "x y", "c": "it's!"})
    assert encoded == "(a:!(1,!t,!n),b:'x y',c:'it!'s!!')"
    assert rison("published") == "published"
    assert rison("2026-12-31") == "'2026-12-31'"  # ids cannot start with a digit


def test_discover_url_carries_query_filters_and_time() -> None:
    url = discover_url(
        "https://kibana.example.org/",
        "desk2",
        query='haniyeh OR "ismail haniya"',
        topic="hamas_leadership",
        lang="EN",
        since=datetime(2026, 12, 24, 23, 47, tzinfo=UTC),
        unique=True,
    )
    assert url.startswith("https://kibana.example.org/app/discover#/?_g=")
    text = unquote(url)
    assert "time:(from:'2026-12-24T23:47:00.000Z',to:now)" in text
    assert "dataViewId:desk2-stories" in text
    assert (
        'query:\'(haniyeh OR "ismail haniya") AND topics:"hamas_leadership" AND '
        'lang:"en" AND is_primary:true\''
    ) in text
    assert " " not in url  # encoded
    assert "from:now-10y" in unquote(discover_url("http://k", "newsmon"))
