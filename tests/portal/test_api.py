"""The JSON API as an admin's script uses it: install, subscribe, read the log, resend."""

from __future__ import annotations

import json
import logging

import pytest
from starlette.exceptions import HTTPException
from starlette.requests import Request

from acadio_webhooks.domain.models import DeliveryStatus
from acadio_webhooks.domain.topics import TOPICS
from acadio_webhooks.portal import create_portal
from acadio_webhooks.portal._api import OPERATIONS
from tests.portal.world import BAD, CSRF_SECRET, GOOD, SECRET_A, PortalWorld

pytestmark = pytest.mark.anyio


async def install(world: PortalWorld, tenant: str = "a", secret: str = SECRET_A) -> str:
    async with world.client(tenant) as client:
        response = await client.post("/api/integrations", json={"secret": secret})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def test_install_answers_secret_metadata_only(world: PortalWorld) -> None:
    async with world.client("a") as client:
        created = await client.post(
            "/api/integrations",
            json={"secret": SECRET_A, "notification_email": "ops@school.example"},
        )
        fetched = await client.get(f"/api/integrations/{created.json()['id']}")
        listed = await client.get("/api/integrations")

    assert created.status_code == 201
    body = created.json()
    assert body["tenant"] == "a"
    assert body["active"] is True
    assert body["notification_email"] == "ops@school.example"
    assert body["secret_set_at"] == "2026-01-01T00:00:00Z"
    assert body["previous_secrets"] == []
    assert fetched.json() == body
    assert listed.json() == {"items": [body]}
    for response in (created, fetched, listed):
        assert SECRET_A not in response.text
        assert 'secret":' not in response.text.replace("previous_secrets", "")


async def test_a_tenant_installs_once(world: PortalWorld) -> None:
    await install(world)
    async with world.client("a") as client:
        again = await client.post("/api/integrations", json={"secret": SECRET_A})
    assert again.status_code == 409
    assert "already installed" in again.json()["error"]


async def test_bad_install_input_is_named_per_field_without_echoing(world: PortalWorld) -> None:
    async with world.client("a") as client:
        response = await client.post(
            "/api/integrations", json={"secret": "too-short", "notification_email": "nope"}
        )
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert set(errors) == {"secret", "notification_email"}
    assert "16" in errors["secret"]
    assert "too-short" not in response.text


@pytest.mark.parametrize(
    ("content", "headers", "status", "field"),
    [
        (b"{not json", {"content-type": "application/json"}, 422, "body"),
        (b"[1, 2]", {"content-type": "application/json"}, 422, "body"),
        (b'{"secret": "x", "extra": 1}', {"content-type": "application/json"}, 422, "secret"),
        (b"secret=tenant-a-secret-0123456789", {}, 415, None),
        (b'{"secret": "tenant-a-secret-0123456789"}', {"content-type": "text/plain"}, 415, None),
    ],
)
async def test_bodies_must_be_json_objects_sent_as_json(
    memory_world: PortalWorld,
    content: bytes,
    headers: dict[str, str],
    status: int,
    field: str | None,
) -> None:
    async with memory_world.client("a") as client:
        response = await client.post("/api/integrations", content=content, headers=headers)
    assert response.status_code == status
    if field is None:
        assert "application/json" in response.json()["error"]
    else:
        assert field in response.json()["errors"]
    assert memory_world.dispatcher.integrations.list("a") == []


async def test_every_operation_needs_a_tenant(memory_world: PortalWorld) -> None:
    async with memory_world.client(None) as client:
        for operation in OPERATIONS:
            path = operation.path.format(**dict.fromkeys(operation.path_params, "x_1"))
            response = await client.request(operation.method, path, json={})
            assert response.status_code == 401, operation.operation_id
            assert response.json() == {"error": "not signed in"}


async def test_tenant_of_may_be_async_or_refuse_with_403() -> None:
    world = PortalWorld("memory://")

    async def tenant_of(request: Request) -> str | None:
        if request.headers.get("x-role") == "teacher":
            raise HTTPException(403, "only administrators manage webhooks")
        return request.headers.get("x-tenant")

    world.app = create_portal(world.dispatcher, tenant_of=tenant_of, csrf_secret=CSRF_SECRET)
    async with world.client("a") as client:
        allowed = await client.get("/api/integrations")
        refused = await client.get("/api/integrations", headers={"x-role": "teacher"})
        page = await client.get("/", headers={"x-role": "teacher"})
    world.dispatcher.close()
    assert allowed.status_code == 200
    assert refused.status_code == 403
    assert refused.json() == {"error": "only administrators manage webhooks"}
    assert page.status_code == 403
    assert "only administrators manage webhooks" in page.text


