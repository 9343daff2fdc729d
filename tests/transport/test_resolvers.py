"""StaticResolver and SystemResolver: the two implementations of the resolver port."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from acadio_webhooks.adapters.resolver import StaticResolver, SystemResolver
from acadio_webhooks.errors import AcadioWebhooksError, ResolutionError
from acadio_webhooks.ports.resolver import Resolver

ip = ipaddress.ip_address


def test_both_resolvers_implement_the_port() -> None:
    assert isinstance(StaticResolver(), Resolver)
    assert isinstance(SystemResolver(), Resolver)


def test_static_resolver_answers_from_its_table_ignoring_case_and_trailing_dot() -> None:
    resolver = StaticResolver({"Hooks.Example.com.": ["203.0.113.7", "2001:db8::7"]})

    assert resolver.resolve("hooks.example.com", 443) == [ip("203.0.113.7"), ip("2001:db8::7")]
    assert resolver.resolve("HOOKS.EXAMPLE.COM.", 443) == [ip("203.0.113.7"), ip("2001:db8::7")]


@pytest.mark.parametrize("literal", ["127.0.0.1", "::1", "[::1]"])
def test_an_ip_literal_resolves_to_itself(literal: str) -> None:
    assert StaticResolver().resolve(literal, 443) == [ip(literal.strip("[]"))]


def test_an_unknown_name_raises_resolution_error() -> None:
    with pytest.raises(ResolutionError, match=r"unknown\.example\.com") as raised:
        StaticResolver({"hooks.example.com": ["203.0.113.7"]}).resolve("unknown.example.com", 443)

    assert isinstance(raised.value, OSError)
    assert isinstance(raised.value, AcadioWebhooksError)


def test_a_name_with_no_addresses_raises_resolution_error() -> None:
    with pytest.raises(ResolutionError, match="no address"):
        StaticResolver({"hooks.example.com": []}).resolve("hooks.example.com", 443)


def test_set_changes_the_answer_as_a_rebinding_attacker_would() -> None:
    resolver = StaticResolver({"hooks.example.com": ["93.184.216.34"]})

    resolver.set("hooks.example.com", ["127.0.0.1"])

    assert resolver.resolve("hooks.example.com", 443) == [ip("127.0.0.1")]


def test_a_malformed_address_is_refused_when_the_table_is_built() -> None:
    with pytest.raises(ValueError, match="not-an-ip"):
        StaticResolver({"hooks.example.com": ["not-an-ip"]})


# SystemResolver: tests never use real DNS; getaddrinfo is replaced wherever a name is looked up.


def test_system_resolver_does_not_look_up_ip_literals(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_lookup(*args: object, **kwargs: object) -> None:
        raise AssertionError("an IP literal must not be looked up")

    monkeypatch.setattr(socket, "getaddrinfo", no_lookup)

    assert SystemResolver().resolve("192.0.2.1", 443) == [ip("192.0.2.1")]
    assert SystemResolver().resolve("[2001:db8::1]", 443) == [ip("2001:db8::1")]


def test_system_resolver_returns_distinct_addresses_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answers = [
        (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("2001:db8::5", 443, 0, 0)),
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.0.2.5", 443)),
        (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("2001:db8::5", 443, 0, 0)),
    ]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: answers)

    assert SystemResolver().resolve("hooks.example.com", 443) == [
        ip("2001:db8::5"),
        ip("192.0.2.5"),
    ]


def test_system_resolver_translates_lookup_failures(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", fail)

    with pytest.raises(ResolutionError, match=r"'gone\.example\.com' did not resolve") as raised:
        SystemResolver().resolve("gone.example.com", 443)
    assert isinstance(raised.value.__cause__, socket.gaierror)


def test_system_resolver_reads_the_hosts_file_for_localhost() -> None:
    addresses = SystemResolver().resolve("localhost", 80)

    assert addresses
    assert all(address.is_loopback for address in addresses)
