"""HTTP polling of feeds: the only module that talks to feed servers.

Returns bytes and response facts (`FetchResult`), never parsed stories. Every poll is a
conditional GET when the caller knows the feed's ETag or Last-Modified, is bounded in time and
size, and is refused when the URL (or any redirect hop) points at a private network address
unless the operator allowed that: feed URLs come from configuration that may be edited by people
who should not be able to make the server probe its own network.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Collection, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass

import httpx

from monitor.models import FetchResult
from monitor.urls import redact_url

MAX_REDIRECTS = 5
DEFAULT_USER_AGENT = "newsmon/0.1 (+https://github.com/newsmon)"
_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
    "application/feed+json;q=0.9, application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5"
)
_ALLOW_HINT = "set NEWSMON_ALLOW_PRIVATE_FEEDS=true to allow"
_ERROR_CHARS = 300
_PERMANENT = (301, 308)

# What went wrong with a poll, as the scheduler backs off by it and the feed table shows it.
# Decided here only: `_describe` for what the network raised, `status_class` for an HTTP
# status, and "parse" by the caller when the body was fetched but no feed could be read.
ERROR_CLASSES = (
    "dns",
    "connect",
    "timeout",
    "tls",
    "http_4xx",
    "http_429",
    "http_5xx",
    "parse",
    "too_large",
    "refused",
    "other",
)
PARSE_ERROR = "parse"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass
class FeedRequest:
    """One feed to poll, with the validators remembered from its last successful poll."""

    feed_id: str
    url: str
    etag: str | None = None
    last_modified: str | None = None


class FetchRefused(ValueError):
    """The URL is not one newsmon may fetch: wrong scheme, no host, or a private address.

    `error_class` is "dns" when the guard could not resolve the host, "refused" otherwise.
    """

    def __init__(self, message: str, error_class: str = "refused") -> None:
        super().__init__(message)
        self.error_class = error_class


def status_class(status: int) -> str:
    """The error class of an HTTP status that is not a success, a 304 or a followed redirect."""
    if status == 429:
        return "http_429"
    if 400 <= status < 500:
        return "http_4xx"
    if status >= 500:
        return "http_5xx"
    return "other"


class _TooLarge(Exception):
    pass


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _ERROR_CHARS else line[: _ERROR_CHARS - 1] + "…"


def _address_kind(ip: IPAddress) -> str | None:
    """Why an address is not on the public internet, or None when it is."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        # ::ffff:127.0.0.1 reaches 127.0.0.1.
        ip = ip.ipv4_mapped
    # Order matters: is_private is also true for loopback and link-local addresses.
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_unspecified:
        return "unspecified"
    # Before is_private, which also covers 240.0.0.0/4.
    if ip.is_reserved:
        return "reserved"
    if ip.is_private:
        return "private network"
    if not ip.is_global:
        return "non-public"
    return None


