"""``Dispatcher.erase`` as a host honours an erasure request: emit with ``subject=``, then
erase it, on SQLite and PostgreSQL through the emit paths a host uses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from acadio_webhooks import AsyncDispatcher, Dispatcher, NewEvent
from acadio_webhooks.adapters.resolver import StaticResolver
from acadio_webhooks.adapters.transport.recording import RecordingTransport
from acadio_webhooks.domain.retention import PruneReport
from acadio_webhooks.errors import InvalidPayload, NotFound
from acadio_webhooks.ports.storage import Store
from tests.stores import STORE_KINDS, open_store

SECRET = "whsec-0123456789abcdef"
RESOLVER = StaticResolver({"up.example.com": ["93.184.216.34"]})


@pytest.fixture(params=[k for k in STORE_KINDS if k != "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    made = open_store(request.param, request, tmp_path)
    yield made
    made.close()


def _dispatcher(store: Store) -> Dispatcher:
    dispatcher = Dispatcher(store, transport=RecordingTransport(), resolver=RESOLVER)
    integration = dispatcher.integrations.install("tenant-1", secret=SECRET)
    dispatcher.integrations.subscribe(integration.id, "course/*", "https://up.example.com/h")
    return dispatcher


def test_a_subjects_events_from_emit_and_emit_many_are_erased_delivered_or_not(
    store: Store,
) -> None:
    dispatcher = _dispatcher(store)
    one = dispatcher.emit("course/completion/create", {"n": 1}, tenant="tenant-1", subject="s-1")
    dispatcher.drain()  # delivered, with an attempt
    many = dispatcher.emit_many(
        [
            NewEvent("course/completion/create", {"n": 2}, tenant="tenant-1", subject="s-1"),
            NewEvent("course/completion/create", {"n": 3}, tenant="tenant-1", subject="s-2"),
        ]
    )  # still pending
    assert one is not None
    assert dispatcher.event(one).subject == "s-1"

    seen: list[PruneReport] = []
    report = dispatcher.erase(subject="s-1", batch_size=1, progress=seen.append)

    assert report == PruneReport(events=2, deliveries=2, attempts=1, examined=2)
    assert seen[-1] == report
    assert len(seen) == 2  # one transaction per batch of one
    for gone in (one, many[0]):
        assert gone is not None
        with pytest.raises(NotFound):
            dispatcher.event(gone)
    assert many[1] is not None
    assert dispatcher.event(many[1]).subject == "s-2"
    assert dispatcher.drain().attempts == 1  # only s-2's delivery is left to send
    dispatcher.close()


def test_the_async_twin_erases_by_tenant_in_a_thread(store: Store) -> None:
    async def main() -> PruneReport:
        async with AsyncDispatcher(store, resolver=RESOLVER) as dispatcher:
            gone = await dispatcher.emit("course/completion/create", {"n": 1}, tenant="gone")
            kept = await dispatcher.emit("course/completion/create", {"n": 2}, tenant="kept")
            assert gone is not None
            assert kept is not None
            would = await dispatcher.erase(tenant="gone", dry_run=True)
            assert would == PruneReport(events=1, examined=1, dry_run=True)
            report = await dispatcher.erase(tenant="gone")
            assert (await dispatcher.event(kept)).tenant == "kept"
            with pytest.raises(NotFound):
                await dispatcher.event(gone)
            return report

    assert anyio.run(main) == PruneReport(events=1, examined=1)


@pytest.mark.parametrize(
    ("subject", "problem"),
    [
        ("", "subject must be None or 1 to 255 characters, not 0 characters"),
        ("s" * 256, "not 256 characters"),
        (42, "not int"),
        ("\ud800", "subject has a character UTF-8 cannot encode at 0"),
    ],
)
def test_a_subject_no_store_could_keep_is_refused_storing_nothing(
    store: Store, subject: object, problem: str
) -> None:
    dispatcher = _dispatcher(store)
    with pytest.raises(InvalidPayload, match=problem):
        dispatcher.emit("course/completion/create", {}, tenant="tenant-1", subject=subject)  # type: ignore[arg-type]
    with pytest.raises(InvalidPayload, match=r"^events\[1\]\.subject"):
        dispatcher.emit_many(
            [
                NewEvent("course/completion/create", {}, tenant="tenant-1"),
                NewEvent("course/completion/create", {}, tenant="tenant-1", subject=subject),  # type: ignore[arg-type]
            ]
        )
    assert dispatcher.deliveries().items == ()
    dispatcher.close()
