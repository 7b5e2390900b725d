"""Static checks of the deployment artifacts: docker-compose.yml, Dockerfile, shipped resources.

Docker and Kibana cannot run on the development machine, so these checks are what stands
between a typo and a stack that fails on the server.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.airflow_bridge import env_from_connections
from monitor.resources import INDEX_TEMPLATE_KINDS, index_template, kibana_saved_objects
from tests.compose_file import interpolate, resolved, sample_env

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
# The one copy of the index templates and Kibana objects: package data (config/ links here).
RESOURCES = ROOT / "monitor" / "resources"
NDJSON = RESOURCES / "kibana" / "newsmon.ndjson"
OPS_DOC = ROOT / "docs" / "operations-airflow.md"

AIRFLOW_SERVICES = (
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
)
# The scale-out profile "celery": a broker and workers, off unless asked for.
CELERY_SERVICES = ("redis", "airflow-worker")
LONG_RUNNING = (
    "elasticsearch",
    "kibana",
    "postgres",
    "mailpit",
    *AIRFLOW_SERVICES,
    *CELERY_SERVICES,
)
ONE_SHOT = ("newsmon-init", "airflow-init", "kibana-objects", "es-setup")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _services(compose: dict[str, Any]) -> dict[str, Any]:
    services = compose["services"]
    assert isinstance(services, dict)
    return services


def _image(service: dict[str, Any]) -> str:
    image = service.get("image")
    assert isinstance(image, str), service
    return image


# --- docker-compose.yml -------------------------------------------------------------------


def test_compose_has_the_server_stack(compose: dict[str, Any]) -> None:
    services = _services(compose)
    for name in (*LONG_RUNNING, *ONE_SHOT):
        assert name in services, f"docker-compose.yml: service {name} missing"


def test_long_running_services_have_healthchecks(compose: dict[str, Any]) -> None:
    services = _services(compose)
    for name in LONG_RUNNING:
        check = services[name].get("healthcheck")
        assert check, f"{name}: no healthcheck"
        assert check.get("test"), f"{name}: no healthcheck"
        assert services[name].get("restart") in ("always", "unless-stopped"), name
    for name, svc in services.items():
        if name not in LONG_RUNNING:
            assert svc.get("restart") == "no", f"{name}: one-shot services must not restart"


def test_images_are_pinned_and_elastic_versions_match(compose: dict[str, Any]) -> None:
    services = _services(compose)
    for name, svc in services.items():
        image = _image(svc)
        repo, _, tag = image.rpartition(":")
        assert repo, f"{name}: {image}"
        assert tag, f"{name}: {image}"
        assert tag != "latest", f"{name}: {image}"
        assert re.search(r"\d", tag), f"{name}: {image}"
    es = _image(services["elasticsearch"])
    kibana = _image(services["kibana"])
    assert es.startswith("docker.elastic.co/elasticsearch/elasticsearch:9.")
    assert kibana.startswith("docker.elastic.co/kibana/kibana:9.")
    assert es.rpartition(":")[2] == kibana.rpartition(":")[2], "Kibana must match Elasticsearch"
    # es-setup reuses the Elasticsearch image (it has curl), so nothing else is pulled; the
    # Kibana import runs newsmon itself.
    assert _image(services["es-setup"]) == es
    assert _image(services["kibana-objects"]) == _image(services["newsmon-init"])


def test_dependencies_exist_and_have_no_cycle(compose: dict[str, Any]) -> None:
    services = _services(compose)
    graph: dict[str, set[str]] = {}
    for name, svc in services.items():
        deps = svc.get("depends_on") or {}
        graph[name] = set(deps)
        for dep, spec in dict(deps).items():
            assert dep in services, f"{name} depends on unknown service {dep}"
            done = "service_healthy" if dep in LONG_RUNNING else "service_completed_successfully"
            assert spec["condition"] == done, f"{name} -> {dep}"

    def visit(node: str, path: tuple[str, ...]) -> None:
        assert node not in path, f"dependency cycle: {' -> '.join((*path, node))}"
        for nxt in graph[node]:
            visit(nxt, (*path, node))

    for name in graph:
        visit(name, ())
    for name in AIRFLOW_SERVICES:
        assert {"postgres", "airflow-init", "newsmon-init"} <= graph[name], name


def test_airflow_connections_are_valid_json_and_map_onto_settings(compose: dict[str, Any]) -> None:
    env_raw = _services(compose)["airflow-scheduler"]["environment"]
    env = {k: interpolate(str(v), sample_env()) for k, v in env_raw.items()}
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    es = json.loads(env["AIRFLOW_CONN_ELASTICSEARCH_DEFAULT"])
    smtp = json.loads(env["AIRFLOW_CONN_SMTP_DEFAULT"])
    assert smtp["extra"]["disable_ssl"] is True  # JSON form keeps booleans
    mapped = env_from_connections(es, smtp, {})
    assert mapped["NEWSMON_ES_URL"] == "http://elasticsearch:9200"
    assert mapped["NEWSMON_ES_USERNAME"] == "newsmon"
    assert mapped["NEWSMON_ES_PASSWORD"] == "newsmonpw1"
    assert mapped["NEWSMON_SMTP_HOST"] == "mailpit"
    assert mapped["NEWSMON_SMTP_PORT"] == "1025"
    assert mapped["NEWSMON_SMTP_SECURITY"] == "none"
    # Every Airflow service runs with the same settings: one anchor, no drift.
    for name in AIRFLOW_SERVICES:
        assert _services(compose)[name]["environment"] == env_raw, name


def test_required_variables_fail_loudly_and_are_documented(compose: dict[str, Any]) -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", text))
    assert {"ELASTIC_PASSWORD", "POSTGRES_PASSWORD", "AIRFLOW_JWT_SECRET"} <= required
    assert required == set(sample_env()), "update _sample_env and the .env template in the doc"
    with pytest.raises(KeyError, match="ELASTIC_PASSWORD"):
        interpolate(text, {k: v for k, v in sample_env().items() if k != "ELASTIC_PASSWORD"})
    interpolate(text, sample_env())  # the documented set is enough
    doc = OPS_DOC.read_text(encoding="utf-8")
    for name in required:
        assert re.search(rf"^\s*{name}=", doc, re.M), f"{name}: not in the .env template of the doc"


def test_no_secret_literals_in_compose() -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    for m in re.finditer(r"(?i)^\s*[\w.]*(password|secret|key)[\w.]*:\s*(\S.*)$", text, re.M):
        if re.match(r"\s*\w+_FILE:\s*/[\w./-]+$", m.group(0)):
            continue  # where a secret is kept (a path in a volume), not the secret
        assert "${" in m.group(2), f"docker-compose.yml: literal secret: {m.group(0).strip()}"


# --- Dockerfile ---------------------------------------------------------------------------


def _pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def test_dockerfile_pins_airflow_matching_pyproject() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    froms = re.findall(r"^FROM\s+(\S+)", text, re.M)
    assert len(froms) == 1, froms
    m = re.fullmatch(r"apache/airflow:(\d+\.\d+\.\d+)-python(\d+\.\d+)", froms[0])
    assert m, f"FROM must pin apache/airflow:<version>-python<version>, got {froms[0]}"
    version, python = m.groups()
    extras = _pyproject()["project"]["optional-dependencies"]
    pins = [d for deps in extras.values() for d in deps if d.startswith("apache-airflow>=")]
    assert pins, "pyproject.toml pins apache-airflow in an extra"
    lower = re.search(r">=\s*([\d.]+)", pins[0])
    upper = re.search(r"<\s*([\d.]+)", pins[0])
    assert lower, f"{pins[0]} vs image {version}"
    assert lower.group(1) == version, f"{pins[0]} vs image {version}"
    assert upper, pins[0]
    assert _version(version) < _version(upper.group(1)), f"{pins[0]} excludes image {version}"
    requires = _pyproject()["project"]["requires-python"]
    assert requires == f">={python}", f"image Python {python} vs requires-python {requires}"


def test_dockerfile_installs_package_keeping_airflow_and_copies_dags_and_config() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    install = re.search(r"^RUN pip install (.*)$", text, re.M)
    assert install
    assert "--no-cache-dir" in install.group(1)
    assert '"apache-airflow==${AIRFLOW_VERSION}"' in install.group(1)
    assert re.search(r"^COPY .*\bdags/ /opt/airflow/dags/", text, re.M)
    assert re.search(r"^COPY .*\bconfig/ /opt/newsmon/config/", text, re.M)
    assert "NEWSMON_CONFIG_DIR=/opt/newsmon/config" in text


def test_dockerignore_keeps_secrets_and_venv_out() -> None:
    lines = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", ".env", "var", ".cache", "config/subscribers.yaml"} <= lines
    for needed in ("monitor", "dags", "config", "pyproject.toml", "README.md"):
        assert needed not in lines


# --- Shipped resources (package data) -----------------------------------------------------


def _resource_files() -> set[Path]:
    return {
        p
        for sub in ("elasticsearch", "kibana")
        for p in (RESOURCES / sub).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


def test_config_dirs_link_to_the_single_packaged_copy() -> None:
    for name in ("elasticsearch", "kibana"):
        link = ROOT / "config" / name
        assert link.is_symlink(), f"config/{name} must be a symlink to monitor/resources/{name}"
        # Relative, so it resolves in every clone and build context.
        assert not os.path.isabs(os.readlink(link)), f"config/{name}: absolute link"
        assert link.resolve() == (RESOURCES / name).resolve(), f"config/{name}"


def test_package_data_ships_every_resource_file() -> None:
    """What setuptools puts in the wheel: pyproject's package-data globs, relative to monitor/."""
    patterns = _pyproject()["tool"]["setuptools"]["package-data"]["monitor"]
    shipped = {p for pattern in patterns for p in (ROOT / "monitor").glob(pattern) if p.is_file()}
    files = _resource_files()
    assert {p.name for p in files} >= {"newsmon.ndjson", "stories.json"}, files
    missing = sorted(str(p.relative_to(ROOT)) for p in files - shipped)
    assert not missing, f"not in [tool.setuptools.package-data] monitor: {missing}"


