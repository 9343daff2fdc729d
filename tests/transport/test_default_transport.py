"""With no transport named, workers get the fastest installed one and say which."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from acadio_webhooks import AsyncDispatcher, Dispatcher, EndpointPolicy
from acadio_webhooks.adapters.resolver import StaticResolver
from acadio_webhooks.adapters.transport.aiohttp import AiohttpTransport
from acadio_webhooks.adapters.transport.default import (
    TransportName,
    default_async_transport,
    fastest_installed,
)
from acadio_webhooks.adapters.transport.httptools import HttptoolsTransport
from acadio_webhooks.adapters.transport.httpx import AsyncHttpxTransport
from acadio_webhooks.domain.models import DeliveryStatus
from acadio_webhooks.worker import AsyncWorker
from tests.loopback import LoopbackReceiver, loopback_receiver, wait_until

SECRET = "default-transport-secret-0123"
LOCAL = EndpointPolicy(allow_insecure=True)  # loopback receivers: tests only
CHOICE_LOG = "acadio_webhooks.worker"


def _uninstalled(monkeypatch: pytest.MonkeyPatch, package: str) -> None:
    """As on a machine where ``package``'s extra is not installed: importing it fails."""
    for name in [n for n in sys.modules if n == package or n.startswith(f"{package}.")]:
        monkeypatch.delitem(sys.modules, name)
    adapters = "acadio_webhooks.adapters.transport."
    for name in [n for n in sys.modules if n.startswith(adapters) and package in n]:
        monkeypatch.delitem(sys.modules, name)  # the adapter's modules, imported already
    monkeypatch.setitem(sys.modules, package, None)


@pytest.fixture
def without_httptools(monkeypatch: pytest.MonkeyPatch) -> None:
    _uninstalled(monkeypatch, "httptools")


@pytest.fixture
def without_aiohttp(monkeypatch: pytest.MonkeyPatch) -> None:
    _uninstalled(monkeypatch, "aiohttp")


@pytest.fixture
def receiver() -> Iterator[LoopbackReceiver]:
    with loopback_receiver(SECRET) as server:
        yield server


def choice_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == CHOICE_LOG]


def test_httptools_is_chosen_when_installed(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=CHOICE_LOG)
    assert fastest_installed() == "httptools"
    transport = default_async_transport(policy=LOCAL, resolver=StaticResolver())
    assert isinstance(transport, HttptoolsTransport)
    assert transport.policy is LOCAL
    assert choice_lines(caplog) == [
        "delivering with HttptoolsTransport, the fastest installed transport"
    ]


@pytest.mark.usefixtures("without_httptools")
def test_aiohttp_is_chosen_without_the_httptools_extra(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=CHOICE_LOG)
    assert fastest_installed() == "aiohttp"
    transport = default_async_transport(policy=LOCAL, resolver=StaticResolver())
    assert isinstance(transport, AiohttpTransport)
    assert choice_lines(caplog) == [
        "delivering with AiohttpTransport, the fastest installed transport"
    ]


@pytest.mark.usefixtures("without_httptools", "without_aiohttp")
def test_httpx_is_chosen_without_either_extra_and_the_log_says_how_to_get_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=CHOICE_LOG)
    assert fastest_installed() == "httpx"
    transport = default_async_transport(policy=LOCAL, resolver=StaticResolver())
    assert isinstance(transport, AsyncHttpxTransport)
    [line] = choice_lines(caplog)
    assert "AsyncHttpxTransport" in line
    assert "pip install 'acadio-webhooks[httptools]'" in line


@pytest.mark.usefixtures("without_httptools", "without_aiohttp")
@pytest.mark.parametrize("name", ["httptools", "aiohttp"])
def test_asking_for_a_transport_without_its_extra_says_what_to_install(
    name: TransportName,
) -> None:
    with pytest.raises(ImportError, match=rf"pip install 'acadio-webhooks\[{name}\]'"):
        default_async_transport(policy=LOCAL, resolver=StaticResolver(), name=name)


def test_a_named_transport_is_kept_and_logged_as_chosen(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=CHOICE_LOG)
    transport = default_async_transport(policy=LOCAL, resolver=StaticResolver(), name="httpx")
    assert isinstance(transport, AsyncHttpxTransport)
    assert choice_lines(caplog) == ["delivering with AsyncHttpxTransport, as chosen"]


def test_start_worker_delivers_with_httptools_by_default(
    tmp_path: Path, receiver: LoopbackReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=CHOICE_LOG)
    with Dispatcher(tmp_path / "hooks.db", endpoint_policy=LOCAL) as dispatcher:
        integration = dispatcher.integrations.install("tenant-1", secret=SECRET)
        dispatcher.integrations.subscribe(integration.id, "course/*", receiver.url())
        thread = dispatcher.start_worker()
        event_id = dispatcher.emit("course/completion/create", {"n": 1}, tenant="tenant-1")
        wait_until(
            lambda: dispatcher.deliveries().items[0].status is DeliveryStatus.DELIVERED,
            what="the delivery",
        )
        assert isinstance(thread.worker, AsyncWorker)
    [got] = receiver.received
    assert (got.verified, got.event_id) == (True, event_id)
    assert "delivering with HttptoolsTransport, the fastest installed transport" in choice_lines(
        caplog
    )


def test_an_async_dispatcher_worker_uses_httptools_by_default(
    tmp_path: Path, receiver: LoopbackReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=CHOICE_LOG)

    async def scenario() -> None:
        async with AsyncDispatcher(tmp_path / "hooks.db", endpoint_policy=LOCAL) as dispatcher:
            integration = dispatcher.integrations.install("tenant-1", secret=SECRET)
            dispatcher.integrations.subscribe(integration.id, "course/*", receiver.url())
            await dispatcher.emit("course/completion/create", {"n": 1}, tenant="tenant-1")
            report = await dispatcher.drain()
            assert report.delivered == 1

    asyncio.run(scenario())
    [got] = receiver.received
    assert got.verified
    assert choice_lines(caplog) == [
        "delivering with HttptoolsTransport, the fastest installed transport"
    ]