def _target(url: str) -> tuple[str, int, str]:
    """Scheme check and (ASCII host, port, display host) of a URL; raises FetchRefused."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise FetchRefused(
            f"refused: invalid URL {redact_url(url)!r} ({_one_line(str(exc))})"
        ) from None
    if parsed.scheme not in ("http", "https"):
        scheme = parsed.scheme or "none"
        raise FetchRefused(f"refused: only http and https URLs are fetched, not {scheme}:")
    if not parsed.host:
        raise FetchRefused(f"refused: URL has no host: {redact_url(url)}")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    return parsed.raw_host.decode("ascii"), port, parsed.host


def _literal_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def _refuse_if_private(display_host: str, addresses: Sequence[str]) -> None:
    for text in addresses:
        ip = _literal_ip(text)
        kind = "unparsable" if ip is None else _address_kind(ip)
        if kind is None:
            continue
        if display_host.strip("[]") == text:
            subject = f"{text} is"
        else:
            subject = f"{display_host} resolves to {text},"
        raise FetchRefused(f"refused: {subject} a private address ({kind}; {_ALLOW_HINT})")


def _is_exempt(host: str, display_host: str, allowed_hosts: Collection[str]) -> bool:
    names = {h.lower().strip("[]") for h in allowed_hosts}
    return host.lower().strip("[]") in names or display_host.lower().strip("[]") in names


def check_url_allowed(
    url: str, *, allow_private: bool, allowed_hosts: Collection[str] = ()
) -> None:
    """Raise FetchRefused (one-line reason) unless `url` is http(s) to a public address.

    `allow_private` lifts the address check (tests, demos, intranets); `allowed_hosts` lifts it
    for those host names only. Host names are resolved here, so this call may block on DNS.
    """
    target = _needs_lookup(url, allow_private=allow_private, allowed_hosts=allowed_hosts)
    if target is None:
        return
    host, port, display = target
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise FetchRefused(f"DNS lookup failed for host {display}", "dns") from None
    _refuse_if_private(display, [str(info[4][0]) for info in infos])


def _needs_lookup(
    url: str, *, allow_private: bool, allowed_hosts: Collection[str]
) -> tuple[str, int, str] | None:
    """Checks that need no DNS; returns (host, port, display) when the name must be resolved."""
    host, port, display = _target(url)
    if allow_private or _is_exempt(host, display, allowed_hosts):
        return None
    literal = _literal_ip(host)
    if literal is not None:
        _refuse_if_private(display, [str(literal)])
        return None
    return host, port, display


async def _check_url_async(
    url: str, *, allow_private: bool, allowed_hosts: Collection[str], executor: Executor
) -> str | None:
    """`check_url_allowed` without blocking the event loop on DNS; returns the checked address
    to connect to when the host name was looked up (None: connect as usual)."""
    target = _needs_lookup(url, allow_private=allow_private, allowed_hosts=allowed_hosts)
    if target is None:
        return None
    host, port, display = target
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.run_in_executor(
            executor, lambda: socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        )
    except (socket.gaierror, UnicodeError):
        raise FetchRefused(f"DNS lookup failed for host {display}", "dns") from None
    addresses = [str(info[4][0]) for info in infos]
    _refuse_if_private(display, addresses)
    return addresses[0] if addresses else None


def _pinned(url: str, address: str | None) -> tuple[str, dict[str, str], dict[str, str]]:
    """The request for `url` sent to the `address` the guard checked: (URL, headers, extensions).

    Connecting by name would resolve it a second time, and a name whose DNS answer changes
    between the two lookups (DNS rebinding) would slip a private address past the guard. The
    URL carries the address; the Host header and TLS SNI (which is also the name the
    certificate is verified against) carry the name. Only the first address is tried: a
    host whose first address is down fails this poll rather than being looked up again.

    The connection pool keys connections by address, so a kept-alive connection opened with
    one name's SNI could carry another name's request on a shared CDN address:
    `Connection: close` leaves no idle connection to reuse.
    """
    if address is None:
        return url, {}, {}
    parsed = httpx.URL(url)
    headers = {"Host": parsed.netloc.decode("ascii"), "Connection": "close"}
    extensions = {"sni_hostname": parsed.raw_host.decode("ascii")}
    return str(parsed.copy_with(host=address)), headers, extensions


def _describe(exc: BaseException, url: str, timeout: float) -> tuple[str, str]:
    """(error class, one line for the operator) from whatever httpx (or the socket) raised."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    try:
        host = httpx.URL(url).host or url
    except (httpx.InvalidURL, TypeError, ValueError):
        host = url
    for item in chain:
        if isinstance(item, TimeoutError | httpx.TimeoutException):
            return "timeout", f"timed out after {timeout:g}s"
        if isinstance(item, socket.gaierror):
            return "dns", f"DNS lookup failed for host {host}"
        if isinstance(item, ConnectionRefusedError):
            return "connect", f"connection refused by {host}"
        if isinstance(item, ConnectionResetError):
            return "connect", f"connection reset by {host}"
    for item in chain:
        name = type(item).__name__
        if "SSL" in name or "Certificate" in name:
            return "tls", _one_line(f"TLS error with {host}: {item}")
    if isinstance(exc, httpx.RemoteProtocolError):
        return "connect", _one_line(f"protocol error from {host}: {exc}")
    if isinstance(exc, httpx.DecodingError):
        return "other", _one_line(f"could not decode the response body: {exc}")
    if isinstance(exc, httpx.ConnectError):
        return "connect", _one_line(f"could not connect to {host}: {exc}")
    if isinstance(exc, httpx.TransportError):
        return "connect", _one_line(f"network error with {host}: {exc}")
    return "other", _one_line(f"{type(exc).__name__}: {exc}")


@dataclass(frozen=True)
class _Options:
    timeout: float
    max_bytes: int
    allow_private: bool
    allowed_hosts: frozenset[str]
    executor: Executor


async def _read_capped(response: httpx.Response, max_bytes: int) -> bytes:
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise _TooLarge
    body = bytearray()
    # aiter_bytes yields decoded bytes, so the cap also stops a gzip bomb.
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > max_bytes:
            raise _TooLarge
    return bytes(body)


