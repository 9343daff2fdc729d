"""The HTML pages: CSRF on every form, errors next to their fields, accessible markup,
mounting under a prefix, and the customer page's flow through real form posts."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount, Route

from acadio_webhooks.portal._csrf import COOKIE_NAME
from tests.portal.world import BAD, GOOD, SECRET_A, PortalWorld, csrf_token

pytestmark = pytest.mark.anyio


class Markup(HTMLParser):
    """Collects form controls, labels and ids of one page."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.controls: list[dict[str, str | None]] = []
        self.label_targets: set[str] = set()
        self.ids: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if attributes.get("id"):
            self.ids.append(str(attributes["id"]))
        if tag == "label" and attributes.get("for"):
            self.label_targets.add(str(attributes["for"]))
        if tag in ("input", "select", "textarea") and attributes.get("type") != "hidden":
            self.controls.append(attributes)

    def control(self, name: str) -> dict[str, str | None]:
        return next(c for c in self.controls if c.get("name") == name)


def form_routes(app: Starlette) -> list[str]:
    return [
        route.path
        for route in app.routes
        if isinstance(route, Route)
        and "POST" in (route.methods or ())
        and not route.path.startswith("/api/")
    ]


def fill(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"{(\w+)}", lambda m: ids[m.group(1)], path)


async def test_every_form_refuses_a_missing_or_forged_csrf_token(
    memory_world: PortalWorld,
) -> None:
    world = memory_world
    integration = world.install("a", SECRET_A)
    subscription = world.subscribe(integration, "identity/*", BAD)
    world.dispatcher.emit("identity/user/create", {"n": 1}, tenant="a")
    world.settle()
    [delivery] = world.dispatcher.deliveries(tenant="a").items
    ids = {
        "integration_id": integration,
        "subscription_id": subscription,
        "delivery_id": delivery.id,
    }
    routes = form_routes(world.app)
    assert len(routes) == 12  # every form of the portal, so a new one cannot slip past

    async with world.client("b") as other:
        token_for_b = csrf_token((await other.get("/install")).text)
        cookie_for_b = other.cookies[COOKIE_NAME]
    async with world.client("a") as client:
        page = await client.get("/")
        token_for_a = csrf_token(page.text)
        attempts = {
            "no token": {},
            "wrong token": {"csrf_token": token_for_a[:-2] + "xx"},
            "token of another tenant": {"csrf_token": token_for_b},
        }
        for path in routes:
            for label, token in attempts.items():
                response = await client.post(
                    fill(path, ids), data={"secret": "tenant-a-new-secret-0000", **token}
                )
                assert response.status_code == 403, (path, label)
                assert "expired or was not sent from this portal" in response.text
        # A token without its cookie, or with another browser's cookie, is refused too.
        client.cookies.clear()
        no_cookie = await client.post(fill(routes[0], ids), data={"csrf_token": token_for_a})
        client.cookies.set(COOKIE_NAME, cookie_for_b)
        foreign_cookie = await client.post(
            f"/integrations/{integration}/deactivate", data={"csrf_token": token_for_a}
        )
    assert no_cookie.status_code == 403
    assert foreign_cookie.status_code == 403
    assert world.dispatcher.integrations.get(integration).active
    assert world.dispatcher.integrations.list("a")[0].secrets[0].key() == SECRET_A.encode()
    assert world.dispatcher.integrations.subscriptions(integration)[0].id == subscription


async def test_the_csrf_cookie_is_http_only_strict_and_scoped_to_the_mount(
    memory_world: PortalWorld,
) -> None:
    host = Starlette(routes=[Mount("/webhooks", app=memory_world.app)])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=host),
        base_url="https://lms.example",
        headers={"x-tenant": "a"},
    ) as client:
        response = await client.get("/webhooks/")
        again = await client.get("/webhooks/install")
    cookie = response.headers["set-cookie"].lower()
    assert cookie.startswith(f"{COOKIE_NAME}=")
    for attribute in ("httponly", "samesite=strict", "secure", "path=/webhooks"):
        assert attribute in cookie
    assert "set-cookie" not in again.headers  # the browser keeps the nonce it was given
    assert 'href="/webhooks/install"' in response.text
    assert 'href="/webhooks/static/portal.css"' in response.text


async def test_pages_carry_security_headers(memory_world: PortalWorld) -> None:
    async with memory_world.client("a") as client:
        response = await client.get("/")
        css = await client.get("/static/portal.css")
    policy = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy
    assert "form-action 'self'" in policy
    # The portal's own script only: no inline script, no other origin, fetches to itself.
    assert "script-src 'self';" in policy
    assert "connect-src 'self';" in policy
    assert "unsafe-inline" not in policy
    assert "<script>" not in response.text
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert ":focus-visible" in css.text
    assert "@media (max-width" in css.text


async def test_signed_out_visitors_get_a_401_page(memory_world: PortalWorld) -> None:
    async with memory_world.client(None) as client:
        response = await client.get("/")
        posted = await client.post("/install", data={"secret": SECRET_A})
    assert response.status_code == 401
    assert "Sign in" in response.text
    assert posted.status_code == 401
    assert memory_world.dispatcher.integrations.list() == []


