"""Message headers: a Subject that keeps its spaces in every script, From with a display name,
and the list headers (List-Id, List-Unsubscribe) that let a client offer "unsubscribe".

Why the Subject is encoded here: the standard library folds a long non-ASCII header into
several RFC 2047 encoded words and may put the space between two words *between* encoded words,
where RFC 2047 says a reader must drop it — Hebrew and Arabic titles then show words run
together. Here every space travels inside an encoded word, so no reader can drop it.
"""

from __future__ import annotations

import base64
import hashlib
import re
from email.policy import EmailPolicy
from email.utils import formataddr, parseaddr
from typing import Any
from urllib.parse import quote

from monitor.text import one_line

__all__ = [
    "POLICY",
    "encode_words",
    "from_header",
    "header_text",
    "list_id",
    "list_unsubscribe",
]

# An encoded word is at most 75 characters: "=?utf-8?b?" + base64 + "?=" leaves 63 for base64,
# i.e. 45 bytes of UTF-8 text.
_EW_BYTES = 45
_PREFIX = "=?utf-8?b?"


def _chunks(text: str) -> list[str]:
    """Pieces of at most _EW_BYTES bytes, cut after a space where possible, never inside a
    character; each piece keeps its own spaces."""
    out: list[str] = []
    cur = ""
    for word in re.findall(r"\S+\s*|\s+", text):
        if len((cur + word).encode()) <= _EW_BYTES:
            cur += word
            continue
        if cur:
            out.append(cur)
            cur = ""
        while len(word.encode()) > _EW_BYTES:  # one word longer than an encoded word
            cut = len(word)
            while len(word[:cut].encode()) > _EW_BYTES:
                cut -= 1
            out.append(word[:cut])
            word = word[cut:]
        cur = word
    if cur:
        out.append(cur)
    return out


def encode_words(text: str, linesep: str = "\n") -> str:
    """`text` as folded RFC 2047 encoded words (UTF-8, base64), every space inside a word."""
    words = [_PREFIX + base64.b64encode(c.encode()).decode() + "?=" for c in _chunks(text)]
    return (linesep + " ").join(words)


# Control characters (CR and LF above all) never reach a header.
def header_text(value: str) -> str:
    """Feed or configuration text fit for a header value: one line, no control character."""
    return one_line(value)


class _Policy(EmailPolicy):
    """The default policy, except for the Subject, which carries feed text.

    The Subject is stored as written, never parsed: the standard library decodes RFC 2047
    encoded words in a value it is given, so a title holding "=?utf-8?q?=0D=0ABcc:...?=" became
    a real Bcc header (CVE-2024-6923, unfixed in this Python). A non-ASCII Subject, or one that
    holds "=?", is folded by `encode_words`, inside which "=?" is plain data to every reader.
    """

    def header_store_parse(self, name: str, value: Any) -> tuple[str, Any]:
        if name.lower() == "subject" and isinstance(value, str):
            return (name, header_text(value))
        return super().header_store_parse(name, value)

    def _own(self, name: str, value: Any) -> str | None:
        if name.lower() != "subject":
            return None
        text = header_text(str(value))
        if self.utf8 or (text.isascii() and "=?" not in text):
            return None
        return f"{name}: {encode_words(text, self.linesep)}{self.linesep}"

    def fold(self, name: str, value: Any) -> str:
        return self._own(name, value) or super().fold(name, value)

    def fold_binary(self, name: str, value: Any) -> bytes:
        own = self._own(name, value)
        return own.encode("ascii") if own else super().fold_binary(name, value)


POLICY = _Policy()


def from_header(mail_from: str, default_name: str = "newsmon alerts") -> str:
    """`Name <address>`: the configured display name, or `default_name` when there is none."""
    name, addr = parseaddr(mail_from)
    return formataddr((name or default_name, addr or mail_from))


def _domain(mail_from: str) -> str:
    return parseaddr(mail_from)[1].rpartition("@")[2] or "newsmon.local"


def list_id(rule_name: str, subscriber: str, mail_from: str) -> str:
    """A stable List-Id per (subscriber, rule): clients filter and group on it."""
    slug = re.sub(r"[^a-z0-9]+", "-", rule_name.lower()).strip("-")[:40] or "alert"
    tag = hashlib.sha256(f"{subscriber.lower()}\x1f{rule_name}".encode()).hexdigest()[:8]
    return formataddr((f"newsmon: {rule_name}", f"{slug}.{tag}.{_domain(mail_from)}"))


def list_unsubscribe(contact: str, rule_name: str, subscriber: str) -> str:
    """A mailto: List-Unsubscribe to whoever runs newsmon (rules live in subscribers.yaml)."""
    subject = quote(f"unsubscribe {subscriber} from {rule_name}")
    return f"<mailto:{parseaddr(contact)[1] or contact}?subject={subject}>"