def test_resources_module_reads_the_shipped_files() -> None:
    kinds = {p.stem for p in (RESOURCES / "elasticsearch").glob("*.json")}
    assert kinds == set(INDEX_TEMPLATE_KINDS)
    for kind in INDEX_TEMPLATE_KINDS:
        assert index_template(kind) == json.loads(
            (RESOURCES / "elasticsearch" / f"{kind}.json").read_text(encoding="utf-8")
        )
        assert "mappings" in index_template(kind)["template"], kind
    with pytest.raises(ValueError, match="no index template"):
        index_template("../feeds")
    assert kibana_saved_objects() == NDJSON.read_text(encoding="utf-8")


def test_compose_imports_kibana_objects_through_newsmon_with_the_prefix(
    compose: dict[str, Any],
) -> None:
    # The same code path as `newsmon init`: the prefix moves every object (the raw file would
    # leave a custom prefix's data view on newsmon-stories*).
    svc = _services(compose)["kibana-objects"]
    assert svc["entrypoint"] == ["newsmon"]
    assert svc["command"] == ["kibana", "import"]
    env = svc["environment"]
    assert env["NEWSMON_INDEX_PREFIX"] == "${NEWSMON_INDEX_PREFIX:-newsmon}"
    assert env["NEWSMON_KIBANA_URL"] == "http://kibana:5601"
    assert env["NEWSMON_ES_PASSWORD"] == "${ELASTIC_PASSWORD}"
    assert "volumes" not in svc
    assert "newsmon.ndjson" not in COMPOSE.read_text(encoding="utf-8")