async def test_install_shows_errors_next_to_fields_and_never_echoes_the_secret(
    memory_world: PortalWorld,
) -> None:
    async with memory_world.client("a") as client:
        form = await client.get("/install")
        refused = await client.post(
            "/install",
            data={
                "csrf_token": csrf_token(form.text),
                "secret": "short-secret",
                "notification_email": "not-an-address",
            },
        )
    assert refused.status_code == 422
    assert "short-secret" not in refused.text
    markup = Markup(refused.text)
    secret = markup.control("secret")
    assert secret["aria-invalid"] == "true"
    assert "secret-error" in str(secret["aria-describedby"])
    assert "value" not in secret
    email = markup.control("notification_email")
    assert email["value"] == "not-an-address"
    assert "notification_email-error" in str(email["aria-describedby"])
    assert 'id="secret-error"' in refused.text
    assert 'href="#secret"' in refused.text  # the summary links to the field
    assert memory_world.dispatcher.integrations.list("a") == []


async def test_every_control_has_a_label_and_ids_are_unique(memory_world: PortalWorld) -> None:
    world = memory_world
    integration = world.install("a", SECRET_A)
    subscription = world.subscribe(integration, "course/*", GOOD)
    world.dispatcher.emit("course/completion/create", {"n": 1}, tenant="a")
    world.settle()
    [delivery] = world.dispatcher.deliveries(tenant="a").items
    pages = [
        "/",
        f"/integrations/{integration}",
        f"/integrations/{integration}/deliveries",
        f"/subscriptions/{subscription}",
        f"/deliveries/{delivery.id}",
        "/topics?pattern=course/*",
    ]
    async with world.client("a") as client:
        for path in pages:
            response = await client.get(path)
            assert response.status_code == 200, path
            markup = Markup(response.text)
            assert len(markup.ids) == len(set(markup.ids)), path
            for control in markup.controls:
                assert control.get("id") in markup.label_targets, (path, control)
            assert '<main id="main"' in response.text
            assert 'lang="en"' in response.text


async def test_the_admin_flow_through_the_forms(memory_world: PortalWorld) -> None:
    world = memory_world
    async with world.client("a") as client:
        home = await client.get("/")
        assert 'href="/install"' in home.text
        token = csrf_token((await client.get("/install")).text)

        installed = await client.post(
            "/install",
            data={"csrf_token": token, "secret": SECRET_A, "notification_email": ""},
        )
        assert installed.status_code == 303
        integration_page = installed.headers["location"]
        assert integration_page.endswith("?done=installed")
        [integration] = world.dispatcher.integrations.list("a")

        typo = await client.post(
            f"/integrations/{integration.id}/subscriptions",
            data={"csrf_token": token, "pattern": "cource/*", "endpoint": "http://x.example"},
        )
        assert typo.status_code == 422
        markup = Markup(typo.text)
        assert markup.control("pattern")["value"] == "cource/*"
        assert markup.control("pattern")["aria-invalid"] == "true"
        assert markup.control("endpoint")["aria-invalid"] == "true"
        assert "matches no known topic" in typo.text

        for pattern, endpoint in (("course/*", GOOD), ("identity/*", BAD)):
            saved = await client.post(
                f"/integrations/{integration.id}/subscriptions",
                data={"csrf_token": token, "pattern": pattern, "endpoint": endpoint},
            )
            assert saved.status_code == 303
        emailed = await client.post(
            f"/integrations/{integration.id}/email",
            data={"csrf_token": token, "notification_email": "ops@school.example"},
        )
        assert emailed.status_code == 303
        page = await client.get(integration_page)
        assert "Subscription" in page.text
        assert "ops@school.example" in page.text
        assert "5 topics" in page.text

        world.dispatcher.emit("course/completion/create", {"n": 1}, tenant="a")
        world.dispatcher.emit("identity/user/create", {"n": 2}, tenant="a")
        world.settle()
        log = await client.get(f"/integrations/{integration.id}/deliveries")
        assert "Delivered" in log.text
        assert "Failed" in log.text
        failed_only = await client.get(
            f"/integrations/{integration.id}/deliveries", params={"status": "failed"}
        )
        assert "identity/user/create" in failed_only.text
        assert "course/completion/create" not in failed_only.text.split("<table")[1]
        [failed] = world.dispatcher.deliveries(tenant="a", status="failed").items
        detail = await client.get(f"/deliveries/{failed.id}")
        assert detail.text.count("HTTP 500") == 7
        world.status[BAD] = 200
        resent = await client.post(f"/deliveries/{failed.id}/resend", data={"csrf_token": token})
        assert resent.status_code == 303
        world.settle()
        new_detail = await client.get(resent.headers["location"])
        assert "Queued again" in new_detail.text
        assert "HTTP 200" in new_detail.text

        deactivated = await client.post(
            f"/integrations/{integration.id}/deactivate", data={"csrf_token": token}
        )
        assert deactivated.status_code == 303
        final = await client.get(deactivated.headers["location"])
        assert "Webhooks deactivated" in final.text
        assert ">Activate<" in final.text
    assert not world.dispatcher.integrations.get(integration.id).active