async def test_unknown_paths_and_methods_answer_json(memory_world: PortalWorld) -> None:
    async with memory_world.client("a") as client:
        missing = await client.get("/api/nothing-here")
        wrong_method = await client.delete("/api/topics")
        odd_id = await client.get("/api/integrations/has%20space")
    assert missing.status_code == 404
    assert missing.json() == {"error": "Not Found"}
    assert wrong_method.status_code == 405
    assert wrong_method.json() == {"error": "Method Not Allowed"}
    assert odd_id.status_code == 404
    assert odd_id.json() == {"error": "integration not found"}


async def test_rotating_the_secret_keeps_the_old_one_for_the_overlap(world: PortalWorld) -> None:
    integration_id = await install(world)
    new_secret = "tenant-a-rotated-secret-000"
    world.clock.advance(hours=1)
    async with world.client("a") as client:
        rotated = await client.put(
            f"/api/integrations/{integration_id}/secret",
            json={"secret": new_secret, "overlap_seconds": 3600},
        )
        replaced = await client.put(
            f"/api/integrations/{integration_id}/secret",
            json={"secret": "tenant-a-third-secret-0000", "overlap_seconds": 0},
        )
        too_short = await client.put(
            f"/api/integrations/{integration_id}/secret", json={"secret": "short"}
        )

    assert rotated.status_code == 200
    assert rotated.json()["secret_set_at"] == "2026-01-01T01:00:00Z"
    assert rotated.json()["previous_secrets"] == [
        {"created_at": "2026-01-01T00:00:00Z", "expires_at": "2026-01-01T02:00:00Z"}
    ]
    assert replaced.json()["previous_secrets"] == []
    assert too_short.status_code == 422
    assert set(too_short.json()["errors"]) == {"secret"}
    for response in (rotated, replaced, too_short):
        assert SECRET_A not in response.text
        assert new_secret not in response.text
    keys = world.dispatcher.integrations.get(integration_id).signing_keys(world.clock.now())
    assert keys == (b"tenant-a-third-secret-0000",)


async def test_notification_email_is_set_and_cleared(world: PortalWorld) -> None:
    integration_id = await install(world)
    path = f"/api/integrations/{integration_id}"
    async with world.client("a") as client:
        set_ = await client.patch(path, json={"notification_email": "ops@school.example"})
        bad = await client.patch(path, json={"notification_email": "not-an-address"})
        cleared = await client.patch(path, json={"notification_email": None})
    assert set_.json()["notification_email"] == "ops@school.example"
    assert bad.status_code == 422
    assert set(bad.json()["errors"]) == {"notification_email"}
    assert cleared.json()["notification_email"] is None


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"pattern": "cource/*", "endpoint": GOOD}, {"pattern"}),
        ({"pattern": "Course/*", "endpoint": GOOD}, {"pattern"}),
        ({"pattern": "cour*", "endpoint": GOOD}, {"pattern"}),
        ({"pattern": "course/*", "endpoint": "http://hooks.example.com/acadio"}, {"endpoint"}),
        ({"pattern": "course/*", "endpoint": "https://internal.example.com/x"}, {"endpoint"}),
        ({"pattern": "course/*", "endpoint": "https://unknown.example.com/x"}, {"endpoint"}),
        ({"pattern": "course/*", "endpoint": "not a url"}, {"endpoint"}),
        ({"pattern": "cource/*", "endpoint": "https://10.1.2.3/x"}, {"pattern", "endpoint"}),
        ({"pattern": "", "endpoint": ""}, {"pattern", "endpoint"}),
    ],
)
async def test_subscriptions_are_validated_like_the_library(
    memory_world: PortalWorld, body: dict[str, str], fields: set[str]
) -> None:
    integration_id = await install(memory_world)
    async with memory_world.client("a") as client:
        response = await client.post(f"/api/integrations/{integration_id}/subscriptions", json=body)
    assert response.status_code == 422, response.text
    assert set(response.json()["errors"]) == fields
    assert memory_world.dispatcher.integrations.subscriptions(integration_id) == []


