"""Endpoint safety tables: which URLs and which DNS answers the policy refuses, and why.

Everything here is pure: a guard fixture makes any socket connect or name lookup fail the test.
"""

from __future__ import annotations

import ipaddress
import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acadio_webhooks.domain.endpoints import EndpointPolicy, ParsedEndpoint
from acadio_webhooks.errors import InvalidEndpoint

FULLWIDTH = {c: c + 0xFEE0 for c in range(0x21, 0x7F)}  # ASCII -> fullwidth forms
DEFAULT = EndpointPolicy()
INSECURE = EndpointPolicy(allow_insecure=True)


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the endpoint policy must not touch the network")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "gethostbyname", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


# -- URLs the default policy accepts, and how they are normalised ----------------------------


@pytest.mark.parametrize(
    ("url", "scheme", "host", "port"),
    [
        ("https://hooks.example.com/acadio", "https", "hooks.example.com", 443),
        ("HTTPS://Hooks.Example.COM./acadio", "https", "hooks.example.com", 443),
        ("https://hooks.example.com:8443/x?tenant=7", "https", "hooks.example.com", 8443),
        ("https://hooks.example.com", "https", "hooks.example.com", 443),
        ("https://bücher.example.com/hook", "https", "xn--bcher-kva.example.com", 443),
        ("https://xn--bcher-kva.example.com/hook", "https", "xn--bcher-kva.example.com", 443),
        ("https://in_house.example.com/", "https", "in_house.example.com", 443),
        ("https://8.8.8.8/hook", "https", "8.8.8.8", 443),
        ("https://134744072/hook", "https", "8.8.8.8", 443),  # decimal form of a public IPv4
        ("https://0x8.0x8.0x8.0x8/hook", "https", "8.8.8.8", 443),
        ("https://[2606:4700:4700::1111]:8443/", "https", "2606:4700:4700::1111", 8443),
        ("https://[::ffff:8.8.8.8]/", "https", "::ffff:8.8.8.8", 443),  # mapped public
        ("https://[64:ff9b::808:808]/", "https", "64:ff9b::808:808", 443),  # NAT64 public
        ("https://[2002:808:808::1]/", "https", "2002:808:808::1", 443),  # 6to4 public
    ],
)
def test_public_https_urls_are_accepted_and_normalised(
    url: str, scheme: str, host: str, port: int
) -> None:
    assert DEFAULT.check_url(url) == ParsedEndpoint(scheme=scheme, host=host, port=port)


@pytest.mark.parametrize(
    ("url", "authority"),
    [
        ("https://hooks.example.com/in", "hooks.example.com"),
        ("https://hooks.example.com:443/in", "hooks.example.com"),
        ("https://hooks.example.com:8443/in", "hooks.example.com:8443"),
        ("http://127.0.0.1:80/in", "127.0.0.1"),
        ("http://[::1]:8080/in", "[::1]:8080"),
        ("https://[2001:DB8::1]/in", "[2001:db8::1]"),
    ],
)
def test_the_authority_is_what_a_host_header_names(url: str, authority: str) -> None:
    # The port only when it is not the scheme's default; an IPv6 address in brackets.
    assert EndpointPolicy(allow_insecure=True).check_url(url).authority == authority


def test_an_ip_literal_endpoint_exposes_its_address() -> None:
    assert DEFAULT.check_url("https://134744072/").ip == ipaddress.IPv4Address("8.8.8.8")
    assert DEFAULT.check_url("https://hooks.example.com/").ip is None


# -- URLs the default policy refuses ---------------------------------------------------------

