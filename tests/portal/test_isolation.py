"""Tenant isolation: tenant b can neither see nor touch anything of tenant a, through the API
or the pages, and no answer of the portal ever contains a secret."""

from __future__ import annotations

import json
from dataclasses import dataclass

import httpx
import pytest

from acadio_webhooks.portal._api import OPERATIONS, Operation
from tests.portal.world import BAD, GOOD, SECRET_A, SECRET_B, PortalWorld, csrf_token

pytestmark = pytest.mark.anyio

# A body each mutating operation would accept from tenant a itself, so that a 404 for
# tenant b can only come from the tenancy check.
VALID_BODIES = {
    "updateIntegration": {"notification_email": "attacker@example.com"},
    "setSecret": {"secret": "attacker-chosen-secret-000", "overlap_seconds": 0},
    "deactivateIntegration": {},
    "activateIntegration": {},
    "createSubscription": {"pattern": "*", "endpoint": GOOD},
    "resendFailed": {"since": "2020-01-01T00:00:00Z"},
    "updateSubscription": {"endpoint": GOOD, "pattern": "*"},
    "sendTestEvent": {},
    "resendDelivery": {},
}


@dataclass
class TwoTenants:
    world: PortalWorld
    integration: str
    subscription: str
    failed_delivery: str
    delivered_delivery: str

    def ids(self) -> dict[str, str]:
        return {
            "integration_id": self.integration,
            "subscription_id": self.subscription,
            "delivery_id": self.failed_delivery,
        }

    def snapshot(self) -> str:
        """Everything of tenant a the store holds, secrets included, to compare."""
        store = self.world.dispatcher.store
        integration = store.get_integration(self.integration)
        keys = integration.signing_keys(self.world.clock.now())
        subscriptions = store.list_subscriptions(self.integration)
        deliveries = self.world.dispatcher.deliveries(tenant="a", limit=100).items
        return json.dumps(
            {
                "integration": integration.model_dump(mode="json", exclude={"secrets"}),
                "keys": [key.decode() for key in keys],
                "subscriptions": [s.model_dump(mode="json") for s in subscriptions],
                "deliveries": [d.model_dump(mode="json") for d in deliveries],
            },
            sort_keys=True,
        )


@pytest.fixture
def tenants(world: PortalWorld) -> TwoTenants:
    integration = world.install("a", SECRET_A)
    subscription = world.subscribe(integration, "course/*", GOOD)
    failing = world.subscribe(integration, "identity/*", BAD)
    world.dispatcher.emit("course/completion/create", {"n": 1}, tenant="a")
    world.dispatcher.emit("identity/user/create", {"n": 2}, tenant="a")
    world.settle()
    deliveries = world.dispatcher.deliveries(tenant="a").items
    failed = next(d.id for d in deliveries if d.subscription_id == failing)
    delivered = next(d.id for d in deliveries if d.subscription_id == subscription)
    world.install("b", SECRET_B)
    return TwoTenants(world, integration, subscription, failed, delivered)


def _path(operation: Operation, ids: dict[str, str]) -> str:
    return operation.path.format(**{name: ids[name] for name in operation.path_params})


@pytest.mark.parametrize(
    "operation", [op for op in OPERATIONS if op.path_params], ids=lambda op: op.operation_id
)
async def test_tenant_b_gets_404_for_every_id_of_tenant_a(
    tenants: TwoTenants, operation: Operation
) -> None:
    before = tenants.snapshot()
    sent_before = len(tenants.world.transport.requests)
    body = VALID_BODIES.get(operation.operation_id) if operation.body is not None else None
    async with tenants.world.client("b") as client:
        response = await client.request(
            operation.method, _path(operation, tenants.ids()), json=body
        )
    assert response.status_code == 404, response.text
    assert response.json()["error"].endswith("not found")
    tenants.world.dispatcher.drain()
    assert tenants.snapshot() == before
    assert len(tenants.world.transport.requests) == sent_before


async def test_tenant_a_may_do_what_tenant_b_was_refused(tenants: TwoTenants) -> None:
    """The same requests succeed for the owner, so the 404s above are tenancy, not input."""
    ids = tenants.ids()
    async with tenants.world.client("a") as client:
        for operation in OPERATIONS:
            if not operation.path_params or operation.method == "DELETE":
                continue
            body = VALID_BODIES.get(operation.operation_id) if operation.body else None
            response = await client.request(operation.method, _path(operation, ids), json=body)
            assert response.status_code < 300, (operation.operation_id, response.text)