async def test_a_pattern_for_future_topics_needs_the_flag(memory_world: PortalWorld) -> None:
    integration_id = await install(memory_world)
    async with memory_world.client("a") as client:
        response = await client.post(
            f"/api/integrations/{integration_id}/subscriptions",
            json={"pattern": "badges/*", "endpoint": GOOD, "allow_future_topics": True},
        )
    assert response.status_code == 201
    assert response.json()["pattern"] == "badges/*"


async def test_subscriptions_are_listed_changed_paused_and_deleted(world: PortalWorld) -> None:
    integration_id = await install(world)
    async with world.client("a") as client:
        created = await client.post(
            f"/api/integrations/{integration_id}/subscriptions",
            json={"pattern": "course/*", "endpoint": GOOD},
        )
        path = f"/api/subscriptions/{created.json()['id']}"
        changed = await client.patch(path, json={"pattern": "*/*/create"})
        invalid = await client.patch(path, json={"pattern": "course//x", "endpoint": "ftp://x"})
        paused = await client.patch(path, json={"active": False})
        fetched = await client.get(path)
        listed = await client.get(f"/api/integrations/{integration_id}/subscriptions")
        deleted = await client.delete(path)
        gone = await client.get(path)

    assert created.status_code == 201
    assert changed.json()["pattern"] == "*/*/create"
    assert set(invalid.json()["errors"]) == {"pattern", "endpoint"}
    assert paused.json()["active"] is False
    assert fetched.json() == paused.json()
    assert listed.json() == {"items": [paused.json()]}
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert gone.status_code == 404


async def test_custom_headers_are_write_only_and_checked_like_the_library(
    world: PortalWorld,
) -> None:
    integration_id = await install(world)
    token = "Bearer portal-canary-9a7b"
    async with world.client("a") as client:
        created = await client.post(
            f"/api/integrations/{integration_id}/subscriptions",
            json={"pattern": "course/*", "endpoint": GOOD, "headers": {"Authorization": token}},
        )
        path = f"/api/subscriptions/{created.json()['id']}"
        refused = await client.patch(path, json={"headers": {"Host": "evil.example"}})
        replaced = await client.patch(path, json={"headers": {"X-Api-Key": "k2"}})
        fetched = await client.get(path)
        removed = await client.patch(path, json={"headers": {}})

    assert created.status_code == 201, created.text
    assert created.json()["header_names"] == ["Authorization"]
    assert token not in created.text
    assert refused.status_code == 422
    assert set(refused.json()["errors"]) == {"headers.Host"}
    assert replaced.json()["header_names"] == ["X-Api-Key"]
    assert "k2" not in fetched.text
    assert removed.json()["header_names"] == []
    [stored] = world.dispatcher.integrations.subscriptions(integration_id)
    assert stored.headers == {}


async def test_a_rate_limit_is_set_kept_changed_and_lifted(world: PortalWorld) -> None:
    integration_id = await install(world)
    async with world.client("a") as client:
        created = await client.post(
            f"/api/integrations/{integration_id}/subscriptions",
            json={"pattern": "course/*", "endpoint": GOOD, "rate_limit": 5},
        )
        path = f"/api/subscriptions/{created.json()['id']}"
        kept = await client.patch(path, json={"pattern": "*"})
        too_fast = await client.patch(path, json={"rate_limit": 20_000})
        not_a_number = await client.patch(path, json={"rate_limit": "fast"})
        changed = await client.patch(path, json={"rate_limit": 0.5})
        lifted = await client.patch(path, json={"rate_limit": None})

    assert created.status_code == 201, created.text
    assert created.json()["rate_limit"] == 5.0
    assert kept.json()["rate_limit"] == 5.0  # left out: stays
    assert too_fast.status_code == 422
    assert set(too_fast.json()["errors"]) == {"rate_limit"}
    assert not_a_number.status_code == 422
    assert set(not_a_number.json()["errors"]) == {"rate_limit"}
    assert changed.json()["rate_limit"] == 0.5
    assert lifted.json()["rate_limit"] is None
    [stored] = world.dispatcher.integrations.subscriptions(integration_id)
    assert stored.rate_limit is None