REFUSED = [
    # scheme and shape
    ("http://hooks.example.com/", "scheme must be https"),
    ("ftp://hooks.example.com/", "scheme must be https"),
    ("hooks.example.com/hook", "scheme must be https"),
    ("https://", "no host"),
    ("https:///hook", "no host"),
    ("https://user:secret@hooks.example.com/", "userinfo"),
    ("https://hooks.example.com@127.0.0.1/", "userinfo"),
    ("https://127.0.0.1#@hooks.example.com/", "fragment"),
    ("https://hooks.example.com/hook#section", "fragment"),
    ("https://hooks.example.com\\@127.0.0.1/", "backslash"),
    ("https://hooks.exa mple.com/", "whitespace"),
    ("https://hooks.example.com\t/", "whitespace"),
    ("https://hooks.example.com/\nHost: evil", "whitespace"),
    ("https://%31%32%37.0.0.1/", "percent-encoded"),
    ("https://[::1/", "IPv6"),
    ("https://[not-an-address]/", "IPv6"),
    ("https://-bad-.example.com/", "invalid host name"),
    ("https://a..b.example.com/", "invalid host name"),
    ("https://" + "a" * 64 + ".example.com/", "invalid host name"),
    ("https://1.2.3.4.5/", "neither an IPv4 address nor a name"),
    ("https://example.123/", "neither an IPv4 address nor a name"),
    ("https://hooks.example.0x1/", "neither an IPv4 address nor a name"),
    ("https://999.1.1.1/", "neither an IPv4 address nor a name"),
    # ports
    ("https://hooks.example.com:0/", "invalid port"),
    ("https://hooks.example.com:65536/", "invalid port"),
    ("https://hooks.example.com:https/", "invalid port"),
    ("https://hooks.example.com:+443/", "invalid port"),
    ("https://hooks.example.com:/", "invalid port"),
    # loopback in every spelling libc accepts
    ("https://127.0.0.1/", "loopback"),
    ("https://127.0.0.1./", "loopback"),
    ("https://127.1/", "loopback"),
    ("https://127.0.1/", "loopback"),
    ("https://2130706433/", "loopback"),
    ("https://0177.0.0.1/", "loopback"),
    ("https://017700000001/", "loopback"),
    ("https://0x7f.1/", "loopback"),
    ("https://0x7f000001/", "loopback"),
    ("https://0x7F.0.0.0x1/", "loopback"),
    ("https://127.0.0.01/", "loopback"),
    ("https://\uff11\uff12\uff17.\uff10.\uff10.\uff11/", "loopback"),  # fullwidth 127.0.0.1
    ("https://[::1]/", "loopback"),
    ("https://[0:0:0:0:0:0:0:1]/", "loopback"),
    ("https://[::ffff:127.0.0.1]/", "IPv4-mapped IPv6 address embedding 127.0.0.1 (loopback"),
    ("https://[::ffff:7f00:1]/", "IPv4-mapped"),
    ("https://[0:0:0:0:0:ffff:127.0.0.1]/", "IPv4-mapped"),
    ("https://[::127.0.0.1]/", "IPv4-compatible"),
    ("https://[64:ff9b::7f00:1]/", "NAT64 IPv6 address embedding 127.0.0.1"),
    ("https://[2002:7f00:1::]/", "6to4 IPv6 address embedding 127.0.0.1"),
    # names
    ("https://localhost/", "loopback name"),
    ("https://LOCALHOST./", "loopback name"),
    ("https://" + "localhost".translate(FULLWIDTH) + "/", "loopback name"),
    ("https://api.localhost/", "loopback name"),
    ("https://localhost.localdomain/", "loopback name"),
    ("https://ip6-localhost/", "loopback name"),
    ("https://metadata.google.internal/computeMetadata/v1/", "metadata service name"),
    ("https://METADATA.google.internal./", "metadata service name"),
    ("https://metadata/", "metadata service name"),
    ("https://instance-data/latest/", "metadata service name"),
    ("https://printer.local/", "reserved for local networks"),
    ("https://db.internal/", "reserved for local networks"),
    ("https://router.home.arpa/", "reserved for local networks"),
    ("https://intranet/", "single-label name"),
    # private, special and metadata addresses
    ("https://169.254.169.254/latest/meta-data/", "cloud metadata"),
    ("https://2852039166/", "cloud metadata"),  # 169.254.169.254 in decimal
    ("https://0xa9fea9fe/", "cloud metadata"),
    ("https://[::ffff:169.254.169.254]/", "cloud metadata"),
    ("https://[2002:a9fe:a9fe::]/", "cloud metadata"),
    ("https://[fd00:ec2::254]/", "cloud metadata"),
    ("https://100.100.100.200/", "cloud metadata"),
    ("https://168.63.129.16/", "cloud metadata"),
    ("https://10.0.0.1/", "private"),
    ("https://172.16.5.4/", "private"),
    ("https://192.168.1.1/", "private"),
    ("https://[fc00::1]/", "private"),
    ("https://[fd12:3456::1]/", "private"),
    ("https://100.64.0.1/", "carrier-grade NAT"),
    ("https://169.254.1.1/", "link-local"),
    ("https://[fe80::1]/", "link-local"),
    ("https://[fe80::1%25eth0]/", "link-local"),
    ("https://0.0.0.0/", "unspecified"),
    ("https://0/", "unspecified"),
    ("https://[::]/", "unspecified"),
    ("https://224.0.0.1/", "multicast"),
    ("https://[ff02::1]/", "multicast"),
    ("https://255.255.255.255/", "broadcast"),
    ("https://240.0.0.1/", "reserved"),
    ("https://192.0.2.1/", "documentation"),
    ("https://198.51.100.7/", "documentation"),
    ("https://[2001:db8::1]/", "documentation"),
    ("https://198.18.0.1/", "benchmarking"),
    ("https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", "Teredo"),
]


