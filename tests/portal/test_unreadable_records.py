"""A stored record that no longer validates (edited by hand, written by a newer version) is not
an outage: the portal tells its tenant that this record cannot be read and to contact support,
with its id, answers 500 rather than 503 "try again", and logs which table and fields are at
fault. A foreign tenant still gets a 404 for it, as for any id that is not theirs, and a real
outage stays a 503."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from acadio_webhooks.adapters.storage.sql import SqlStore
from acadio_webhooks.adapters.storage.sql.schema import deliveries, integrations, subscriptions
from tests.portal.world import GOOD, SECRET_A, SECRET_B, PortalWorld

pytestmark = pytest.mark.anyio

LEAKY = "leaky-value"  # stands for a stored value no message may show


@pytest.fixture
def sqlite_world(tmp_path: Path) -> Iterator[PortalWorld]:
    built = PortalWorld(f"sqlite:///{tmp_path / 'portal.db'}")
    yield built
    built.dispatcher.close()


def overwrite(world: PortalWorld, table: sa.Table, row_id: str, **values: Any) -> None:
    """Change a stored row behind the store's back, as a hand edit would."""
    store = world.dispatcher.store
    assert isinstance(store, SqlStore)
    with store.engine.begin() as conn:
        assert conn.execute(sa.update(table).where(table.c.id == row_id).values(**values)).rowcount


def unreadable(text: str, record_id: str) -> None:
    assert record_id in text
    assert "cannot be read" in text
    assert "contact support" in text.lower()
    assert "try again" not in text.lower()
    assert LEAKY not in text
    assert "Traceback" not in text


async def test_an_unreadable_integration_is_named_not_retried(
    sqlite_world: PortalWorld, caplog: pytest.LogCaptureFixture
) -> None:
    integration_id = sqlite_world.install("a", SECRET_A)
    overwrite(sqlite_world, integrations, integration_id, notification_email=LEAKY)

    with caplog.at_level(logging.ERROR, logger="acadio_webhooks.portal"):
        async with sqlite_world.client("a") as client:
            one = await client.get(f"/api/integrations/{integration_id}")
            listed = await client.get("/api/integrations")
            page = await client.get(f"/integrations/{integration_id}")
            home = await client.get("/")

    for response in (one, listed):
        assert response.status_code == 500
        assert set(response.json()) == {"error"}
        unreadable(response.json()["error"], integration_id)
    for response in (page, home):
        assert response.status_code == 500
        unreadable(response.text, integration_id)
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert logged
    assert all("acadio_integrations" in m and "notification_email" in m for m in logged)
    assert not any(LEAKY in m for m in logged)


async def test_an_unreadable_subscription_is_named_not_retried(sqlite_world: PortalWorld) -> None:
    integration_id = sqlite_world.install("a", SECRET_A)
    subscription_id = sqlite_world.subscribe(integration_id, "course/*", GOOD)
    overwrite(sqlite_world, subscriptions, subscription_id, pattern=f"{LEAKY}/*x")

    async with sqlite_world.client("a") as client:
        one = await client.get(f"/api/subscriptions/{subscription_id}")
        listed = await client.get(f"/api/integrations/{integration_id}/subscriptions")
        page = await client.get(f"/subscriptions/{subscription_id}")
        integration_page = await client.get(f"/integrations/{integration_id}")

    for response in (one, listed):
        assert response.status_code == 500
        unreadable(response.json()["error"], subscription_id)
    for response in (page, integration_page):
        assert response.status_code == 500
        unreadable(response.text, subscription_id)


async def test_another_tenants_unreadable_records_are_not_found(
    sqlite_world: PortalWorld,
) -> None:
    theirs = sqlite_world.install("a", SECRET_A)
    their_subscription = sqlite_world.subscribe(theirs, "course/*", GOOD)
    sqlite_world.install("b", SECRET_B)
    overwrite(sqlite_world, integrations, theirs, notification_email=LEAKY)
    overwrite(sqlite_world, subscriptions, their_subscription, pattern=f"{LEAKY}/*x")

    async with sqlite_world.client("b") as client:
        responses = [
            await client.get(f"/api/integrations/{theirs}"),
            await client.get(f"/api/subscriptions/{their_subscription}"),
            await client.get(f"/integrations/{theirs}"),
            await client.get(f"/subscriptions/{their_subscription}"),
        ]
        own = await client.get("/api/integrations")

    # Answered as an unknown id would be: nothing says the record exists, let alone whose.
    assert [r.status_code for r in responses] == [404] * 4
    assert responses[0].json() == {"error": f"integration {theirs!r} not found"}
    assert responses[1].json() == {"error": f"subscription {their_subscription!r} not found"}
    assert all("cannot be read" not in r.text for r in responses)
    assert own.status_code == 200  # b's own records read as usual


async def test_an_unreadable_delivery_is_named_in_the_log_not_by_id(
    sqlite_world: PortalWorld,
) -> None:
    # A delivery row holds no proof of whose it is once it cannot be read: looked up by id it
    # is answered as unknown; the tenant's own log, which lists only its deliveries, names it.
    integration_id = sqlite_world.install("a", SECRET_A)
    sqlite_world.subscribe(integration_id, "course/*", GOOD)
    sqlite_world.dispatcher.emit("course/completion/create", {"n": 1}, tenant="a")
    [delivery] = sqlite_world.dispatcher.deliveries(tenant="a").items
    overwrite(sqlite_world, deliveries, delivery.id, status=LEAKY)

    async with sqlite_world.client("a") as client:
        one = await client.get(f"/api/deliveries/{delivery.id}")
        log = await client.get("/api/deliveries")
        page = await client.get(f"/integrations/{integration_id}/deliveries")

    assert one.status_code == 404
    assert log.status_code == page.status_code == 500
    unreadable(log.json()["error"], delivery.id)
    unreadable(page.text, delivery.id)


async def test_an_outage_is_still_a_503(sqlite_world: PortalWorld) -> None:
    integration_id = sqlite_world.install("a", SECRET_A)
    sqlite_world.dispatcher.store.close()

    async with sqlite_world.client("a") as client:
        api = await client.get(f"/api/integrations/{integration_id}")
        page = await client.get(f"/integrations/{integration_id}")

    assert api.status_code == page.status_code == 503
    assert "try again" in api.json()["error"]
