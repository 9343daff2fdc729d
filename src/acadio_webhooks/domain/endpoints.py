"""Endpoint safety: which webhook URLs and which resolved addresses may be reached.

A webhook endpoint is chosen by a customer, so without checks the LMS would POST wherever the
customer says: its own loopback admin ports, the private network, the cloud metadata service
(server-side request forgery). :class:`EndpointPolicy` is the one place that decides; it is
applied when an endpoint is registered (:meth:`EndpointPolicy.check_url`, then
:meth:`EndpointPolicy.check_addresses` on what the name resolves to) and again by every
transport before every new connection, which it then pins to a checked address.

Everything here is pure: no name is resolved and no socket is opened. Numeric IPv4 spellings
that C libraries and browsers accept (``2130706433``, ``0177.0.0.1``, ``0x7f.1``, ``127.1``)
are read the way ``inet_aton`` reads them, so they cannot smuggle a forbidden address past a
check that only knows dotted quads.

>>> policy = EndpointPolicy()
>>> policy.check_url("https://Hooks.Example.COM./acadio")
ParsedEndpoint(scheme='https', host='hooks.example.com', port=443)
>>> policy.forbidden_reason(ipaddress.ip_address("::ffff:169.254.169.254"))
'IPv4-mapped IPv6 address embedding 169.254.169.254 (cloud metadata service)'
>>> EndpointPolicy(allow_insecure=True).check_url("http://127.0.0.1:8000/hook").port
8000
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from socket import inet_aton  # a pure parser (no I/O): the libc reading of numeric IPv4 hosts
from urllib.parse import urlsplit

from acadio_webhooks.errors import InvalidEndpoint

__all__ = ["IPAddress", "ParsedEndpoint", "EndpointPolicy", "format_address"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_DEFAULT_PORTS = {"https": 443, "http": 80}
_MAX_HOST_LENGTH = 253
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_PORT = re.compile(r"[0-9]{1,5}")
# WHATWG URL: a host whose last label is a number is an IPv4 address or nothing (TLDs are
# never numeric), so "1.2.3.4.5" or "example.0x1" must not fall through to DNS.
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")
# Spaces, controls and backslashes are read differently by different URL parsers (urllib
# silently drops tabs; browsers turn "\" into "/"): refusing them keeps every parser agreeing.
_AMBIGUOUS_CHARACTER = re.compile(r"[\x00-\x20\x7f\\]")


class _Tier(Enum):
    """How bad a non-public address is."""

    NEVER = "never"  # refused even with allow_insecure: never a legitimate webhook target
    NON_PUBLIC = "non_public"  # refused unless allow_insecure (local development, tests)


def _table(
    rows: Iterable[tuple[str, str, _Tier]],
) -> tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str, _Tier], ...]:
    return tuple((ipaddress.ip_network(net), reason, tier) for net, reason, tier in rows)


_NEVER, _NON_PUBLIC = _Tier.NEVER, _Tier.NON_PUBLIC

# Checked in order, first match wins: specific entries (metadata, broadcast) before the ranges
# that contain them. Python's ipaddress flags (is_private, ...) changed between patch releases,
# so the ranges are spelled out here; ``is_global`` is only the final safety net.
_FORBIDDEN_NETWORKS = _table(
    [
        ("169.254.169.254/32", "cloud metadata service", _NEVER),  # AWS, GCP, Azure, OpenStack
        ("169.254.170.2/32", "cloud metadata service", _NEVER),  # AWS ECS task credentials
        ("100.100.100.200/32", "cloud metadata service", _NEVER),  # Alibaba Cloud
        ("168.63.129.16/32", "cloud metadata service", _NEVER),  # Azure WireServer (public range)
        ("192.0.0.192/32", "cloud metadata service", _NEVER),  # Oracle Cloud
        ("fd00:ec2::254/128", "cloud metadata service", _NEVER),  # AWS IMDS over IPv6
        ("255.255.255.255/32", "broadcast address", _NEVER),
        ("0.0.0.0/8", "unspecified ('this network') address", _NEVER),
        ("224.0.0.0/4", "multicast address", _NEVER),
        ("240.0.0.0/4", "reserved address", _NEVER),
        ("::/128", "unspecified address", _NEVER),
        ("ff00::/8", "multicast address", _NEVER),
        ("127.0.0.0/8", "loopback address", _NON_PUBLIC),
        ("10.0.0.0/8", "private address (RFC 1918)", _NON_PUBLIC),
        ("172.16.0.0/12", "private address (RFC 1918)", _NON_PUBLIC),
        ("192.168.0.0/16", "private address (RFC 1918)", _NON_PUBLIC),
        ("100.64.0.0/10", "shared address space (carrier-grade NAT)", _NON_PUBLIC),
        ("169.254.0.0/16", "link-local address", _NON_PUBLIC),
        ("192.0.0.0/24", "IETF protocol assignment", _NON_PUBLIC),
        ("192.0.2.0/24", "documentation address", _NON_PUBLIC),
        ("198.51.100.0/24", "documentation address", _NON_PUBLIC),
        ("203.0.113.0/24", "documentation address", _NON_PUBLIC),
        ("198.18.0.0/15", "benchmarking address", _NON_PUBLIC),
        ("192.88.99.0/24", "deprecated 6to4 relay anycast address", _NON_PUBLIC),
        ("::1/128", "loopback address", _NON_PUBLIC),
        ("fc00::/7", "private address (unique local)", _NON_PUBLIC),
        ("fe80::/10", "link-local address", _NON_PUBLIC),
        ("fec0::/10", "deprecated site-local address", _NON_PUBLIC),
        ("64:ff9b:1::/48", "local-use NAT64 address", _NON_PUBLIC),
        ("100::/64", "discard-only address", _NON_PUBLIC),
        ("2001::/32", "Teredo tunnel address", _NON_PUBLIC),
        ("2001:2::/48", "benchmarking address", _NON_PUBLIC),
        ("2001:db8::/32", "documentation address", _NON_PUBLIC),
        ("3fff::/20", "documentation address", _NON_PUBLIC),
        ("2001::/23", "IETF protocol assignment", _NON_PUBLIC),
    ]
)

_IPV4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")

# Names that reach the metadata service on the major clouds without any DNS trickery.
_METADATA_NAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.tencentyun.com",
        "metadata.platformequinix.com",
    }
)
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
# Suffixes reserved for names that only mean something inside one network.
_LOCAL_SUFFIXES = ("localhost", "local", "localdomain", "internal", "home.arpa")


@dataclass(frozen=True)
class ParsedEndpoint:
    """An endpoint URL's parts that decide where a connection goes.

    ``host`` is normalised: lower case, without a trailing dot, internationalised names in
    punycode (``xn--``), and IP addresses in their canonical form (brackets removed).
    """

    scheme: str
    host: str
    port: int

    @property
    def authority(self) -> str:
        """``host[:port]`` as an HTTP ``Host`` header names it: an IPv6 address in brackets,
        the port left out when it is the scheme's default.

        >>> ParsedEndpoint("https", "::1", 8443).authority
        '[::1]:8443'
        """
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == _DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"

    @property
    def ip(self) -> IPAddress | None:
        """The address when ``host`` is an IP literal, else None."""
        try:
            return ipaddress.ip_address(self.host)
        except ValueError:
            return None


@dataclass(frozen=True)
class EndpointPolicy:
    """Which endpoints may receive webhooks. Frozen: build a new one to change it.

    By default only ``https://`` URLs whose host is a public name or address are accepted, and
    every address a name resolves to must be public. ``allow_insecure=True`` is the one
    documented opt-out, for local development and tests: it accepts ``http://`` and
    loopback, private, link-local and other non-public addresses and names. Even then,
    cloud metadata services, unspecified, multicast, broadcast and reserved addresses stay
    refused: nothing legitimate listens for webhooks there.

    ``allowed_ports``, when given, restricts endpoints to those ports (for example
    ``frozenset({443})``); the default accepts any port.
    """

    allow_insecure: bool = False
    allowed_ports: frozenset[int] | None = None

    def check_url(self, url: str) -> ParsedEndpoint:
        """Parse ``url`` and refuse it unless it may be an endpoint under this policy.

        Raises :class:`~acadio_webhooks.errors.InvalidEndpoint` naming the problem. Host
        names are checked for what they say (``localhost``, metadata names); what they
        resolve to is checked by :meth:`check_addresses`.
        """
        if _AMBIGUOUS_CHARACTER.search(url):
            raise InvalidEndpoint(url, "contains whitespace, a control character or a backslash")
        try:
            parts = urlsplit(url)
        except ValueError as exc:
            raise InvalidEndpoint(url, f"not a valid URL ({exc})") from None
        scheme = parts.scheme.lower()
        allowed_schemes = ("https", "http") if self.allow_insecure else ("https",)
        if scheme not in allowed_schemes:
            hint = "" if self.allow_insecure else " (http:// only with allow_insecure=True)"
            raise InvalidEndpoint(url, f"scheme must be https{hint}")
        if "#" in url:
            raise InvalidEndpoint(url, "a fragment (#...) is not allowed")
        if "@" in parts.netloc:
            raise InvalidEndpoint(url, "userinfo (user:password@) is not allowed")
        raw_host, port = _split_netloc(url, parts.netloc, _DEFAULT_PORTS[scheme])
        if self.allowed_ports is not None and port not in self.allowed_ports:
            allowed = ", ".join(str(p) for p in sorted(self.allowed_ports))
            raise InvalidEndpoint(url, f"port {port} is not allowed (allowed: {allowed})")
        ip, host = _normalise_host(url, raw_host)
        if ip is not None:
            reason = self.forbidden_reason(ip)
            if reason is not None:
                raise InvalidEndpoint(url, f"address {host} is a {reason}")
        else:
            reason = self._forbidden_name_reason(host)
            if reason is not None:
                raise InvalidEndpoint(url, f"host {host!r} is {reason}")
        return ParsedEndpoint(scheme=scheme, host=host, port=port)

    def forbidden_reason(self, ip: IPAddress | str) -> str | None:
        """Why this policy refuses to connect to ``ip``, or None when it may.

        IPv6 forms that carry an IPv4 address (IPv4-mapped and -compatible, NAT64 ``64:ff9b::/96``,
        6to4 ``2002::/16``) are judged by the IPv4 address they carry.
        """
        address = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
        verdict = _classify(address)
        if verdict is None:
            return None
        reason, tier = verdict
        if tier is _Tier.NON_PUBLIC and self.allow_insecure:
            return None
        return reason

    def check_addresses(self, host: str, addresses: Iterable[IPAddress]) -> None:
        """Refuse ``host`` unless it resolved to at least one address and all are allowed.

        One forbidden answer refuses the host even when others are public: a connection may
        use any of them, and mixing public and private answers is a DNS-rebinding trick.
        """
        resolved = list(addresses)
        if not resolved:
            raise InvalidEndpoint(host, "the host name did not resolve to any address")
        for address in resolved:
            reason = self.forbidden_reason(address)
            if reason is not None:
                raise InvalidEndpoint(host, f"resolves to {format_address(address)}, a {reason}")

    def _forbidden_name_reason(self, host: str) -> str | None:
        if host in _METADATA_NAMES:
            return "a cloud metadata service name"
        if self.allow_insecure:
            return None
        if host in _LOOPBACK_NAMES or host.endswith(".localhost"):
            return "a loopback name"
        if any(host == suffix or host.endswith("." + suffix) for suffix in _LOCAL_SUFFIXES):
            return "a name reserved for local networks"
        if "." not in host:
            return "a single-label name (resolved through local search domains)"
        return None


def format_address(address: IPAddress) -> str:
    """``address`` as text, the same on every Python version.

    IPv4-mapped IPv6 addresses are written with their IPv4 part in dotted form
    (``::ffff:8.8.8.8``, RFC 5952 section 5); Python 3.13 changed ``str()`` to do so while
    3.10-3.12 write ``::ffff:808:808``, which would make normalised endpoint hosts and error
    messages differ between hosts running different Pythons.
    """
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return f"::ffff:{address.ipv4_mapped}"
    return str(address)


def _split_netloc(url: str, netloc: str, default_port: int) -> tuple[str, int]:
    """``netloc`` without userinfo -> (raw host, port)."""
    if netloc.startswith("["):
        host, bracket, rest = netloc[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise InvalidEndpoint(url, "malformed IPv6 address literal")
        host = "[" + host + "]"
        port_text = rest[1:] if rest else None
    else:
        host, colon, port_text_or_empty = netloc.rpartition(":")
        if not colon:
            host, port_text = netloc, None
        else:
            port_text = port_text_or_empty
    if not host or host == "[]":
        raise InvalidEndpoint(url, "the URL has no host")
    if port_text is None:
        return host, default_port
    if not _PORT.fullmatch(port_text) or not 0 < int(port_text) <= 65535:
        raise InvalidEndpoint(url, f"invalid port {port_text!r}")
    return host, int(port_text)


def _normalise_host(url: str, raw_host: str) -> tuple[IPAddress | None, str]:
    """Raw host -> (address if it is an IP literal, normalised host text)."""
    if raw_host.startswith("["):
        try:
            ipv6 = ipaddress.IPv6Address(raw_host[1:-1])
        except ValueError:
            raise InvalidEndpoint(url, f"malformed IPv6 address {raw_host}") from None
        return ipv6, format_address(ipv6)
    if "%" in raw_host:
        raise InvalidEndpoint(url, "a percent-encoded host is not allowed")
    host = raw_host.lower()
    if host.endswith("."):
        host = host[:-1]
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise InvalidEndpoint(url, f"invalid internationalised host {raw_host!r}") from None
    ipv4 = _inet_aton(host)
    if ipv4 is not None:
        return ipv4, str(ipv4)
    labels = host.split(".")
    if len(host) > _MAX_HOST_LENGTH or not all(_LABEL.fullmatch(label) for label in labels):
        raise InvalidEndpoint(url, f"invalid host name {raw_host!r}")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        raise InvalidEndpoint(url, f"host {raw_host!r} is neither an IPv4 address nor a name")
    return None, host


def _inet_aton(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address libc would read ``host`` as (decimal, octal, hex, short forms)."""
    if not host or not host.isascii():
        return None
    try:
        return ipaddress.IPv4Address(inet_aton(host))
    except OSError:
        return None