@pytest.mark.parametrize(("url", "problem"), REFUSED)
def test_unsafe_urls_are_refused_with_the_reason(url: str, problem: str) -> None:
    with pytest.raises(InvalidEndpoint) as refused:
        DEFAULT.check_url(url)

    assert refused.value.url == url
    assert problem in refused.value.problem
    assert isinstance(refused.value, ValueError)


# -- the allow_insecure opt-out --------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "host", "port"),
    [
        ("http://127.0.0.1:8000/hook", "127.0.0.1", 8000),
        ("http://localhost:8000/hook", "localhost", 8000),
        ("http://[::1]:8000/hook", "::1", 8000),
        ("https://10.0.0.5/hook", "10.0.0.5", 443),
        ("http://receiver.internal/hook", "receiver.internal", 80),
        ("http://receiver/hook", "receiver", 80),
        ("http://2130706433/hook", "127.0.0.1", 80),
    ],
)
def test_allow_insecure_accepts_http_and_local_endpoints(url: str, host: str, port: int) -> None:
    endpoint = INSECURE.check_url(url)

    assert (endpoint.host, endpoint.port) == (host, port)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
        ("http://[::ffff:169.254.169.254]/", "cloud metadata"),
        ("http://[::169.254.169.254]/", "IPv4-compatible"),
        ("http://metadata.google.internal/", "metadata service name"),
        ("http://0.0.0.0:8000/", "unspecified"),
        ("http://224.0.0.1/", "multicast"),
        ("http://255.255.255.255/", "broadcast"),
        ("ftp://127.0.0.1/", "scheme"),
        ("http://user@127.0.0.1/", "userinfo"),
    ],
)
def test_allow_insecure_still_refuses_what_is_never_a_webhook_receiver(
    url: str, problem: str
) -> None:
    with pytest.raises(InvalidEndpoint, match=problem):
        INSECURE.check_url(url)


def test_allowed_ports_restrict_endpoints() -> None:
    policy = EndpointPolicy(allowed_ports=frozenset({443}))

    assert policy.check_url("https://hooks.example.com/").port == 443
    with pytest.raises(InvalidEndpoint, match=r"port 8443 is not allowed \(allowed: 443\)"):
        policy.check_url("https://hooks.example.com:8443/")


