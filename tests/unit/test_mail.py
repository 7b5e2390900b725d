from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from monitor.alerts import PlannedMail, Report
from monitor.config import AlertRule, Subscriber
from monitor.mail import encode_words, render
from monitor.models import HIGHLIGHT_END as E
from monitor.models import HIGHLIGHT_START as S
from tests.factories import NOW, make_hit

LABELS = {"hamas_leadership": "Hamas leadership", "turkey_israel": "Turkish–Israeli relations"}
# Titles long enough that the Subject folds over several lines (written for these tests).
ARABIC_TITLE = (
    "وزير الخارجية التركي يستقبل وفدا من الحركة في أنقرة لبحث مسار التهدئة "
    "وتبادل الأسرى وفتح المعابر أمام قوافل المساعدات الإنسانية"
)
HEBREW_TITLE = (
    "משרד החוץ זימן את השגריר הטורקי לשיחת הבהרה בירושלים בעקבות ההצהרות "
    "האחרונות של נשיא טורקיה על המשא ומתן בקהיר"
)


def parts(msg: EmailMessage) -> tuple[str, str]:
    plain = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    assert plain is not None
    assert html is not None
    return str(plain.get_content()), str(html.get_content())


def roundtrip(msg: EmailMessage) -> EmailMessage:
    """The message as a client sees it: serialised for SMTP, parsed with the stdlib parser."""
    raw = msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))
    parsed = message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


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
    msg = render(PlannedMail("i-abc", sub, rule, "instant", [hit]), "newsmon@example.org", now=NOW)
    assert msg["Message-ID"] == "<i-abc@example.org>"
    assert msg["Subject"].startswith("[newsmon] Leaders: Talks")
    text, html = parts(msg)
    assert "Talks <b>resume</b> & more" in text  # plain text is not escaped
    assert "&lt;b&gt;resume&lt;/b&gt; &amp; more" in html  # HTML is
    assert "<style" not in html
    assert 'style="' in html
    assert "Also reported by:\n   - Outlet B\n" in text
    assert "Khalil al-Hayya" in html


def test_an_arabic_alert_reads_right_to_left_in_the_subscribers_zone_with_labels() -> None:
    sub = Subscriber(email="desk@example.org", name="Desk", timezone="Europe/Istanbul")
    rule = AlertRule(name="Ankara", query="topics:turkey_israel")
    hit = make_hit(
        "ar1",
        title=ARABIC_TITLE,
        summary=f"قال مصدر إن {S}أنقرة{E} ستستضيف جولة جديدة من المحادثات.",
        highlight={"summary": f"قال مصدر إن {S}أنقرة{E} ستستضيف جولة جديدة من المحادثات."},
        lang="ar",
        outlet="Outlet Ar",
        published="2026-12-31T22:10:00+00:00",  # 01:10 on 1 January in Istanbul
        topics=["turkey_israel"],
        reports=[
            Report("Outlet Ar", "https://x.org/ar1", "ar"),
            Report("Outlet He", "https://he.example/7", "he"),
        ],
    )
    msg = render(
        PlannedMail("i-ar", sub, rule, "instant", [hit]),
        "newsmon@example.org",
        now=NOW,
        labels=LABELS,
        contact="ops@example.org",
    )
    text, html = parts(msg)
    # Every text block says its direction; the story block says its language.
    blocks = re.findall(r"<(?:p|div|h1)\b[^>]*>", html)
    assert blocks
    assert all('dir="' in b for b in blocks)
    assert 'lang="ar"' in html
    assert "1 Jan 2027, 01:10 (Europe/Istanbul)" in html
    assert "1 Jan 2027, 01:10 (Europe/Istanbul)" in text
    assert "2026-12-31T22:10" not in html + text
    assert "Topics: Turkish–Israeli relations" in html
    assert "Topics: turkey_israel" not in html
    assert "<mark" in html
    assert ">أنقرة</mark>" in html
    assert S not in text
    assert E not in text
    assert "أنقرة ستستضيف" in text
    # The event once, with the other outlet and its language linked.
    assert html.count(ARABIC_TITLE) == 1
    assert 'href="https://he.example/7"' in html
    assert "   - Outlet He (he): https://he.example/7\n" in text
    assert "Languages: ar, he" in text