def _classify(address: IPAddress) -> tuple[str, _Tier] | None:
    """(reason, tier) for a non-public address, None for a public one."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            kind, ipv4 = embedded
            inner = _classify(ipv4)
            if inner is None:
                return None
            return f"{kind} embedding {ipv4} ({inner[0]})", inner[1]
        if address in _IPV4_COMPATIBLE and int(address) > 1:
            # Deprecated and unroutable today, but once tunnelled to the IPv4 it carries:
            # never public, and as bad as that IPv4 address when that one is never allowed.
            ipv4 = ipaddress.IPv4Address(int(address))
            inner = _classify(ipv4)
            tier = inner[1] if inner is not None else _Tier.NON_PUBLIC
            return f"deprecated IPv4-compatible IPv6 address embedding {ipv4}", tier
    for network, reason, tier in _FORBIDDEN_NETWORKS:
        if address in network:
            return reason, tier
    if not address.is_global:
        return "address that is not globally routable", _Tier.NON_PUBLIC
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address] | None:
    """The IPv4 address an IPv6 address carries and routes to, with the form's name."""
    if address.ipv4_mapped is not None:
        return "IPv4-mapped IPv6 address", address.ipv4_mapped
    if address in _NAT64:
        return "NAT64 IPv6 address", ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _SIX_TO_FOUR and address.sixtofour is not None:
        return "6to4 IPv6 address", address.sixtofour
    return None
