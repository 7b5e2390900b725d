"""A feed body's character encoding: the declared charset first, detection when it reads wrong.

feedparser decodes with the HTTP charset, else the XML declaration, else UTF-8; when that
fails it falls back to windows-1252 and flags a soft "encoding override", which turns an
undeclared Hebrew (windows-1255) or Arabic (windows-1256) feed into Latin mojibake. A feed that
declares the wrong legacy charset decodes "cleanly" into mojibake with no flag at all. Here the
declared (or default) charset is tried first; when it fails, or its text reads as mojibake,
charset-normalizer picks among the legacy encodings of the languages newsmon reads, and the
body is handed on re-encoded as UTF-8 with its declaration rewritten.
"""

from __future__ import annotations

import codecs
import re

import charset_normalizer
from charset_normalizer.md import mess_ratio

__all__ = ["redecode"]

# The encodings a detection may pick: UTF-8 and the legacy code pages of the languages the
# feeds are in (Latin, Turkish, Hebrew, Arabic, plus Cyrillic and Greek so that those are not
# forced into one of the others). Central European code pages are left out: they read Turkish
# bytes as plausible Polish or Czech.
_CANDIDATES = ["utf_8", "cp1252", "iso8859_9", "cp1255", "cp1256", "cp1251", "iso8859_7"]
# Above this share of suspicious characters (charset-normalizer's measure) a cleanly decoded
# text is taken for mojibake: Hebrew bytes read as windows-1252 score about 0.3, Arabic 0.2,
# genuine French and Turkish text 0.0-0.02.
_MOJIBAKE = 0.1
_SAMPLE = 64 * 1024
_XML_DECL = re.compile(rb"^(\s*<\?xml[^>]*?encoding\s*=\s*)([\"'])([A-Za-z0-9._:-]+)\2")
_CHARSET_PARAM = re.compile(r";\s*charset\s*=\s*\"?([A-Za-z0-9._:-]+)", re.IGNORECASE)
_BOMS = (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE)
_LATIN = {"cp1252", "latin_1", "iso8859_15"}


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def declared_charset(body: bytes, content_type: str | None) -> str | None:
    """The charset the server or the document names (HTTP first, as RFC 7303 says), or None."""
    m = _CHARSET_PARAM.search(content_type or "")
    if m:
        return m.group(1)
    decl = _XML_DECL.match(body[:200])
    return decl.group(3).decode("ascii") if decl else None


def redecode(body: bytes, content_type: str | None) -> tuple[bytes, str | None, str | None]:
    """`(body, content_type, warning)`: unchanged when the declared charset reads the body
    right; else the body as UTF-8 in the detected encoding, and a one-line warning."""
    if body.isascii() or body.startswith(_BOMS):
        return body, content_type, None
    declared = declared_charset(body, content_type)
    codec = _codec(declared or "utf-8")
    if codec is not None:
        try:
            text = body.decode(codec)
        except UnicodeDecodeError:
            pass
        else:
            # Valid UTF-8 is UTF-8 (legacy text almost never is); a legacy charset that
            # decodes is kept unless what it gives reads as mojibake.
            if codec == "utf-8" or mess_ratio(text[:_SAMPLE]) < _MOJIBAKE:
                return body, content_type, None
    best = charset_normalizer.from_bytes(body, cp_isolation=_CANDIDATES).best()
    if best is None or best.encoding == codec:
        return body, content_type, None
    encoding = best.encoding
    if encoding in _LATIN and best.language == "Turkish":
        # ğ ş ı İ sit where windows-1252 has ð þ ý Ý, letters Turkish text never uses.
        encoding = "iso8859_9"
    try:
        text = body.decode(encoding)
    except UnicodeDecodeError:
        return body, content_type, None
    utf8 = _XML_DECL.sub(rb"\1\2utf-8\2", text.encode("utf-8"), count=1)
    media = (content_type or "application/xml").split(";", 1)[0].strip()
    said = f"declares {declared}" if declared else "declares no charset"
    warning = f"feed {said} but reads as {encoding}; decoded as {encoding}"
    return utf8, f"{media}; charset=utf-8", warning