def test_dockerignore_leaves_config_links_out_of_the_image() -> None:
    # In the image they would dangle (the package sits in /opt/newsmon/src); the installed
    # package carries the files.
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert {"config/elasticsearch", "config/kibana"} <= {line.strip() for line in lines}


# --- Kibana saved objects -----------------------------------------------------------------


def _objects() -> list[dict[str, Any]]:
    out = []
    for n, line in enumerate(NDJSON.read_text(encoding="utf-8").splitlines(), 1):
        assert line.strip(), f"newsmon.ndjson:{n}: blank line"
        obj = json.loads(line)
        assert isinstance(obj, dict), n
        out.append(obj)
    return out


def _by_type(objs: list[dict[str, Any]], type_: str) -> list[dict[str, Any]]:
    return [o for o in objs if o["type"] == type_]


def test_ndjson_objects_are_well_formed_and_references_resolve() -> None:
    objs = _objects()
    keys = {(o["type"], o["id"]) for o in objs}
    assert len(keys) == len(objs), "duplicate saved object ids"
    for o in objs:
        assert {"id", "type", "attributes", "references"} <= o.keys(), o.get("id")
        assert o["attributes"].get("title"), o["id"]
        assert o.get("coreMigrationVersion"), o["id"]
        assert o.get("typeMigrationVersion"), o["id"]
        names = [r["name"] for r in o["references"]]
        assert len(names) == len(set(names)), f"{o['id']}: duplicate reference names"
        for ref in o["references"]:
            assert (ref["type"], ref["id"]) in keys, f"{o['id']}: dangling reference {ref}"
    assert {t for t, _ in keys} >= {"index-pattern", "search", "lens", "dashboard"}


