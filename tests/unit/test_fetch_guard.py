"""monitor.fetch.check_url_allowed: the SSRF guard, on address literals (no network needed)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.fetch import FetchRefused, _pinned, check_url_allowed

HINT = "set NEWSMON_ALLOW_PRIVATE_FEEDS=true to allow"


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://127.0.0.1/feed.xml", "loopback"),
        ("http://127.8.9.10:8080/feed.xml", "loopback"),
        ("http://[::1]/feed", "loopback"),
        ("http://10.1.2.3/rss", "private network"),
        ("http://172.16.0.1/rss", "private network"),
        ("https://192.168.1.20/rss", "private network"),
        ("http://[fc00::1]/rss", "private network"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),  # cloud metadata endpoint
        ("http://[fe80::1]/", "link-local"),
        ("http://224.0.0.1/", "multicast"),
        ("http://[ff02::1]/", "multicast"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),  # IPv4-mapped IPv6
        ("http://[::ffff:10.0.0.1]/", "private network"),
        ("http://240.0.0.1/", "reserved"),
        ("http://100.64.0.1/", "non-public"),  # carrier-grade NAT
    ],
)
def test_non_public_address_literals_are_refused(url: str, kind: str) -> None:
    with pytest.raises(FetchRefused) as info:
        check_url_allowed(url, allow_private=False)
    message = str(info.value)
    assert message.startswith("refused: ")
    assert "a private address" in message
    assert f"({kind}; {HINT})" in message
    assert "\n" not in message


def test_refusal_message_names_the_address() -> None:
    with pytest.raises(FetchRefused) as info:
        check_url_allowed("http://127.0.0.1:8081/wire-a.xml", allow_private=False)
    assert str(info.value) == (
        "refused: 127.0.0.1 is a private address (loopback; set NEWSMON_ALLOW_PRIVATE_FEEDS=true "
        "to allow)"
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://8.8.8.8/feed",
        "https://1.1.1.1:8443/rss.xml",
        "http://[2606:4700:4700::1111]/feed",
        "https://93.184.215.14/news?x=1",
    ],
)
def test_public_address_literals_pass(url: str) -> None:
    check_url_allowed(url, allow_private=False)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1/x", "http://10.0.0.5/x", "http://[::1]:9/x", "http://localhost/x"]
)
def test_allow_private_lifts_the_address_check(url: str) -> None:
    check_url_allowed(url, allow_private=True)


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://ftp.example.com/feed.xml",
        "gopher://127.0.0.1:70/",
        "javascript:alert(1)",
        "data:text/xml,<rss/>",
        "feed.example.com/rss",  # no scheme at all
    ],
)
@pytest.mark.parametrize("allow_private", [False, True])
def test_only_http_and_https_are_fetched(url: str, allow_private: bool) -> None:
    with pytest.raises(FetchRefused, match=r"^refused: only http and https URLs are fetched"):
        check_url_allowed(url, allow_private=allow_private)


@pytest.mark.parametrize("url", ["http:///path-only", "https://:443/"])
def test_url_without_host_is_refused(url: str) -> None:
    with pytest.raises(FetchRefused, match=r"^refused: "):
        check_url_allowed(url, allow_private=True)


def test_unparsable_url_is_refused_in_one_line() -> None:
    with pytest.raises(FetchRefused) as info:
        check_url_allowed("http://[::1/feed", allow_private=True)
    assert str(info.value).startswith("refused: invalid URL")
    assert "\n" not in str(info.value)


def test_allowed_hosts_exempt_exactly_those_hosts() -> None:
    check_url_allowed(
        "http://127.0.0.1:8081/f.xml", allow_private=False, allowed_hosts={"127.0.0.1"}
    )
    with pytest.raises(FetchRefused):
        check_url_allowed(
            "http://127.0.0.2/f.xml", allow_private=False, allowed_hosts={"127.0.0.1"}
        )


def test_fetch_refused_is_a_value_error() -> None:
    assert issubclass(FetchRefused, ValueError)


# Names that only the local resolver (hosts file, numeric forms) answers: still no network.


def test_localhost_name_is_resolved_and_refused() -> None:
    with pytest.raises(FetchRefused) as info:
        check_url_allowed("http://localhost:8081/feed.xml", allow_private=False)
    assert str(info.value).startswith("refused: localhost resolves to ")
    assert "(loopback; " in str(info.value)


@pytest.mark.parametrize("url", ["http://2130706433/", "http://0x7f000001/", "http://127.1/"])
def test_numeric_spellings_of_loopback_are_refused(url: str) -> None:
    # inet_aton accepts these; a check on the literal text alone would let them through.
    with pytest.raises(FetchRefused, match=r"resolves to 127\.0\.0\.1, a private address"):
        check_url_allowed(url, allow_private=False)


def test_unresolvable_host_is_reported_as_dns_failure() -> None:
    with pytest.raises(FetchRefused, match=r"^DNS lookup failed for host feeds\.invalid$"):
        check_url_allowed("https://feeds.invalid/rss", allow_private=False)


@given(st.ip_addresses(network="10.0.0.0/8") | st.ip_addresses(network="fd00::/8"))
def test_any_private_range_address_is_refused(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    host = f"[{ip}]" if ip.version == 6 else str(ip)
    with pytest.raises(FetchRefused, match="a private address"):
        check_url_allowed(f"http://{host}/feed", allow_private=False)


def test_a_looked_up_host_is_requested_at_the_checked_address_under_its_name() -> None:
    url, headers, extensions = _pinned("https://xn--bcher-kva.example:8443/feed?x=1", "2001:db8::7")
    assert url == "https://[2001:db8::7]:8443/feed?x=1"
    assert headers == {"Host": "xn--bcher-kva.example:8443", "Connection": "close"}
    assert extensions == {"sni_hostname": "xn--bcher-kva.example"}  # TLS checks the name


def test_an_unlooked_up_url_is_requested_as_it_is() -> None:
    assert _pinned("http://127.0.0.1:8081/a.xml", None) == ("http://127.0.0.1:8081/a.xml", {}, {})


@pytest.mark.parametrize(
    "url",
    [
        "http://2130706433/feed.xml",  # 127.0.0.1 written as one decimal number
        "http://0x7f000001/feed.xml",  # and in hexadecimal
        "http://localhost:8081/feed.xml",  # a name that resolves to a private address
    ],
)
def test_names_and_numbers_that_resolve_to_loopback_are_refused(url: str) -> None:
    with pytest.raises(FetchRefused, match="private address"):
        check_url_allowed(url, allow_private=False)
