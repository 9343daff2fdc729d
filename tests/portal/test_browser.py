"""The customer page's flow in real headless Chromium (Debian's ``chromium`` driven by
Playwright): install, subscribe ``course/*`` to a loopback receiver, see a delivered event and
a failing one with its attempts, resend it, deactivate. Writes the screenshots the docs show
(``docs/img/portal-*.png``) when ``ACADIO_WEBHOOKS_SCREENSHOTS=1``.

Skips when Chromium or Playwright is missing, unless ``ACADIO_WEBHOOKS_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from acadio_webhooks.adapters.clock import FakeClock
from acadio_webhooks.dispatcher import Dispatcher
from acadio_webhooks.domain.endpoints import EndpointPolicy
from acadio_webhooks.portal import create_portal
from tests.portal.browser import DOCS_IMAGES, REFRESH_DOCS_IMAGES, Receiver, settle
from tests.portal.server import serving

TENANT = "school-42"


def test_an_admin_installs_subscribes_resends_and_deactivates(
    chromium: Any, receiver: Receiver, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    SCREENSHOTS = DOCS_IMAGES if REFRESH_DOCS_IMAGES else tmp_path
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    clock = FakeClock()
    dispatcher = Dispatcher(
        "memory://", clock=clock, endpoint_policy=EndpointPolicy(allow_insecure=True)
    )
    portal = create_portal(
        dispatcher,
        tenant_of=lambda request: request.headers.get("x-tenant"),
        csrf_secret=b"browser-test-csrf-secret-0123456789",
        title="Acadio Admin",
    )
    with serving(portal) as base:
        context = chromium.new_context(
            viewport={"width": 1100, "height": 900}, extra_http_headers={"X-Tenant": TENANT}
        )
        page = context.new_page()
        page.goto(f"{base}/")
        expect(page.get_by_role("heading", name="Manage Integrations")).to_be_visible()
        page.keyboard.press("Tab")
        expect(page.get_by_role("link", name="Skip to main content")).to_be_focused()
        page.screenshot(path=SCREENSHOTS / "portal-manage.png")

        # Steps 3, 4 and 7: Install, with a secret key and the notification e-mail.
        page.get_by_role("link", name="Install webhooks").click()
        page.get_by_label("Secret key").fill("short")
        page.get_by_role("button", name="Install").click()
        expect(page.locator("#secret-error")).to_contain_text("at least 16 characters")
        expect(page.get_by_label("Secret key")).to_have_attribute("aria-invalid", "true")
        page.get_by_label("Secret key").fill("school-42-signing-secret")
        page.get_by_label("Notification e-mail (optional)").fill("ops@school42.example")
        page.screenshot(path=SCREENSHOTS / "portal-install.png")
        page.get_by_role("button", name="Install").click()
        expect(page.get_by_role("status")).to_contain_text("Webhooks installed")

        # Steps 5 and 6: a subscription with a pattern and an endpoint; Save. A typo first.
        page.get_by_label("Pattern", exact=True).fill("cource/*")
        page.get_by_label("Endpoint", exact=True).fill(f"{receiver.url}/ok")
        page.get_by_role("button", name="Save", exact=True).click()
        expect(page.locator("#pattern-error")).to_contain_text("matches no known topic")
        page.screenshot(path=SCREENSHOTS / "portal-subscription-error.png", full_page=True)
        page.get_by_label("Pattern", exact=True).fill("course/*")
        page.get_by_role("button", name="Save", exact=True).click()
        expect(page.get_by_role("status")).to_contain_text("Subscription saved")
        page.get_by_label("Pattern", exact=True).fill("identity/*")
        page.get_by_label("Endpoint", exact=True).fill(f"{receiver.url}/flaky")
        page.get_by_role("button", name="Save", exact=True).click()
        expect(page.get_by_role("row", name="course/*")).to_contain_text("5 topics")
        page.screenshot(path=SCREENSHOTS / "portal-integration.png", full_page=True)

        # The LMS emits; the worker delivers one and keeps failing the other until it gives up.
        dispatcher.emit("course/completion/create", {"course_id": 7}, tenant=TENANT)
        dispatcher.emit("identity/user/create", {"user_id": 12}, tenant=TENANT)
        settle(dispatcher, clock)

        page.get_by_role("link", name="Delivery log").click()
        delivered_row = page.get_by_role("row", name="course/completion/create")
        failed_row = page.get_by_role("row", name="identity/user/create")
        expect(delivered_row).to_contain_text("Delivered")
        expect(failed_row).to_contain_text("Failed")
        expect(failed_row).to_contain_text("HTTP 500")
        page.screenshot(path=SCREENSHOTS / "portal-log.png", full_page=True)

        failed_row.get_by_role("link", name="Details").click()
        attempts = page.locator("table.attempts tbody tr")
        expect(attempts).to_have_count(7)
        expect(attempts.first).to_contain_text("receiver is down for maintenance")
        page.screenshot(path=SCREENSHOTS / "portal-delivery.png", full_page=True)

        phone = context.new_page()
        phone.set_viewport_size({"width": 390, "height": 844})
        phone.goto(page.url)
        expect(phone.locator("table.attempts tbody tr")).to_have_count(7)
        phone.screenshot(path=SCREENSHOTS / "portal-delivery-phone.png", full_page=True)
        phone.close()

        # The receiver is fixed; Resend queues the event again and the worker delivers it.
        receiver.fixed = True
        page.get_by_role("button", name="Resend this delivery").click()
        expect(page.get_by_role("status")).to_contain_text("Queued again")
        settle(dispatcher, clock)
        page.reload()
        expect(page.locator("#summary-heading")).to_contain_text("Delivered")
        expect(page.locator("table.attempts tbody tr")).to_have_count(1)
        expect(page.locator("table.attempts")).to_contain_text("thanks")

        # Disconnecting: Manage Integrations, Deactivate.
        page.get_by_role("link", name="Manage Integrations").click()
        page.locator("summary", has_text="Deactivate").click()  # opens the question only
        expect(page.get_by_text("Deactivate webhooks? Nothing is sent")).to_be_visible()
        page.get_by_role("button", name="Yes, deactivate webhooks").click()
        expect(page.get_by_role("status")).to_contain_text("Webhooks deactivated")
        expect(page.get_by_role("button", name="Activate webhooks").first).to_be_visible()
        context.close()

    dispatcher.emit("course/activity/update", {"course_id": 7}, tenant=TENANT)
    report = dispatcher.drain()
    dispatcher.close()
    assert report.delivered == 0
