"""Which event loop the library's own worker loops run on: uvloop when installed, else
asyncio's; chosen with ``event_loop=`` / ``--event-loop`` and said at start-up."""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import warnings
from pathlib import Path

import pytest

from acadio_webhooks import Dispatcher, EndpointPolicy
from acadio_webhooks.adapters.transport.recording import AsyncRecordingTransport
from acadio_webhooks.domain.messages import OutboundRequest, TransportResult
from acadio_webhooks.domain.models import DeliveryStatus
from acadio_webhooks.event_loop import EventLoopName, resolve_event_loop, run
from tests.loopback import wait_until

SECRET = "event-loop-secret-0123456789"
HOOK = "http://127.0.0.1:9/in"  # never connected to: the transport answers
LOCAL = EndpointPolicy(allow_insecure=True)  # loopback endpoints: tests only


@pytest.fixture
def without_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    """As on a machine without the uvloop extra (or on Windows): importing it fails."""
    for name in [n for n in sys.modules if n == "uvloop" or n.startswith("uvloop.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "uvloop", None)


def test_auto_means_uvloop_when_installed_and_asyncio_keeps_asyncio() -> None:
    assert resolve_event_loop("auto") == "uvloop"
    assert resolve_event_loop("uvloop") == "uvloop"
    assert resolve_event_loop("asyncio") == "asyncio"


def test_an_unknown_loop_name_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="'auto', 'uvloop' or 'asyncio', not 'trio'"):
        resolve_event_loop("trio")  # type: ignore[arg-type]


@pytest.mark.usefixtures("without_uvloop")
def test_without_uvloop_auto_falls_back_and_asking_for_it_says_what_to_install() -> None:
    assert resolve_event_loop("auto") == "asyncio"
    with pytest.raises(ImportError, match=r"pip install 'acadio-webhooks\[uvloop\]'"):
        resolve_event_loop("uvloop")


@pytest.mark.usefixtures("without_uvloop")
def test_run_refusing_a_loop_closes_the_coroutine_it_was_given() -> None:
    async def main() -> int:
        return 1

    coroutine = main()
    with pytest.raises(ImportError):
        run(coroutine, loop="uvloop")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "coroutine was never awaited" would be raised here
        gc.collect()
    assert coroutine.cr_frame is None  # closed


@pytest.mark.parametrize(("name", "module"), [("uvloop", "uvloop"), ("asyncio", "asyncio")])
def test_run_returns_the_result_on_the_named_loop(name: EventLoopName, module: str) -> None:
    async def main() -> str:
        return type(asyncio.get_running_loop()).__module__

    assert run(main(), loop=name).split(".")[0] == module


class _LoopRecordingTransport(AsyncRecordingTransport):
    """Answers 200 and notes the module of the event loop each attempt ran on."""

    def __init__(self) -> None:
        super().__init__()
        self.loops: list[str] = []

    async def send(self, request: OutboundRequest) -> TransportResult:
        self.loops.append(type(asyncio.get_running_loop()).__module__.split(".")[0])
        return await super().send(request)


@pytest.mark.parametrize(("event_loop", "expected"), [("auto", "uvloop"), ("asyncio", "asyncio")])
def test_start_worker_delivers_on_the_chosen_loop_and_logs_it(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    event_loop: EventLoopName,
    expected: str,
) -> None:
    caplog.set_level(logging.INFO, logger="acadio_webhooks.worker")
    transport = _LoopRecordingTransport()
    with Dispatcher(tmp_path / "hooks.db", endpoint_policy=LOCAL) as dispatcher:
        integration = dispatcher.integrations.install("tenant-1", secret=SECRET)
        dispatcher.integrations.subscribe(integration.id, "course/*", HOOK)
        thread = dispatcher.start_worker(transport=transport, event_loop=event_loop)
        dispatcher.emit("course/completion/create", {"n": 1}, tenant="tenant-1")
        wait_until(
            lambda: dispatcher.deliveries().items[0].status is DeliveryStatus.DELIVERED,
            what="the delivery",
        )
    assert thread.event_loop == expected
    assert transport.loops == [expected]
    assert f"runs on the {expected} event loop" in caplog.text


@pytest.mark.usefixtures("without_uvloop")
def test_start_worker_asking_for_uvloop_without_it_fails_before_starting(
    tmp_path: Path,
) -> None:
    with Dispatcher(tmp_path / "hooks.db") as dispatcher:
        with pytest.raises(ImportError, match=r"acadio-webhooks\[uvloop\]"):
            dispatcher.start_worker(transport=AsyncRecordingTransport(), event_loop="uvloop")
        assert dispatcher.start_worker(transport=AsyncRecordingTransport()).event_loop == (
            "asyncio"
        )