def _search_source(o: dict[str, Any]) -> dict[str, Any]:
    source = json.loads(o["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
    assert isinstance(source, dict)
    return source


def _walk_ref_names(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for k, v in value.items():
            if k in ("indexRefName", "panelRefName") and isinstance(v, str):
                yield v
            yield from _walk_ref_names(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk_ref_names(v)


def test_embedded_reference_names_are_declared() -> None:
    for o in _objects():
        names = {r["name"] for r in o["references"]}
        if o["type"] == "search":
            for ref_name in _walk_ref_names(_search_source(o)):
                assert ref_name in names, f"{o['id']}: {ref_name} not in references"
        if o["type"] == "dashboard":
            for panel in json.loads(o["attributes"]["panelsJSON"]):
                ref = f"{panel['panelIndex']}:{panel['panelRefName']}"
                assert ref in names, f"{o['id']}: panel {ref} has no reference"
                ref_type = next(r["type"] for r in o["references"] if r["name"] == ref)
                assert ref_type == panel["type"]
        if o["type"] == "lens":
            for layer in o["attributes"]["state"]["datasourceStates"]["formBased"]["layers"]:
                assert f"indexpattern-datasource-layer-{layer}" in names, o["id"]


# Data view id -> the index template its indices get their mapping from.
VIEW_TEMPLATES = {
    "newsmon-stories": "stories",
    "newsmon-stories-indexed": "stories",
    "newsmon-feeds": "feeds",
}
# Field types Elasticsearch can aggregate and sort on (doc values).
AGGREGATABLE = {"keyword", "date", "boolean", "integer", "long", "short", "float", "double"}
# `field:` in a Lucene or KQL query string (quoted phrases removed first).
_QUERY_FIELD = re.compile(r"(?<![\\\w.])([A-Za-z_][\w.]*)\s*:")


def _template_fields(kind: str) -> dict[str, str]:
    props = index_template(kind)["template"]["mappings"]["properties"]
    return {name: spec.get("type", "object") for name, spec in props.items()}


def _view_of(o: dict[str, Any]) -> str:
    views = {r["id"] for r in o["references"] if r["type"] == "index-pattern"}
    assert len(views) == 1, f"{o['id']}: expected one data view, got {views}"
    return views.pop()


def _query_fields(query: str) -> set[str]:
    return set(_QUERY_FIELD.findall(re.sub(r'"(?:[^"\\]|\\.)*"', '""', query)))


def _fields_used(o: dict[str, Any]) -> tuple[set[str], set[str]]:
    """(every field an object names, the fields it aggregates or sorts on)."""
    attrs = o["attributes"]
    named: set[str] = set()
    aggregated: set[str] = set()
    if o["type"] == "search":
        source = _search_source(o)
        named.update(attrs["columns"])
        aggregated.update(f for f, _ in attrs["sort"])
        named.update(f["meta"]["key"] for f in source["filter"])
        named.update(_query_fields(source["query"]["query"]))
    if o["type"] == "lens":
        state = attrs["state"]
        for layer in state["datasourceStates"]["formBased"]["layers"].values():
            aggregated.update(
                c["sourceField"]
                for c in layer["columns"].values()
                if c["sourceField"] != "___records___"
            )
        named.update(_query_fields(state["query"]["query"]))
    return named | aggregated, aggregated


def test_data_views_cover_stories_and_feed_health() -> None:
    views = {v["id"]: v["attributes"] for v in _by_type(_objects(), "index-pattern")}
    assert views.keys() == VIEW_TEMPLATES.keys()
    stories = views["newsmon-stories"]
    for name in ("newsmon-stories", "newsmon-stories-2026.05"):
        assert fnmatch.fnmatchcase(name, stories["title"]), f"{stories['title']} vs {name}"
    for other in ("newsmon-feeds", "newsmon-deliveries"):
        assert not fnmatch.fnmatchcase(other, stories["title"]), f"{stories['title']} vs {other}"
    # Analysts think in publish time; the second view answers "what came in lately".
    assert stories["timeFieldName"] == "published"
    assert views["newsmon-stories-indexed"]["title"] == stories["title"]
    assert views["newsmon-stories-indexed"]["timeFieldName"] == "indexed_at"
    # Feed state is current state, not events: no time field, so no time range hides a feed.
    assert views["newsmon-feeds"]["title"] == "newsmon-feeds"
    assert "timeFieldName" not in views["newsmon-feeds"]
    for view_id, attrs in views.items():
        fields = _template_fields(VIEW_TEMPLATES[view_id])
        if "timeFieldName" in attrs:
            assert fields[attrs["timeFieldName"]] == "date", view_id
        for name in json.loads(attrs["fieldAttrs"]):
            assert name in fields, f"{view_id}: label for unknown field {name}"
        for name in json.loads(attrs["fieldFormatMap"]):
            assert name in fields, f"{view_id}: format for unknown field {name}"


def test_every_field_exists_and_is_aggregatable_where_aggregated() -> None:
    checked = 0
    for o in _objects():
        if o["type"] not in ("search", "lens"):
            continue
        named, aggregated = _fields_used(o)
        assert named, f"{o['id']}: no fields found: the walker is broken"
        fields = _template_fields(VIEW_TEMPLATES[_view_of(o)])
        missing = sorted(named - fields.keys())
        assert not missing, (
            f"{o['id']}: not in the {VIEW_TEMPLATES[_view_of(o)]} template: {missing}"
        )
        for name in aggregated:
            assert fields[name] in AGGREGATABLE, f"{o['id']}: aggregates {name} ({fields[name]})"
            checked += 1
    assert checked >= 10


def test_query_field_walker_sees_fields_and_skips_phrases() -> None:
    # The check above is only as good as this parser.
    assert _query_fields('topics:"turkey_israel" AND is_primary : true') == {
        "topics",
        "is_primary",
    }
    assert _query_fields('title:"a: b" OR x.y:1') == {"title", "x.y"}


def test_saved_searches_and_dashboard_content() -> None:
    objs = _objects()
    searches = {o["attributes"]["title"]: o for o in _by_type(objs, "search")}
    assert {"Hamas leadership", "Turkey–Israel", "Unique stories", "Latest events"} <= set(searches)
    for title, topic in (
        ("Hamas leadership", "hamas_leadership"),
        ("Turkey–Israel", "turkey_israel"),
    ):
        o = searches[title]
        source = _search_source(o)
        assert source["query"]["query"] == f'topics:"{topic}"'
        # Over unique stories, with the columns an analyst reads, newest published first.
        [primary] = source["filter"]
        assert primary["meta"]["key"] == "is_primary"
        assert primary["meta"]["negate"] is False
        assert primary["query"] == {"match_phrase": {"is_primary": True}}
        assert o["attributes"]["columns"] == [
            "title",
            "outlets",
            "lang",
            "people",
            "published",
            "url",
        ]
        assert o["attributes"]["sort"] == [["published", "desc"]]
        assert _view_of(o) == "newsmon-stories"
    feeds = [o for o in searches.values() if _view_of(o) == "newsmon-feeds"]
    assert any("consecutive_failures" in _search_source(o)["query"]["query"] for o in feeds)
    assert any(o["attributes"]["sort"] == [["last_success", "asc"]] for o in feeds)

    [dashboard] = _by_type(objs, "dashboard")
    by_id = {o["id"]: o for o in objs}
    panels = [by_id[r["id"]] for r in dashboard["references"]]
    lens_buckets = set()
    for o in panels:
        if o["type"] == "lens":
            for layer in o["attributes"]["state"]["datasourceStates"]["formBased"][
                "layers"
            ].values():
                lens_buckets |= {
                    (c["operationType"], c["sourceField"]) for c in layer["columns"].values()
                }
    # The panels: stories per day by topic, events by number of outlets, top people,
    # top places, languages, top outlets, latest events, feed health.
    assert {
        ("date_histogram", "published"),
        ("terms", "topics"),
        ("terms", "cluster_size"),
        ("terms", "people"),
        ("terms", "places"),
        ("terms", "lang"),
        ("terms", "outlet"),
    } <= lens_buckets
    panel_titles = {o["attributes"]["title"] for o in panels}
    assert {"Latest events", "Failing feeds", "Feed health: last success"} <= panel_titles
    assert {o["id"] for o in _by_type(objs, "lens")} <= {o["id"] for o in panels}


def test_celery_profile_runs_the_same_airflow_with_workers(compose: dict[str, Any]) -> None:
    services = _services(compose)
    for name in CELERY_SERVICES:
        assert services[name].get("profiles") == ["celery"], name
    for name in AIRFLOW_SERVICES:
        assert "profiles" not in services[name], f"{name} must run in every profile"
    worker, scheduler = services["airflow-worker"], services["airflow-scheduler"]
    assert worker["command"] == "celery worker"
    assert worker["image"] == scheduler["image"]
    assert worker["volumes"] == scheduler["volumes"]  # one configuration source for all
    env = {**scheduler["environment"]}
    assert env["AIRFLOW__CORE__EXECUTOR"] == "${AIRFLOW_EXECUTOR:-LocalExecutor}"
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://redis:")
    assert all(worker["environment"][k] == v for k, v in env.items())
    assert "[airflow,celery]" in DOCKERFILE.read_text(encoding="utf-8")
    celery = _pyproject()["project"]["optional-dependencies"]["celery"]
    assert any(dep.startswith("apache-airflow-providers-celery") for dep in celery)


# --- the compose fixes of issues 12 and 13 -----------------------------------------------


def test_compose_file_validates_against_the_compose_spec(tmp_path: Path) -> None:
    """What `docker compose config` checks first: the file against the Compose Specification's
    JSON schema (vendored by check-jsonschema), raw and after interpolation with a sample .env."""
    resolved_file = tmp_path / "docker-compose.resolved.yml"
    resolved_file.write_text(yaml.safe_dump(resolved()), encoding="utf-8")
    checker = Path(sys.executable).parent / "check-jsonschema"
    assert checker.exists(), "check-jsonschema missing: make setup installs the dev extra"
    for path in (COMPOSE, resolved_file):
        proc = subprocess.run(
            [str(checker), "--builtin-schema", "vendor.compose-spec", str(path)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_compose_spec_check_catches_a_broken_file(tmp_path: Path) -> None:
    # The validator must be able to fail: a misspelt key and a wrong type.
    data = resolved()
    data["services"]["kibana"]["healthcheck"]["retires"] = 3
    data["services"]["postgres"]["ports"] = "5432"
    broken = tmp_path / "broken.yml"
    broken.write_text(yaml.safe_dump(data), encoding="utf-8")
    checker = Path(sys.executable).parent / "check-jsonschema"
    proc = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.compose-spec", str(broken)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "retires" in proc.stdout + proc.stderr


def test_parallelism_suits_two_cores() -> None:
    env = resolved()["services"]["airflow-scheduler"]["environment"]
    assert str(env["AIRFLOW__CORE__PARALLELISM"]) == "4"
    assert "4 suits the two cores" in COMPOSE.read_text(encoding="utf-8")


def test_memlock_ulimit_goes_with_bootstrap_memory_lock() -> None:
    es = resolved()["services"]["elasticsearch"]
    assert es["ulimits"]["memlock"] == {"soft": -1, "hard": -1}
    assert es["environment"]["bootstrap.memory_lock"] == "true"


def test_connection_check_only_where_the_image_entrypoint_runs(compose: dict[str, Any]) -> None:
    # CONNECTION_CHECK_* steer the Airflow image's entrypoint; with the entrypoint replaced they
    # are dead settings that look like they do something.
    for name, svc in _services(compose).items():
        env = svc.get("environment") or {}
        if any(k.startswith("CONNECTION_CHECK_") for k in env):
            assert "entrypoint" not in svc, f"{name}: CONNECTION_CHECK_* with its own entrypoint"
            assert _image(svc).startswith("newsmon-airflow:"), name


def test_kibana_public_url_is_set_and_shared_with_newsmon() -> None:
    env = {**sample_env(), "KIBANA_PUBLIC_URL": "https://kibana.example.org"}
    services = resolved(env)["services"]
    assert services["kibana"]["environment"]["SERVER_PUBLICBASEURL"] == "https://kibana.example.org"
    for name in AIRFLOW_SERVICES:
        airflow_env = services[name]["environment"]
        assert airflow_env["NEWSMON_KIBANA_PUBLIC_URL"] == "https://kibana.example.org", name
    default = resolved()["services"]["kibana"]["environment"]["SERVER_PUBLICBASEURL"]
    assert default == "http://localhost:5601"


def test_example_subscribers_are_never_mounted_by_default(compose: dict[str, Any]) -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    assert "subscribers.example.yaml}" not in text  # no ${...:-example} default
    without = {k: v for k, v in sample_env().items() if k != "NEWSMON_SUBSCRIBERS_FILE"}
    with pytest.raises(KeyError, match="NEWSMON_SUBSCRIBERS_FILE"):
        interpolate(text, without)
    for name in ("newsmon-init", *AIRFLOW_SERVICES):
        volumes = resolved()["services"][name]["volumes"]
        assert "./config/subscribers.yaml:/opt/newsmon/config/subscribers.yaml:ro" in volumes


def test_airflow_cli_debug_service(compose: dict[str, Any]) -> None:
    services = _services(compose)
    cli = services["airflow-cli"]
    assert cli["profiles"] == ["debug"]
    assert cli["image"] == services["airflow-scheduler"]["image"]
    assert cli["command"] == ["bash", "-c", "airflow"]
    assert cli["restart"] == "no"
    assert cli["environment"]["CONNECTION_CHECK_MAX_COUNT"] == "0"
    scheduler_env = services["airflow-scheduler"]["environment"]
    assert all(cli["environment"][k] == v for k, v in scheduler_env.items())
    assert cli["volumes"] == services["airflow-scheduler"]["volumes"]


def test_login_uses_the_simple_auth_manager_with_the_env_password(compose: dict[str, Any]) -> None:
    from monitor.airflow_auth import SIMPLE_AUTH_MANAGER

    services = resolved()["services"]
    env = services["airflow-apiserver"]["environment"]
    assert env["AIRFLOW__CORE__AUTH_MANAGER"] == SIMPLE_AUTH_MANAGER
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == "admin:admin"
    passwords = env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
    # Written by airflow-init into a volume every Airflow service mounts.
    init = services["airflow-init"]
    assert f"python -m monitor.airflow_auth {passwords}" in " ".join(init["command"])
    assert "exec /entrypoint airflow" in " ".join(init["command"])
    assert init["environment"]["_AIRFLOW_DB_MIGRATE"] == "true"
    assert init["environment"]["AIRFLOW_ADMIN_PASSWORD"] == "adminpw1"
    mount = next(v for v in init["volumes"] if v.startswith("airflow-auth:"))
    assert passwords.startswith(mount.split(":")[1] + "/")
    for name in (*AIRFLOW_SERVICES, "airflow-worker", "airflow-cli"):
        assert mount in services[name]["volumes"], name
    assert "mkdir -p /opt/airflow/auth" in DOCKERFILE.read_text(encoding="utf-8")
    # No FAB leftovers: its user-creation variables do nothing without the provider.
    assert "_AIRFLOW_WWW_USER" not in COMPOSE.read_text(encoding="utf-8")
