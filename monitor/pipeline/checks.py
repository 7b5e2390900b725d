"""`newsmon config check` beyond the files: each alert rule's query, validated by
Elasticsearch's validate-query API when it is reachable, by a Lucene parser when it is not."""

from __future__ import annotations

from typing import Any

from monitor import alerts as rules
from monitor.config import ConfigCheck, ElasticsearchSettings, settings_from_env
from monitor.store import Store, StoreError, connect

__all__ = ["check_rules"]


def check_rules(
    check: ConfigCheck, prefix: str, es: ElasticsearchSettings | None = None, *, use_es: bool = True
) -> dict[str, Any]:
    """{"validated_by": "elasticsearch"|"syntax", "problems": [one line per broken query]}.

    A line names the file, the rule's place in it, the subscriber and the rule, so the
    analyst knows which line to edit.
    """
    where = check.subscribers_path or "subscribers.yaml"
    located = [
        (f"{where}: subscribers[{i}].alerts[{j}] ({sub.email} / {rule.name})", rule.query)
        for i, sub in enumerate(check.subscribers)
        for j, rule in enumerate(sub.alerts)
    ]
    if not located:
        return {"validated_by": "none", "problems": []}
    verdicts: list[str | None] | None = None
    reason = "NEWSMON_ES_URL is invalid"
    if use_es:
        # A check answers in seconds: no long timeouts or retries on a server that is down.
        client = connect(es or settings_from_env()[0]).options(request_timeout=10, max_retries=0)
        try:
            verdicts = Store(client, prefix).stories.validate_queries([q for _, q in located])
            reason = "no stories index yet: run newsmon init"
        except StoreError as e:
            reason = str(e)
    by = "elasticsearch"
    if verdicts is None:
        by = f"syntax ({reason})"
        verdicts = [rules.query_syntax_problem(q) for _, q in located]
    problems = [
        f"{label}: invalid query {q!r}: {v}"
        for (label, q), v in zip(located, verdicts, strict=True)
        if v
    ]
    return {"validated_by": by, "problems": problems}