def test_footer_and_headers_say_what_the_alert_is_and_how_to_stop_it() -> None:
    sub = Subscriber(email="desk@example.org", name="Desk")
    rule = AlertRule(name="Leaders", query='people:"Ismail Haniyeh"')
    msg = render(
        PlannedMail("i-1", sub, rule, "instant", [make_hit(1)]),
        "newsmon@example.org",
        now=NOW,
        contact="ops@example.org",
    )
    text, html = parts(msg)
    assert msg["From"] == "newsmon alerts <newsmon@example.org>"
    assert msg["Date"].datetime == NOW
    assert msg["List-Unsubscribe"].startswith("<mailto:ops@example.org?subject=unsubscribe")
    assert re.fullmatch(
        r'"?newsmon: Leaders"? <leaders\.[0-9a-f]{8}\.example\.org>', msg["List-Id"]
    )
    footer = text.split("\n--\n", 1)[1]
    assert "Leaders" in footer
    assert 'people:"Ismail Haniyeh"' in footer
    assert "To stop it" in footer
    assert "ops@example.org" in footer
    assert "To stop it" in html
    assert 'people:"Ismail Haniyeh"' in html


def test_plain_text_is_laid_out_one_thing_per_line() -> None:
    sub = Subscriber(email="desk@example.org")
    rule = AlertRule(name="Leaders", query="topics:hamas_leadership")
    hit = make_hit(1, summary="Short summary.", url="https://x.org/1", outlet="Wire A")
    text, _ = parts(render(PlannedMail("i-1", sub, rule, "instant", [hit]), "n@x.org", now=NOW))
    lines = text.splitlines()
    assert lines[:4] == ["newsmon alert: Leaders", "", "Query: topics:hamas_leadership", ""]
    # The heading, the link and the outlet each stand on their own line.
    assert "   https://x.org/1" in lines
    assert "   Wire A" in lines
    assert "   Short summary." in lines


@pytest.mark.parametrize("title", [ARABIC_TITLE, HEBREW_TITLE])
def test_long_rtl_subjects_parse_back_with_their_spaces(title: str) -> None:
    sub = Subscriber(email="desk@example.org")
    rule = AlertRule(name="Watch", query="q")
    msg = render(PlannedMail("i-1", sub, rule, "instant", [make_hit(1, title=title)]), "n@x.org")
    raw = msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    assert len(re.findall(r"^Subject:.*(?:\r\n[ \t].*)+", head, re.M)) == 1  # it does fold
    back = str(roundtrip(msg)["Subject"])
    assert back == f"[newsmon] Watch: {title}"
    assert back.split() == ["[newsmon]", "Watch:", *title.split()]


@pytest.mark.parametrize(
    "title",
    [
        "Pilot boat news =?utf-8?q?=0D=0ABcc:_hidden@example.com?= end",  # CVE-2024-6923
        "Liman haberi =?utf-8?q?=0D=0ABcc:_hidden@example.com?= ğ",
        "Pilot boat\r\nBcc: hidden@example.com news",
        "Crane\x00 inspected",
    ],
)
def test_feed_text_never_becomes_a_header(title: str) -> None:
    sub = Subscriber(email="desk@example.org")
    rule = AlertRule(name="Watch", query="q")
    msg = render(PlannedMail("i-1", sub, rule, "instant", [make_hit(1, title=title)]), "n@x.org")
    raw = msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    assert not re.search(r"^bcc:", head, re.I | re.M)
    assert "\x00" not in head
    back = roundtrip(msg)
    assert "Bcc" not in back
    subject = str(back["Subject"])
    assert subject.startswith("[newsmon] Watch: ")
    assert "\r" not in subject
    assert "\n" not in subject
    if "=?" in title:  # shown as the literal text the feed had, not decoded
        assert "=?utf-8?q?=0D=0ABcc:_hidden@example.com?=" in subject


def test_encoded_words_keep_every_space_and_stay_short() -> None:
    text = "كلمة " * 40 + "אחת " * 40
    folded = encode_words(text.strip(), "\r\n")
    assert all(len(w) <= 75 for w in folded.split("\r\n "))
    parsed = message_from_bytes(f"Subject: {folded}\r\n\r\n".encode(), policy=policy.default)
    assert parsed["Subject"] == text.strip()