async def test_subscription_edit_toggle_test_event_and_delete(memory_world: PortalWorld) -> None:
    world = memory_world
    integration = world.install("a", SECRET_A)
    subscription = world.subscribe(integration, "course/*", GOOD)
    async with world.client("a") as client:
        token = csrf_token((await client.get(f"/subscriptions/{subscription}")).text)
        bad_edit = await client.post(
            f"/subscriptions/{subscription}",
            data={"csrf_token": token, "pattern": "course/*", "endpoint": "https://10.0.0.1/"},
        )
        edited = await client.post(
            f"/subscriptions/{subscription}",
            data={"csrf_token": token, "pattern": "*/*/update", "endpoint": GOOD},
        )
        tested = await client.post(
            f"/subscriptions/{subscription}/test", data={"csrf_token": token}
        )
        world.dispatcher.drain()
        disabled = await client.post(
            f"/subscriptions/{subscription}/toggle", data={"csrf_token": token, "active": "false"}
        )
        refused_test = await client.post(
            f"/subscriptions/{subscription}/test", data={"csrf_token": token}
        )
        deleted = await client.post(
            f"/subscriptions/{subscription}/delete", data={"csrf_token": token}
        )
    assert bad_edit.status_code == 422
    assert Markup(bad_edit.text).control("endpoint")["aria-invalid"] == "true"
    assert edited.status_code == 303
    assert tested.status_code == 303
    assert tested.headers["location"].endswith(f"/integrations/{integration}/deliveries?done=test")
    assert [r.url for r in world.transport.requests] == [GOOD]
    assert disabled.status_code == 303
    assert refused_test.status_code == 409
    assert "disabled" in refused_test.text
    assert deleted.status_code == 303
    assert world.dispatcher.integrations.subscriptions(integration) == []


async def test_the_rate_limit_is_set_shown_and_lifted_in_the_forms(
    memory_world: PortalWorld,
) -> None:
    world = memory_world
    integration = world.install("a", SECRET_A)
    async with world.client("a") as client:
        page = await client.get(f"/integrations/{integration}")
        token = csrf_token(page.text)
        fields = {"csrf_token": token, "pattern": "course/*", "endpoint": GOOD}
        refused = await client.post(
            f"/integrations/{integration}/subscriptions", data={**fields, "rate_limit": "lots"}
        )
        created = await client.post(
            f"/integrations/{integration}/subscriptions", data={**fields, "rate_limit": "2.5"}
        )
        [subscription] = world.dispatcher.integrations.subscriptions(integration)
        listed = await client.get(f"/integrations/{integration}")
        edit = await client.get(f"/subscriptions/{subscription.id}")
        without_field = await client.post(f"/subscriptions/{subscription.id}", data=fields)
        kept = world.dispatcher.integrations.subscriptions(integration)[0].rate_limit
        emptied = await client.post(
            f"/subscriptions/{subscription.id}", data={**fields, "rate_limit": ""}
        )
    assert refused.status_code == 422
    assert Markup(refused.text).control("rate_limit")["aria-invalid"] == "true"
    assert created.status_code == 303
    assert subscription.rate_limit == 2.5
    assert "at most 2.5 a second" in listed.text
    assert Markup(edit.text).control("rate_limit")["value"] == "2.5"
    assert without_field.status_code == 303
    assert kept == 2.5  # a form without the field leaves the limit alone
    assert emptied.status_code == 303
    assert world.dispatcher.integrations.subscriptions(integration)[0].rate_limit is None


async def test_log_filters_and_resend_failed_since(memory_world: PortalWorld) -> None:
    world = memory_world
    integration = world.install("a", SECRET_A)
    world.subscribe(integration, "*", BAD)
    for n in range(30):
        world.dispatcher.emit("credits/credit/create", {"n": n}, tenant="a")
    world.settle()
    async with world.client("a") as client:
        log = await client.get(f"/integrations/{integration}/deliveries")
        older = re.search(r'href="([^"]*cursor=[^"]+)"', log.text)
        assert older is not None
        second = await client.get(older.group(1).replace("&amp;", "&"))
        bad_filter = await client.get(
            f"/integrations/{integration}/deliveries", params={"since": "last tuesday"}
        )
        token = csrf_token(log.text)
        missing_since = await client.post(
            f"/integrations/{integration}/resend-failed", data={"csrf_token": token}
        )
        world.status[BAD] = 200
        resent = await client.post(
            f"/integrations/{integration}/resend-failed",
            data={"csrf_token": token, "since": "2026-01-01T00:00"},
        )
        after = await client.get(resent.headers["location"])
    assert log.text.count("credits/credit/create</code>") == 25
    assert second.text.count("credits/credit/create</code>") == 5
    assert bad_filter.status_code == 422
    assert Markup(bad_filter.text).control("since")["aria-invalid"] == "true"
    assert missing_since.status_code == 422
    assert "enter the time to resend failures from" in missing_since.text
    assert resent.status_code == 303
    assert "30 failed deliveries queued again." in after.text
