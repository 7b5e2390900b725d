"""Time to send N instant alerts through the pipeline's own path to a real SMTP server.

    .venv/bin/python benchmarks/bench_mail.py --es-url http://127.0.0.1:9200 [--deliveries 100]

Indexes N grouped stories in N clusters under a throw-away prefix, all matched by one rule,
starts the localdev mail catcher (aiosmtpd) on loopback and times `send_alerts`: window search,
ledger look-ups and claims, rendering, SMTP and the ledger marks. A second run over the same
window (everything already sent) is timed too: the cost of the exactly-once check alone.
Prints JSON. The issue's target is 100 deliveries in at most 10 s.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from localdev import elasticsearch as local_es  # noqa: E402
from localdev.mailcatcher import MailCatcher  # noqa: E402
from monitor import pipeline  # noqa: E402
from monitor.config import (  # noqa: E402
    AlertRule,
    ElasticsearchSettings,
    Settings,
    SmtpSettings,
    Subscriber,
)
from monitor.models import Story  # noqa: E402
from monitor.pipeline.context import open_store  # noqa: E402

NOW = datetime(2026, 12, 31, 23, 47, tzinfo=UTC)


def stories(n: int) -> list[Story]:
    out = []
    for i in range(n):
        url = f"https://bench.example/{i}"
        out.append(
            Story(
                id=f"b{i}",
                feed_id="bench",
                outlet=f"Outlet {i % 7}",
                url=url,
                canonical_url=url,
                title=f"Harbour council weighs corridor tariff, round {i}",
                summary="The council met again over the corridor tariff and the harbour levy.",
                fetched_at=NOW - timedelta(seconds=n - i),
                lang="en",
                cluster_id=f"b{i}",
                event_id=f"b{i}",
                is_primary=True,
            )
        )
    return out


def measure(es_url: str, n: int = 100) -> dict[str, Any]:
    """Send `n` instant alerts through `send_alerts` against the node at `es_url`; the figures."""
    prefix = f"bench-{secrets.token_hex(4)}"
    with tempfile.TemporaryDirectory() as cfg, MailCatcher(host="127.0.0.1", port=0) as smtp:
        settings = Settings(
            config_dir=Path(cfg),
            es=ElasticsearchSettings(url=es_url),
            smtp=SmtpSettings(
                host=smtp.host, port=smtp.port, security="none", mail_from="newsmon@example.org"
            ),
            index_prefix=prefix,
            subscribers=[
                Subscriber(
                    email="desk@example.org",
                    name="Desk",
                    timezone="Europe/Istanbul",
                    alerts=[AlertRule(name="Corridor", query="corridor tariff")],
                )
            ],
        )
        store = open_store(settings)
        try:
            pipeline.init(settings, NOW)
            batch = stories(n)
            store.stories.index(batch, now=NOW)
            store.stories.apply_groups(batch, now=NOW)
            t0 = time.perf_counter()
            first = pipeline.send_alerts(settings, now=NOW + timedelta(minutes=1))
            t1 = time.perf_counter()
            again = pipeline.send_alerts(settings, now=NOW + timedelta(minutes=2))
            t2 = time.perf_counter()
            received = len(smtp.wait_for(n))
        finally:
            local_es.delete_prefixed(store.es, prefix)
    return {
        "deliveries": n,
        "sent": first["sent"],
        "received_by_smtp": received,
        "send_seconds": round(t1 - t0, 2),
        "ms_per_delivery": round((t1 - t0) / max(n, 1) * 1000, 1),
        "target_seconds": 10.0,
        "within_target": (t1 - t0) <= 10.0,
        "rerun_sent": again["sent"],
        "rerun_seconds": round(t2 - t1, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--es-url", required=True)
    ap.add_argument("--deliveries", type=int, default=100)
    args = ap.parse_args()
    print(json.dumps(measure(args.es_url, args.deliveries), indent=2))


if __name__ == "__main__":
    main()