def test_digest_subject_counts_events() -> None:
    sub = Subscriber(email="desk@example.org", timezone="Europe/Istanbul")
    rule = AlertRule(
        name="Turkey", query="topics:turkey_israel", mode="digest", digest="daily 07:00"
    )
    hits = [make_hit(i) for i in range(3)]
    window = (datetime(2026, 1, 1, 4, 0, tzinfo=UTC), datetime(2026, 1, 2, 4, 0, tzinfo=UTC))
    msg = render(
        PlannedMail("d-1", sub, rule, "digest", hits, period="2026-01-02", window=window),
        "n@x.org",
        now=NOW,
    )
    assert msg["Subject"] == "[newsmon] Turkey digest: 3 events"
    text, _ = parts(msg)
    assert text.splitlines()[:4] == [
        "newsmon digest: Turkey",
        "3 events, 1 Jan 2026, 07:00 (Europe/Istanbul) to 2 Jan 2026, 07:00 (Europe/Istanbul)",
        "",
        "Query: topics:turkey_israel",
    ]


def write_samples(directory: Path) -> list[Path]:
    """English, Arabic and digest e-mails as HTML files (to look at in a browser)."""
    sub = Subscriber(email="desk@example.org", name="Desk", timezone="Europe/Istanbul")
    en = make_hit(
        "en1",
        title="Turkish envoy recalled after Knesset vote on corridor deal",
        summary="Ankara recalled its envoy for consultations on Tuesday after lawmakers voted.",
        highlight={
            "title": f"Turkish {S}envoy{E} recalled after Knesset vote on corridor deal",
            "summary": f"Ankara recalled its {S}envoy{E} for consultations on Tuesday after"
            " lawmakers voted.",
        },
        lang="en",
        outlet="Wire A",
        published="2026-12-31T20:05:00+00:00",
        topics=["turkey_israel"],
        reports=[
            Report("Wire A", "https://x.org/en1", "en"),
            Report("Outlet B", "https://b.example/9", "en"),
            Report("Outlet Tr", "https://tr.example/3", "tr"),
        ],
    )
    ar = make_hit(
        "ar1",
        title=ARABIC_TITLE,
        summary="قال مصدر مطلع إن أنقرة ستستضيف جولة جديدة من المحادثات الأسبوع المقبل.",
        highlight={"summary": f"قال مصدر مطلع إن {S}أنقرة{E} ستستضيف جولة جديدة من المحادثات."},
        lang="ar",
        outlet="Outlet Ar",
        published="2026-12-31T21:40:00+00:00",
        topics=["turkey_israel", "hamas_leadership"],
        reports=[Report("Outlet He", "https://he.example/7", "he")],
    )
    he = make_hit(
        "he1",
        title=HEBREW_TITLE,
        summary="לפי הדיווח, השגריר נדרש להסביר את הדברים עד סוף השבוע.",
        lang="he",
        outlet="Outlet He",
        published="2026-12-31T22:15:00+00:00",
        topics=["turkey_israel"],
    )
    mails = {
        "en": PlannedMail("i-en", sub, AlertRule(name="Envoys", query="envoy"), "instant", [en]),
        "ar": PlannedMail(
            "i-ar", sub, AlertRule(name="Ankara", query="topics:turkey_israel"), "instant", [ar]
        ),
        "digest": PlannedMail(
            "d-1",
            sub,
            AlertRule(name="Turkey–Israel", query="topics:turkey_israel", mode="digest"),
            "digest",
            [en, ar, he],
            period="2027-01-01",
            window=(datetime(2026, 12, 31, 4, tzinfo=UTC), datetime(2027, 1, 1, 4, tzinfo=UTC)),
        ),
    }
    out = []
    for name, mail in mails.items():
        msg = render(mail, "newsmon@example.org", now=NOW, labels=LABELS, contact="ops@x.org")
        path = directory / f"{name}.html"
        path.write_text(parts(msg)[1], encoding="utf-8")
        (directory / f"{name}.txt").write_text(parts(msg)[0], encoding="utf-8")
        out.append(path)
    return out


def test_sample_emails_render(tmp_path: Path) -> None:
    """Writes the samples under NEWSMON_MAIL_SAMPLES (for screenshots) or a temporary dir."""
    where = Path(os.environ.get("NEWSMON_MAIL_SAMPLES") or tmp_path)
    where.mkdir(parents=True, exist_ok=True)
    paths = write_samples(where)
    assert [p.name for p in paths] == ["en.html", "ar.html", "digest.html"]
    digest = paths[2].read_text(encoding="utf-8")
    assert digest.count('class="story"') == 3
    assert 'lang="he"' in digest
    assert 'lang="ar"' in digest
    assert 'lang="en"' in digest
