"""Canonical URLs and story ids.

`url-normalize` does the RFC 3986 part (scheme and host case, IDNA, percent-encoding, dot
segments, default ports). It knows nothing about news sites, so this module adds what makes two
links to one article compare equal: tracking parameters, AMP and mobile variants, fragments,
trailing slashes and query order.
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from url_normalize import url_normalize

# Query keys that identify a campaign, a click or a referrer, never the article.
_TRACKING_KEYS = frozenset(
    {
        "fbclid",
        "gclid",
        "gclsrc",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "twclid",
        "ttclid",
        "igshid",
        "igsh",
        "li_fat_id",
        "mc_cid",
        "mc_eid",
        "ocid",
        "ref",
        "ref_src",
        "ref_url",
        "referrer",
        "cmpid",
        "cmp",
        "icid",
        "ito",
        "s_cid",
        "smid",
        "sr_share",
        "soc_src",
        "soc_trk",
        "xtor",
        "spm",
        "_ga",
        "_gl",
        "_hsenc",
        "_hsmi",
        "__twitter_impression",
        "rss",
        "amp",
        "outputtype",  # outputType=amp
        "amp_js_v",
        "usqp",
        "__amp_source_origin",
    }
)
# Prefixes of families of tracking keys (Google Analytics, AT Internet, comScore, Piwik, Matomo,
# HubSpot ads, Sailthru, Vero).
_TRACKING_PREFIXES = ("utm_", "at_", "ns_", "pk_", "mtm_", "hsa_", "stm_", "vero_", "oly_")
# Sub-domains that serve the same article as the bare domain.
_HOST_PREFIXES = ("www.", "m.", "mobile.", "amp.", "www1.", "www2.")
# Google's AMP cache re-hosts a page as https://<mangled>.cdn.ampproject.org/c/s/<host>/<path>.
_AMP_CACHE = re.compile(r"^/(?:[a-z]/)?(?:[a-z]/)?(s/)?(?P<rest>[^/]+\..+)$")
# ".amp" before an optional extension at the end of the path: /story.amp, /story.amp.html.
_AMP_SUFFIX = re.compile(r"\.amp(?=(\.[A-Za-z0-9]+)?$)")


def _is_tracking(key: str) -> bool:
    k = key.lower()
    return k in _TRACKING_KEYS or k.startswith(_TRACKING_PREFIXES)


def _strip_host(host: str) -> str:
    for prefix in _HOST_PREFIXES:
        rest = host[len(prefix) :]
        # Keep at least a registrable-looking name: "m.co" stays as it is.
        if host.startswith(prefix) and "." in rest:
            return rest
    return host


def _strip_amp_path(path: str) -> str:
    segments = path.split("/")
    # A trailing slash leaves an empty last segment; AMP markers sit just before it.
    while len(segments) > 1 and segments[-1] == "":
        segments.pop()
    if len(segments) > 1 and segments[-1].lower() == "amp":
        segments.pop()
    if len(segments) > 2 and segments[1].lower() == "amp":
        del segments[1]
    if segments:
        segments[-1] = _AMP_SUFFIX.sub("", segments[-1])
    out = "/".join(segments)
    return out or "/"


def _one_pass(url: str) -> str:
    normalized = url_normalize(url)
    if not normalized:
        return ""
    parts = urlsplit(normalized)
    scheme = parts.scheme
    if scheme not in ("http", "https"):
        # Not a web link (urn:, tag:, mailto:): nothing news-specific to strip.
        return normalized
    host = (parts.hostname or "").rstrip(".")
    path = parts.path or "/"
    query = parts.query
    if host.endswith(".cdn.ampproject.org"):
        m = _AMP_CACHE.match(path)
        if m:
            rest = m.group("rest")
            host_part, _, rest_path = rest.partition("/")
            host = host_part.lower()
            path = "/" + rest_path
    host = _strip_host(host)
    port = parts.port
    netloc = host
    default_port = 443 if scheme == "https" else 80
    if port is not None and port not in (80, 443, default_port):
        netloc = f"{host}:{port}"
    # http and https copies of one article are the same story; https is what sites serve today.
    scheme = "https"
    path = _strip_amp_path(path)
    if len(path) > 1 and path.endswith("/"):
        path = path.rstrip("/") or "/"
    pairs = [
        (k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k and not _is_tracking(k)
    ]
    pairs.sort()
    new_query = urlencode(pairs, doseq=True, safe="~:/[]@!$'()*,;")
    # The fragment is dropped: it addresses a place in the page, not a different article.
    return urlunsplit((scheme, netloc, path, new_query, ""))


# Canonical forms already worked out, each also stored under itself: a story's link is
# canonicalised when it is parsed and again when its id is hashed (idempotence makes the second
# a look-up). Cleared when full, so a long-running worker's memory stays bounded.
_CANONICAL: dict[str, str] = {}
_CANONICAL_MAX = 50_000


def canonical_url(url: str) -> str:
    """Canonical form of a story link: equal for copies of one article's URL. Idempotent."""
    known = _CANONICAL.get(url)
    if known is not None:
        return known
    result = _canonical_url(url)
    if len(_CANONICAL) >= _CANONICAL_MAX:
        _CANONICAL.clear()
    _CANONICAL[url] = _CANONICAL[result] = result
    return result


def clear_canonical_cache() -> None:
    """Forget the canonical forms worked out so far (benchmarks measure cold parses)."""
    _CANONICAL.clear()


def _canonical_url(url: str) -> str:
    current = url.strip()
    if not current:
        return ""
    # Each pass can expose another removable layer (/amp/amp, nested AMP cache), and
    # url-normalize re-encodes what urlencode produced; iterating to a fixed point makes the
    # function idempotent by construction.
    for _ in range(6):
        try:
            nxt = _one_pass(current)
        except (ValueError, UnicodeError):
            # A link url-normalize cannot parse (bad IDNA, bad port) is kept as given.
            return current
        if nxt == current:
            break
        current = nxt
    return current


def story_id(canonical: str | None, guid: str | None = None, feed_id: str = "") -> str:
    """Stable hex id: SHA-1 of the canonical URL, else of the feed id and the feed's GUID."""
    if canonical and canonical.strip():
        key = "url\x1f" + canonical_url(canonical)
    elif guid and guid.strip():
        key = "guid\x1f" + feed_id + "\x1f" + guid.strip()
    else:
        raise ValueError("a story needs a link or a GUID to get an id")
    return hashlib.sha1(key.encode("utf-8")).hexdigest()


# Query parameters that carry credentials in private feed URLs ("?token=", "?api_key=").
_SECRET_PARAM = re.compile(r"(?i)(token|key|secret|password|passwd|pwd|auth|sig|signature)")


def redact_url(url: str) -> str:
    """`url` fit for a log line or an error: the password and secret-looking query values
    replaced by `***` (a feed URL may carry credentials; the operator's mail must not)."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, host = netloc.rsplit("@", 1)
            user = userinfo.split(":", 1)[0]
            netloc = f"{user}:***@{host}" if ":" in userinfo else f"{user}@{host}"
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            if any(_SECRET_PARAM.search(k) for k, _ in pairs):
                query = urlencode(
                    [(k, "***" if _SECRET_PARAM.search(k) else v) for k, v in pairs], safe="*"
                )
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        return "(an unparsable URL)"