# -- addresses -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("93.184.216.34", None),
        ("2606:4700:4700::1111", None),
        ("::ffff:93.184.216.34", None),
        ("127.0.0.53", "loopback address"),
        ("::1", "loopback address"),
        ("10.1.2.3", "private address (RFC 1918)"),
        ("fd00::1", "private address (unique local)"),
        ("169.254.169.254", "cloud metadata service"),
        ("169.254.170.2", "cloud metadata service"),
        ("100.100.100.200", "cloud metadata service"),
        ("fd00:ec2::254", "cloud metadata service"),
        ("100.127.255.254", "shared address space (carrier-grade NAT)"),
        (
            "::ffff:10.0.0.1",
            "IPv4-mapped IPv6 address embedding 10.0.0.1 (private address (RFC 1918))",
        ),
        (
            "64:ff9b::a9fe:a9fe",
            "NAT64 IPv6 address embedding 169.254.169.254 (cloud metadata service)",
        ),
        (
            "2002:c0a8:101::",
            "6to4 IPv6 address embedding 192.168.1.1 (private address (RFC 1918))",
        ),
        ("64:ff9b:1::1", "local-use NAT64 address"),
        ("2001::1", "Teredo tunnel address"),
        ("203.0.113.9", "documentation address"),
        ("3fff::1", "documentation address"),
        ("198.19.255.255", "benchmarking address"),
        ("239.255.255.250", "multicast address"),
        ("255.255.255.255", "broadcast address"),
        ("0.1.2.3", "unspecified ('this network') address"),
    ],
)
def test_forbidden_reason_names_the_range(address: str, reason: str | None) -> None:
    assert DEFAULT.forbidden_reason(ipaddress.ip_address(address)) == reason
    assert DEFAULT.forbidden_reason(address) == reason


def test_check_addresses_accepts_a_host_resolving_only_to_public_addresses() -> None:
    public = [ipaddress.ip_address("93.184.216.34"), ipaddress.ip_address("2606:2800:220:1::")]

    DEFAULT.check_addresses("hooks.example.com", public)


@pytest.mark.parametrize(
    ("answers", "problem"),
    [
        ([], "did not resolve to any address"),
        (["127.0.0.1"], "resolves to 127.0.0.1, a loopback address"),
        (["93.184.216.34", "10.0.0.7"], "resolves to 10.0.0.7, a private address (RFC 1918)"),
        (["2606:2800:220:1::", "::ffff:127.0.0.1"], "resolves to ::ffff:127.0.0.1"),
    ],
)
def test_check_addresses_refuses_a_host_with_any_forbidden_answer(
    answers: list[str], problem: str
) -> None:
    with pytest.raises(InvalidEndpoint) as refused:
        DEFAULT.check_addresses("hooks.example.com", [ipaddress.ip_address(a) for a in answers])

    assert refused.value.url == "hooks.example.com"
    assert problem in refused.value.problem


def test_allow_insecure_accepts_local_answers_but_never_metadata() -> None:
    INSECURE.check_addresses("receiver.test", [ipaddress.ip_address("127.0.0.1")])
    with pytest.raises(InvalidEndpoint, match="cloud metadata"):
        INSECURE.check_addresses("receiver.test", [ipaddress.ip_address("169.254.169.254")])


# -- properties: every spelling of an IPv4 address gets the same verdict ----------------------

ipv4_addresses = st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address)


@given(ipv4_addresses)
def test_ipv6_forms_carrying_an_ipv4_address_get_its_verdict(ipv4: ipaddress.IPv4Address) -> None:
    verdict = DEFAULT.forbidden_reason(ipv4)
    carriers = [
        ipaddress.IPv6Address(0xFFFF << 32 | int(ipv4)),  # ::ffff:a.b.c.d
        ipaddress.IPv6Address(0x64FF9B << 96 | int(ipv4)),  # 64:ff9b::a.b.c.d
        ipaddress.IPv6Address(0x2002 << 112 | int(ipv4) << 80),  # 2002:aabb:ccdd::
    ]
    for carrier in carriers:
        assert (DEFAULT.forbidden_reason(carrier) is None) == (verdict is None), carrier


@given(ipv4_addresses)
def test_numeric_hosts_are_judged_as_the_address_libc_reads(ipv4: ipaddress.IPv4Address) -> None:
    number = int(ipv4)
    spellings = [str(ipv4), str(number), hex(number), "0" + oct(number)[2:]]
    for spelling in spellings:
        url = f"https://{spelling}/hook"
        if DEFAULT.forbidden_reason(ipv4) is None:
            assert DEFAULT.check_url(url).host == str(ipv4)
        else:
            with pytest.raises(InvalidEndpoint):
                DEFAULT.check_url(url)