async def test_topics_list_the_catalog_and_what_a_pattern_receives(
    memory_world: PortalWorld,
) -> None:
    async with memory_world.client("a") as client:
        everything = await client.get("/api/topics")
        course = await client.get("/api/topics", params={"pattern": "course/*"})
        creates = await client.get("/api/topics", params={"pattern": "*/*/create"})
        broken = await client.get("/api/topics", params={"pattern": "cour*"})

    assert [t["name"] for t in everything.json()["topics"]] == [t.name for t in TOPICS]
    assert course.json()["pattern"] == "course/*"
    assert [t["name"] for t in course.json()["topics"]] == [
        "course/completion/create",
        "course/completion/update",
        "course/completion/report",
        "course/activity/create",
        "course/activity/update",
    ]
    activity = next(t for t in course.json()["topics"] if t["name"] == "course/activity/create")
    assert activity["once_per_day"] is True
    assert all(t["name"].endswith("/create") for t in creates.json()["topics"])
    assert broken.status_code == 422
    assert "position" in broken.json()["errors"]["pattern"]


async def seeded_log(world: PortalWorld) -> tuple[str, str, str]:
    """Tenant a: course/* to a good endpoint, identity/* to a failing one; three events."""
    integration_id = await install(world)
    good = world.subscribe(integration_id, "course/*", GOOD)
    bad = world.subscribe(integration_id, "identity/*", BAD)
    world.dispatcher.emit("course/completion/create", {"n": 1}, tenant="a")
    world.clock.advance(minutes=1)
    world.dispatcher.emit("identity/user/create", {"n": 2}, tenant="a")
    world.clock.advance(minutes=1)
    world.dispatcher.emit("course/activity/update", {"n": 3}, tenant="a")
    world.settle()
    return integration_id, good, bad


async def test_the_delivery_log_shows_attempts_and_filters(world: PortalWorld) -> None:
    integration_id, _, bad = await seeded_log(world)
    async with world.client("a") as client:
        everything = await client.get("/api/deliveries")
        failed = await client.get("/api/deliveries", params={"status": "failed"})
        by_topic = await client.get("/api/deliveries", params={"topic": "course/activity/update"})
        recent = await client.get(
            "/api/deliveries", params={"since": "2026-01-01T00:00:30Z", "status": "delivered"}
        )
        by_integration = await client.get(
            "/api/deliveries", params={"integration_id": integration_id}
        )

    items = everything.json()["items"]
    assert [d["topic"] for d in items] == [
        "course/activity/update",
        "identity/user/create",
        "course/completion/create",
    ]
    assert everything.json()["next_cursor"] is None
    assert by_integration.json() == everything.json()
    [failure] = failed.json()["items"]
    assert failure["subscription_id"] == bad
    assert failure["status"] == "failed"
    assert failure["attempt_count"] == 7
    assert [a["number"] for a in failure["attempts"]] == list(range(1, 8))
    assert {a["status_code"] for a in failure["attempts"]} == {500}
    assert not any(a["succeeded"] for a in failure["attempts"])
    assert [d["topic"] for d in by_topic.json()["items"]] == ["course/activity/update"]
    assert [d["topic"] for d in recent.json()["items"]] == ["course/activity/update"]
    success = items[0]["attempts"]
    assert len(success) == 1
    assert success[0]["succeeded"] is True
    assert success[0]["status_code"] == 200


async def test_the_log_pages_with_a_cursor(world: PortalWorld) -> None:
    integration_id = await install(world)
    world.subscribe(integration_id, "*", GOOD)
    for n in range(5):
        world.dispatcher.emit("identity/user/update", {"n": n}, tenant="a")
        world.clock.advance(seconds=1)
    seen: list[str] = []
    pages = 0
    async with world.client("a") as client:
        params: dict[str, str | int] = {"limit": 2}
        while True:
            page = (await client.get("/api/deliveries", params=params)).json()
            pages += 1
            seen += [d["id"] for d in page["items"]]
            if page["next_cursor"] is None:
                break
            params = {"limit": 2, "cursor": page["next_cursor"]}
        bad_cursor = await client.get("/api/deliveries", params={"cursor": "bm90LWEtY3Vyc29y"})
        bad_filters = await client.get(
            "/api/deliveries", params={"status": "lost", "limit": 0, "since": "yesterday"}
        )
    assert pages == 3
    assert len(seen) == len(set(seen)) == 5
    assert bad_cursor.status_code == 422
    assert set(bad_cursor.json()["errors"]) == {"cursor"}
    assert bad_filters.status_code == 422
    assert set(bad_filters.json()["errors"]) == {"status", "limit", "since"}


