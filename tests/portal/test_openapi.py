"""The OpenAPI document: it describes exactly the API's routes, its schemas are valid JSON
Schema, and the running app conforms to it under schemathesis (a bounded, derandomised run:
no 5xx, every status code, content type and body as documented)."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.routing import Route

from acadio_webhooks import webhooks_openapi
from acadio_webhooks.portal._api import OPERATIONS, Operation
from tests.portal.server import serving
from tests.portal.world import BAD, GOOD, SECRET_A, PortalWorld

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is a dev dependency")
jsonschema_rs = pytest.importorskip("jsonschema_rs", reason="installed with schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402 - after the import guards above
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
async def document(memory_world: PortalWorld) -> dict[str, Any]:
    async with memory_world.client(None) as client:
        response = await client.get("/api/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


async def test_the_document_lists_exactly_the_api_routes(
    memory_world: PortalWorld, document: dict[str, Any]
) -> None:
    routes = {
        (route.path, method.lower())
        for route in memory_world.app.routes
        if isinstance(route, Route) and route.path.startswith("/api/")
        for method in (route.methods or ())
        if method != "HEAD"
        and route.path not in ("/api/openapi.json", "/api/webhooks.openapi.json")
    }
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    assert documented == routes
    assert len(documented) == len(OPERATIONS)
    assert document["openapi"] == "3.1.0"


async def test_the_receivers_document_describes_the_dispatchers_catalog_and_is_linked(
    memory_world: PortalWorld,
) -> None:
    async with memory_world.client("acme") as client:
        document = await client.get("/api/webhooks.openapi.json")
        topics_page = await client.get("/topics")
    assert document.status_code == 200
    assert document.json() == webhooks_openapi(memory_world.dispatcher.catalog, title="Webhooks")
    assert 'href="/api/webhooks.openapi.json"' in topics_page.text


async def test_every_schema_is_valid_json_schema(document: dict[str, Any]) -> None:
    for component in document["components"]["schemas"].values():
        jsonschema_rs.meta.validate(component)
    for item in document["paths"].values():
        for operation in item.values():
            for parameter in operation["parameters"]:
                jsonschema_rs.meta.validate(parameter["schema"])
            assert "401" in operation["responses"]


async def test_secrets_are_write_only_in_the_document(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert schemas["InstallIn"]["properties"]["secret"]["writeOnly"] is True
    assert schemas["SecretIn"]["properties"]["secret"]["writeOnly"] is True
    for name in ("IntegrationOut", "IntegrationList", "SecretInfo"):
        assert "secret" not in schemas[name].get("properties", {})


@pytest.fixture(scope="module")
def fuzzed_world() -> Iterator[tuple[PortalWorld, dict[str, str]]]:
    world = PortalWorld("memory://")
    integration = world.install("a", SECRET_A)
    subscription = world.subscribe(integration, "course/*", GOOD)
    failing = world.subscribe(integration, "identity/*", BAD)
    world.dispatcher.emit("course/completion/create", {"n": 1}, tenant="a")
    world.dispatcher.emit("identity/user/create", {"n": 2}, tenant="a")
    world.settle()
    [failed] = world.dispatcher.deliveries(tenant="a", subscription_id=failing).items
    ids = {
        "integration_id": integration,
        "subscription_id": subscription,
        "delivery_id": failed.id,
    }
    yield world, ids
    world.dispatcher.close()


@pytest.fixture(scope="module")
def served(
    fuzzed_world: tuple[PortalWorld, dict[str, str]],
) -> Iterator[tuple[Any, dict[str, str]]]:
    """The document loaded from the app served over loopback HTTP (schemathesis' ASGI mode
    goes through starlette's TestClient, whose httpx backend warns, an error here)."""
    world, ids = fuzzed_world
    with serving(world.app) as base_url:
        yield schemathesis.openapi.from_url(f"{base_url}/api/openapi.json"), ids


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda operation: operation.operation_id)
def test_the_app_conforms_to_its_document(
    served: tuple[Any, dict[str, str]], operation: Operation
) -> None:
    api, ids = served
    strategy = api[operation.path][operation.method].as_strategy()

    # Half the cases address tenant a's real objects (so bodies meet real state), half keep
    # the generated ids (unknown ones must be documented 404s, never 5xx).
    @given(case=strategy)
    @settings(
        max_examples=25,
        # Fixed examples: each case is a real HTTP round trip against one shared world, so a
        # run is reproducible, and nothing is worth replaying from a database.
        derandomize=True,
        database=None,
        # schemathesis' strategies filter heavily and build large bodies by design: those
        # health checks judge schemathesis' generation, not the portal.
        suppress_health_check=list(HealthCheck),
    )
    def conforms(case: Any) -> None:
        if case.path_parameters and zlib.crc32(repr(case.path_parameters).encode()) % 2:
            case.path_parameters = {name: ids[name] for name in case.path_parameters}
        case.call_and_validate(headers={"x-tenant": "a"}, checks=CHECKS)

    conforms()
