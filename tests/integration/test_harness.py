"""The test harness itself: a real Elasticsearch of the pinned version and a real SMTP catcher."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

from elasticsearch import Elasticsearch

from localdev.elasticsearch import ES_VERSION, delete_prefixed
from localdev.mailcatcher import MailCatcher


def test_elasticsearch_runs_the_pinned_version(es_client: Elasticsearch) -> None:
    # This distribution has no rest-root module, so GET / (client.info()) answers 405:
    # the version comes from the nodes API instead.
    nodes = es_client.nodes.info(node_id="_local", metric="_none")["nodes"]
    versions = {node["version"] for node in nodes.values()}
    assert versions == {ES_VERSION}
    assert es_client.cluster.health()["status"] in ("green", "yellow")


def test_prefix_clean_up_removes_indices_and_templates(
    es_client: Elasticsearch, index_prefix: str
) -> None:
    es_client.cluster.put_component_template(
        name=f"{index_prefix}-base",
        template={"mappings": {"properties": {"title": {"type": "text"}}}},
    )
    es_client.indices.put_index_template(
        name=f"{index_prefix}-stories",
        index_patterns=[f"{index_prefix}-stories-*"],
        composed_of=[f"{index_prefix}-base"],
    )
    index = f"{index_prefix}-stories-2026.01"
    es_client.index(index=index, id="1", document={"title": "Ankara talks"}, refresh=True)
    hits = es_client.search(index=index, query={"match": {"title": "ankara"}})["hits"]
    assert hits["total"]["value"] == 1
    other = f"{index_prefix}x-keep"  # shares the prefix string but not "{prefix}-"
    es_client.indices.create(index=other)
    try:
        delete_prefixed(es_client, index_prefix)

        assert not es_client.indices.exists(index=index)
        assert not es_client.indices.exists_index_template(name=f"{index_prefix}-stories")
        assert not es_client.cluster.exists_component_template(name=f"{index_prefix}-base")
        assert es_client.indices.exists(index=other)
    finally:
        es_client.indices.delete(index=other, ignore_unavailable=True)


def test_mail_catcher_receives_a_message_over_smtp(smtp_server: MailCatcher) -> None:
    message = EmailMessage()
    message["From"] = "newsmon@example.org"
    message["To"] = "analyst@example.org"
    message["Subject"] = "Alert: Türkiye"
    message.set_content("A story matched your rule.")

    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=10) as client:
        refused = client.send_message(
            message, to_addrs=["analyst@example.org", "hidden@example.org"]
        )
    assert refused == {}

    [received] = smtp_server.wait_for(1, timeout=5)
    assert received.mail_from == "newsmon@example.org"
    assert received.rcpt_tos == ["analyst@example.org", "hidden@example.org"]
    assert received["Subject"] == "Alert: Türkiye"
    assert received.get_content().strip() == "A story matched your rule."