async def test_a_failed_delivery_is_resent_once_the_endpoint_is_fixed(world: PortalWorld) -> None:
    await seeded_log(world)
    async with world.client("a") as client:
        failed = (await client.get("/api/deliveries", params={"status": "failed"})).json()
        failed_id = failed["items"][0]["id"]
        delivered = (await client.get("/api/deliveries", params={"status": "delivered"})).json()
        world.status[BAD] = 204
        resent = await client.post(f"/api/deliveries/{failed_id}/resend", json={})
        refused = await client.post(
            f"/api/deliveries/{delivered['items'][0]['id']}/resend", json={}
        )
        pending_again = await client.post(f"/api/deliveries/{resent.json()['id']}/resend", json={})
        world.settle()
        after = await client.get(f"/api/deliveries/{resent.json()['id']}")
        original = await client.get(f"/api/deliveries/{failed_id}")

    assert resent.status_code == 202
    assert resent.json()["status"] == "pending"
    assert resent.json()["event_id"] == failed["items"][0]["event_id"]
    assert resent.json()["attempts"] == []
    assert refused.status_code == 409
    assert "delivered" in refused.json()["error"]
    assert pending_again.status_code == 409
    assert after.json()["status"] == "delivered"
    assert after.json()["attempts"][0]["status_code"] == 204
    assert original.json()["status"] == "failed"
    assert len(original.json()["attempts"]) == 7


async def test_every_failure_since_a_time_is_resent(world: PortalWorld) -> None:
    integration_id, _, bad = await seeded_log(world)
    world.dispatcher.emit("identity/user/update", {"n": 4}, tenant="a")
    world.settle()
    failures = world.dispatcher.deliveries(status="failed").items
    assert len(failures) == 2
    newest = max(failures, key=lambda d: d.created_at)
    async with world.client("a") as client:
        response = await client.post(
            f"/api/integrations/{integration_id}/resend-failed",
            json={"since": newest.created_at.isoformat()},
        )
        naive = await client.post(
            f"/api/integrations/{integration_id}/resend-failed",
            json={"since": "2026-01-01T00:00:00"},
        )
    assert response.status_code == 202
    assert response.json() == {"queued": 1}
    assert naive.status_code == 422
    assert set(naive.json()["errors"]) == {"since"}
    pending = world.dispatcher.deliveries(status="pending").items
    assert [(d.event_id, d.subscription_id) for d in pending] == [(newest.event_id, bad)]


async def test_a_test_event_reaches_only_that_subscription(world: PortalWorld) -> None:
    integration_id = await install(world)
    target = world.subscribe(integration_id, "course/*", GOOD)
    world.subscribe(integration_id, "*", BAD)
    async with world.client("a") as client:
        sent = await client.post(f"/api/subscriptions/{target}/test", json={})
        named = await client.post(
            f"/api/subscriptions/{target}/test", json={"topic": "course/activity/update"}
        )
        mismatch = await client.post(
            f"/api/subscriptions/{target}/test", json={"topic": "identity/user/create"}
        )
        unknown = await client.post(
            f"/api/subscriptions/{target}/test", json={"topic": "course/nothing/here"}
        )
    world.dispatcher.drain()

    assert sent.status_code == 202
    assert named.status_code == 202
    requests = world.transport.requests
    assert [r.url for r in requests] == [GOOD, GOOD]
    bodies = [json.loads(r.body) for r in requests]
    assert {b["topic"] for b in bodies} == {"course/completion/create", "course/activity/update"}
    assert all(b["data"]["test"] is True for b in bodies)
    assert {b["id"] for b in bodies} == {sent.json()["event_id"], named.json()["event_id"]}
    assert mismatch.status_code == 422
    assert set(mismatch.json()["errors"]) == {"topic"}
    assert unknown.status_code == 422
    assert set(unknown.json()["errors"]) == {"topic"}


async def test_deactivating_stops_deliveries_and_refuses_sends(world: PortalWorld) -> None:
    integration_id = await install(world)
    subscription = world.subscribe(integration_id, "course/*", GOOD)
    world.dispatcher.emit("course/completion/create", {"n": 1}, tenant="a")
    async with world.client("a") as client:
        deactivated = await client.post(f"/api/integrations/{integration_id}/deactivate", json={})
        test_event = await client.post(f"/api/subscriptions/{subscription}/test", json={})
        resend_all = await client.post(
            f"/api/integrations/{integration_id}/resend-failed",
            json={"since": "2026-01-01T00:00:00Z"},
        )
        [cancelled] = (await client.get("/api/deliveries")).json()["items"]
        resend_cancelled = await client.post(f"/api/deliveries/{cancelled['id']}/resend", json={})
        activated = await client.post(f"/api/integrations/{integration_id}/activate", json={})
        resend_after = await client.post(f"/api/deliveries/{cancelled['id']}/resend", json={})
    world.dispatcher.drain()

    assert deactivated.json()["active"] is False
    assert cancelled["status"] == DeliveryStatus.CANCELLED.value
    assert test_event.status_code == 409
    assert resend_all.status_code == 409
    assert resend_cancelled.status_code == 409
    assert "deactivated" in resend_cancelled.json()["error"]
    assert activated.json()["active"] is True
    assert resend_after.status_code == 202
    assert [r.url for r in world.transport.requests] == [GOOD]