async def _get(client: httpx.AsyncClient, req: FeedRequest, opts: _Options) -> FetchResult:
    headers: dict[str, str] = {}
    if req.etag:
        headers["If-None-Match"] = req.etag
    if req.last_modified:
        headers["If-Modified-Since"] = req.last_modified
    url = req.url
    # The feed's new home while every hop so far was permanent; a temporary hop ends it.
    moved: str | None = None
    permanent = True
    # Redirects are followed by hand so the SSRF guard sees every hop, not just the first.
    for _hop in range(MAX_REDIRECTS + 1):
        address = await _check_url_async(
            url,
            allow_private=opts.allow_private,
            allowed_hosts=opts.allowed_hosts,
            executor=opts.executor,
        )
        target, host_header, extensions = _pinned(url, address)
        async with client.stream(
            "GET", target, headers={**headers, **host_header}, extensions=extensions
        ) as response:
            status = response.status_code
            if response.has_redirect_location:
                # Against the URL by name: response.url carries the pinned address.
                url = str(httpx.URL(url).join(response.headers["location"]))
                permanent = permanent and status in _PERMANENT
                moved = url if permanent else moved
                continue
            result = FetchResult(
                feed_id=req.feed_id,
                url=req.url,
                ok=False,
                status=status,
                final_url=url,
                content_type=response.headers.get("content-type"),
                # A 304 may omit the validators; the ones we sent are still current.
                etag=response.headers.get("etag") or (req.etag if status == 304 else None),
                last_modified=response.headers.get("last-modified")
                or (req.last_modified if status == 304 else None),
                retry_after=response.headers.get("retry-after"),
                cache_control=response.headers.get("cache-control"),
                moved_to=moved,
            )
            if status == 304:
                result.ok = True
                result.not_modified = True
            elif not 200 <= status < 300:
                result.error = f"HTTP {status}"
                result.error_class = status_class(status)
                if 300 <= status < 400:
                    result.error += " (redirect without a usable Location header)"
            else:
                try:
                    result.body = await _read_capped(response, opts.max_bytes)
                    result.ok = True
                except _TooLarge:
                    result.error = f"response body larger than {opts.max_bytes} bytes; not read"
                    result.error_class = "too_large"
            return result
    return FetchResult(
        feed_id=req.feed_id,
        url=req.url,
        ok=False,
        error=f"too many redirects (more than {MAX_REDIRECTS}); last to {redact_url(url)}",
        error_class="other",
        final_url=url,
    )


async def _fetch_one(
    client: httpx.AsyncClient, req: FeedRequest, opts: _Options, slots: asyncio.Semaphore
) -> FetchResult:
    async with slots:
        started = time.monotonic()
        try:
            # One deadline for the whole poll: httpx's timeouts are per read, so a server
            # trickling a byte a second would otherwise never time out.
            async with asyncio.timeout(opts.timeout):
                result = await _get(client, req, opts)
        except FetchRefused as exc:
            result = FetchResult(
                feed_id=req.feed_id,
                url=req.url,
                ok=False,
                error=str(exc),
                error_class=exc.error_class,
            )
        except Exception as exc:
            # Whatever goes wrong with one feed is that feed's error, never the batch's.
            kind, error = _describe(exc, req.url, opts.timeout)
            result = FetchResult(
                feed_id=req.feed_id, url=req.url, ok=False, error=error, error_class=kind
            )
        result.elapsed_ms = round((time.monotonic() - started) * 1000, 1)
        return result


async def _fetch_all(
    requests: Sequence[FeedRequest],
    *,
    timeout: float,
    max_bytes: int,
    concurrency: int,
    allow_private: bool,
    allowed_hosts: frozenset[str],
    user_agent: str,
) -> list[FetchResult]:
    # Our own pool for DNS lookups, shut down without waiting: asyncio.run would otherwise
    # wait for a lookup stuck in a dead resolver long after its feed timed out.
    executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="newsmon-dns")
    opts = _Options(timeout, max_bytes, allow_private, allowed_hosts, executor)
    slots = asyncio.Semaphore(concurrency)
    try:
        async with httpx.AsyncClient(
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            headers={"User-Agent": user_agent, "Accept": _ACCEPT},
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        ) as client:
            return list(
                await asyncio.gather(*(_fetch_one(client, r, opts, slots) for r in requests))
            )
    finally:
        executor.shutdown(wait=False, cancel_futures=True)


def fetch_feeds(
    requests: Sequence[FeedRequest],
    *,
    timeout: float = 20.0,
    max_bytes: int = 10_000_000,
    concurrency: int = 8,
    allow_private: bool = False,
    user_agent: str = DEFAULT_USER_AGENT,
    allowed_hosts: Collection[str] = (),
) -> list[FetchResult]:
    """Poll feeds concurrently; one FetchResult per request, in order. Never raises per feed.

    `timeout` bounds each poll as a whole (connect, redirects and body); `max_bytes` bounds the
    decoded body; `allowed_hosts` exempts those host names from the private-address refusal.
    """
    if not requests:
        return []
    if concurrency < 1 or timeout <= 0 or max_bytes < 1:
        raise ValueError("concurrency, timeout and max_bytes must be positive")
    coro = _fetch_all(
        requests,
        timeout=timeout,
        max_bytes=max_bytes,
        concurrency=concurrency,
        allow_private=allow_private,
        allowed_hosts=frozenset(allowed_hosts),
        user_agent=user_agent,
    )
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    # Called from inside an event loop (a notebook, an async caller): run ours on a thread.
    with ThreadPoolExecutor(max_workers=1) as runner:
        return runner.submit(asyncio.run, coro).result()