async def test_tenant_b_lists_nothing_of_tenant_a(tenants: TwoTenants) -> None:
    async with tenants.world.client("b") as client:
        integrations = (await client.get("/api/integrations")).json()["items"]
        everything = await client.get("/api/deliveries")
        filtered = await client.get(
            "/api/deliveries",
            params={"integration_id": tenants.integration, "subscription_id": tenants.subscription},
        )
        by_status = await client.get("/api/deliveries", params={"status": "failed"})
    assert [i["tenant"] for i in integrations] == ["b"]
    for response in (everything, filtered, by_status):
        assert response.json() == {"items": [], "next_cursor": None}


async def test_a_cursor_from_tenant_a_shows_tenant_b_nothing_of_a(tenants: TwoTenants) -> None:
    async with tenants.world.client("a") as client:
        first = (await client.get("/api/deliveries", params={"limit": 1})).json()
    assert first["next_cursor"] is not None
    async with tenants.world.client("b") as client:
        page = await client.get("/api/deliveries", params={"cursor": first["next_cursor"]})
    assert page.json()["items"] == []


async def test_tenant_b_cannot_open_or_post_to_tenant_a_pages(tenants: TwoTenants) -> None:
    before = tenants.snapshot()
    world = tenants.world
    a_pages = [
        f"/integrations/{tenants.integration}",
        f"/integrations/{tenants.integration}/deliveries",
        f"/subscriptions/{tenants.subscription}",
        f"/deliveries/{tenants.failed_delivery}",
    ]
    a_forms = {
        f"/integrations/{tenants.integration}/secret": {"secret": "attacker-chosen-secret-000"},
        f"/integrations/{tenants.integration}/email": {"notification_email": "x@example.com"},
        f"/integrations/{tenants.integration}/deactivate": {},
        f"/integrations/{tenants.integration}/subscriptions": {"pattern": "*", "endpoint": GOOD},
        f"/integrations/{tenants.integration}/resend-failed": {"since": "2020-01-01T00:00"},
        f"/subscriptions/{tenants.subscription}": {"pattern": "*", "endpoint": GOOD},
        f"/subscriptions/{tenants.subscription}/toggle": {"active": "false"},
        f"/subscriptions/{tenants.subscription}/delete": {},
        f"/subscriptions/{tenants.subscription}/test": {},
        f"/deliveries/{tenants.failed_delivery}/resend": {},
    }
    async with world.client("b") as client:
        token = csrf_token((await client.get("/")).text)
        for path in a_pages:
            response = await client.get(path)
            assert response.status_code == 404, path
        for path, fields in a_forms.items():
            response = await client.post(path, data={**fields, "csrf_token": token})
            assert response.status_code == 404, path
    world.dispatcher.drain()
    assert tenants.snapshot() == before


async def test_no_answer_ever_contains_a_secret(tenants: TwoTenants) -> None:
    world = tenants.world
    rotated = "tenant-a-rotated-secret-000"
    bodies: list[str] = []

    async def collect(client: httpx.AsyncClient, method: str, path: str, **kw: object) -> None:
        response = await client.request(method, path, **kw)  # type: ignore[arg-type]
        bodies.append(response.text + json.dumps(dict(response.headers)))

    async with world.client("a") as client:
        await collect(client, "PUT", f"/api/integrations/{tenants.integration}/secret",
                      json={"secret": rotated})  # fmt: skip
        for operation in OPERATIONS:
            if operation.method == "GET":
                await collect(client, "GET", _path(operation, tenants.ids()))
        for page in ("/", f"/integrations/{tenants.integration}",
                     f"/integrations/{tenants.integration}/deliveries",
                     f"/deliveries/{tenants.failed_delivery}",
                     f"/subscriptions/{tenants.subscription}", "/api/openapi.json"):  # fmt: skip
            await collect(client, "GET", page)
        token = csrf_token(bodies[-2])
        await collect(client, "POST", f"/integrations/{tenants.integration}/secret",
                      data={"secret": "short", "csrf_token": token})  # fmt: skip
    async with world.client("b") as client:
        await collect(client, "POST", "/api/integrations", json={"secret": SECRET_B})
        await collect(client, "GET", "/api/integrations")
    text = "\n".join(bodies)
    for secret in (SECRET_A, SECRET_B, rotated):
        assert secret not in text