async def test_store_calls_run_off_the_event_loop(memory_world: PortalWorld) -> None:
    """A store that blocks must not freeze the loop: the portal calls it from a thread."""
    import threading

    loop_thread = threading.get_ident()
    seen: list[int] = []
    store = memory_world.dispatcher.store
    original = store.list_integrations

    def spy(tenant: str | None = None) -> list:  # type: ignore[type-arg]
        seen.append(threading.get_ident())
        return original(tenant)

    store.list_integrations = spy  # type: ignore[method-assign]
    async with memory_world.client("a") as client:
        await client.get("/api/integrations")
        await client.get("/")
    assert seen
    assert loop_thread not in seen


async def test_rotation_overlap_is_at_most_a_week(memory_world: PortalWorld) -> None:
    integration_id = await install(memory_world)
    async with memory_world.client("a") as client:
        response = await client.put(
            f"/api/integrations/{integration_id}/secret",
            json={"secret": "tenant-a-rotated-secret-000", "overlap_seconds": 8 * 24 * 3600},
        )
    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"overlap_seconds"}


async def test_the_portal_also_runs_on_an_async_dispatcher() -> None:
    import httpx

    from acadio_webhooks.adapters.clock import FakeClock
    from acadio_webhooks.adapters.resolver import StaticResolver
    from acadio_webhooks.adapters.transport.recording import AsyncRecordingTransport
    from acadio_webhooks.dispatcher import AsyncDispatcher
    from tests.portal.world import HOSTS, tenant_from_header

    transport = AsyncRecordingTransport(lambda request: 200)
    dispatcher = AsyncDispatcher(
        "memory://", clock=FakeClock(), transport=transport, resolver=StaticResolver(HOSTS)
    )
    portal = create_portal(dispatcher, tenant_of=tenant_from_header, csrf_secret=CSRF_SECRET)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=portal),
        base_url="http://portal.test",
        headers={"x-tenant": "a"},
    ) as client:
        installed = await client.post("/api/integrations", json={"secret": SECRET_A})
        subscribed = await client.post(
            f"/api/integrations/{installed.json()['id']}/subscriptions",
            json={"pattern": "course/*", "endpoint": GOOD},
        )
        tested = await client.post(f"/api/subscriptions/{subscribed.json()['id']}/test", json={})
        await dispatcher.drain()
        log = await client.get("/api/deliveries")
    await dispatcher.aclose()
    assert tested.status_code == 202
    assert [d["status"] for d in log.json()["items"]] == ["delivered"]
    assert [r.url for r in transport.requests] == [GOOD]


async def test_a_failing_store_is_a_503_not_a_stack_trace(
    memory_world: PortalWorld, caplog: pytest.LogCaptureFixture
) -> None:
    memory_world.dispatcher.store.close()
    with caplog.at_level(logging.ERROR, logger="acadio_webhooks.portal"):
        async with memory_world.client("a") as client:
            api = await client.get("/api/deliveries")
            page = await client.get("/")
    # Both faces log the outage once each, naming the operation or the page it broke.
    assert [r.getMessage() for r in caplog.records] == [
        "webhooks store failed on listDeliveries",
        "webhooks store failed on /",
    ]
    assert api.status_code == 503
    assert api.json() == {"error": "the webhooks store is unavailable; try again shortly"}
    assert page.status_code == 503
    assert "Temporarily unavailable" in page.text
    assert "Traceback" not in page.text


def test_a_short_csrf_secret_is_refused(memory_world: PortalWorld) -> None:
    from acadio_webhooks.errors import InvalidInput

    with pytest.raises(InvalidInput, match="csrf_secret"):
        create_portal(memory_world.dispatcher, tenant_of=lambda _: "a", csrf_secret=b"short")
