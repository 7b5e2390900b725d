from __future__ import annotations

from monitor.alerts import PlannedMail
from monitor.config import AlertRule, Subscriber
from monitor.mail import render
from tests.factories import make_hit


def test_render_multipart_escapes_html_and_inlines_css() -> None:
    sub = Subscriber(email="desk@example.org", name="Desk")
    rule = AlertRule(name="Leaders", query="topics:hamas_leadership")
    hit = make_hit(
        "s1",
        title="Talks <b>resume</b> & more",
        summary="A summary.",
        url="https://news.example/a?x=1&y=2",
        outlet="Wire A",
        published="2026-01-02T03:04:05+00:00",
        topics=["hamas_leadership"],
        people=["Khalil al-Hayya"],
        also_reported_by=["Outlet B"],
    )
    msg = render(PlannedMail("i-abc", sub, rule, "instant", [hit]), "newsmon@example.org")
    assert msg["Message-ID"] == "<i-abc@example.org>"
    assert msg["Subject"].startswith("[newsmon] Leaders: Talks")
    text = msg.get_body(preferencelist=("plain",)).get_content()
    html = msg.get_body(preferencelist=("html",)).get_content()
    assert "Talks <b>resume</b> & more" in text  # plain text is not escaped
    assert "&lt;b&gt;resume&lt;/b&gt; &amp; more" in html  # HTML is
    assert "<style" not in html
    assert 'style="' in html
    assert "Also reported by: Outlet B" in text
    assert "Khalil al-Hayya" in html


def test_digest_subject_counts_stories() -> None:
    sub = Subscriber(email="desk@example.org")
    rule = AlertRule(
        name="Turkey", query="topics:turkey_israel", mode="digest", digest="daily 07:00"
    )
    hits = [make_hit(i) for i in range(3)]
    msg = render(PlannedMail("d-1", sub, rule, "digest", hits, period="2026-01-02"), "n@x.org")
    assert msg["Subject"] == "[newsmon] Turkey digest: 3 stories"
    assert "2026-01-02" in msg.get_body(preferencelist=("plain",)).get_content()
