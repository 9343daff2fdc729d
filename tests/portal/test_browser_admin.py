"""The portal as a school's administrator uses it, in real headless Chromium: each place where
an administrator was left guessing, or where what was stored differed from what was typed
(issue #21), checked the way the administrator meets it. Screenshots of the new behaviour go
to ``docs/img/`` when ``ACADIO_WEBHOOKS_SCREENSHOTS=1``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from acadio_webhooks.adapters.clock import FakeClock
from acadio_webhooks.adapters.resolver import StaticResolver
from acadio_webhooks.adapters.storage.memory import MemoryStore
from acadio_webhooks.dispatcher import Dispatcher
from acadio_webhooks.domain.endpoints import EndpointPolicy
from acadio_webhooks.domain.models import Attempt, Integration, Subscription
from acadio_webhooks.portal import create_portal
from tests.portal.browser import DOCS_IMAGES, REFRESH_DOCS_IMAGES, Receiver, settle
from tests.portal.server import serving

TENANT = "school-42"
SECRET = "school-42-signing-secret"
HOSTS = StaticResolver({"hooks.example.com": ["93.184.216.34"]})
DESK = {"width": 1100, "height": 700}


class Admin:
    """One administrator's browser tab on a running portal, and the dispatcher behind it."""

    def __init__(self, page: Any, base: str, dispatcher: Dispatcher, shots: Path) -> None:
        self.page = page
        self.base = base
        self.dispatcher = dispatcher
        self.shots = shots

    def integration(self) -> Integration:
        [found] = self.dispatcher.integrations.list(TENANT)
        return found

    def open_settings(self) -> None:
        self.page.goto(f"{self.base}/integrations/{self.integration().id}")

    def shot(self, name: str) -> None:
        self.page.screenshot(path=self.shots / name, full_page=False)


@contextmanager
def admin(
    chromium: Any,
    tmp_path: Path,
    *,
    dispatcher: Dispatcher | None = None,
    install: bool = True,
    tenant: str | None = TENANT,
    **portal_options: Any,
) -> Iterator[Admin]:
    made = dispatcher or Dispatcher(MemoryStore(), clock=FakeClock(), resolver=HOSTS)
    if install:
        made.integrations.install(TENANT, secret=SECRET)
    portal = create_portal(
        made,
        tenant_of=lambda request: request.headers.get("x-tenant"),
        csrf_secret=b"browser-admin-csrf-secret-0123456789",
        title="Acadio Admin",
        **portal_options,
    )
    shots = DOCS_IMAGES if REFRESH_DOCS_IMAGES else tmp_path
    shots.mkdir(parents=True, exist_ok=True)
    headers = {"X-Tenant": tenant} if tenant else {}
    with serving(portal) as base:
        context = chromium.new_context(viewport=DESK, extra_http_headers=headers)
        try:
            yield Admin(context.new_page(), base, made, shots)
        finally:
            context.close()
    made.close()


def on_loopback(store: MemoryStore | None = None) -> tuple[Dispatcher, FakeClock]:
    """A dispatcher allowed to send to the loopback receiver, on a fake clock."""
    clock = FakeClock()
    policy = EndpointPolicy(allow_insecure=True)
    return Dispatcher(store or MemoryStore(), clock=clock, endpoint_policy=policy), clock


def failed_delivery(a: Admin, receiver: Receiver, clock: FakeClock) -> Subscription:
    """A ``course/*`` subscription to an endpoint that answers 500, and one delivery to it
    that failed after every retry; the subscription."""
    url = f"{receiver.url}/flaky"
    subscription = a.dispatcher.integrations.subscribe(a.integration().id, "course/*", url)
    a.dispatcher.emit("course/completion/create", {"course_id": 1}, tenant=TENANT)
    settle(a.dispatcher, clock)
    return subscription


def expect() -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect


# 1. A rejected form lower on the page is brought into view, with a banner at the top.
@pytest.mark.parametrize(
    ("form", "field", "value", "button"),
    [
        ("email", "Notification e-mail", "admin@", "Save e-mail"),
        ("secret", "New secret key", "short", "Change secret key"),
        ("subscribe", "Pattern", "cource/*", "Save"),
    ],
)
def test_a_rejected_form_lower_on_the_page_is_focused_and_in_view(
    chromium: Any, tmp_path: Path, form: str, field: str, value: str, button: str
) -> None:
    with admin(chromium, tmp_path) as a:
        hooks = a.dispatcher.integrations
        for pattern in ("course/*", "identity/*", "credits/*"):
            hooks.subscribe(
                a.integration().id, pattern, f"https://hooks.example.com/{pattern[:-2]}"
            )
        a.open_settings()
        a.page.get_by_label(field, exact=True).fill(value)
        if form == "subscribe":
            a.page.get_by_label("Endpoint", exact=True).fill("https://hooks.example.com/x")
        a.page.get_by_role("button", name=button, exact=True).click()
        summary = a.page.locator("#form-problems")
        expect()(summary).to_be_focused()
        expect()(summary).to_be_in_viewport()
        expect()(a.page.get_by_text("Something you entered needs a change")).to_be_visible()
        if form == "email":
            a.shot("portal-form-problem.png")


# 2. A secret longer than allowed is refused with a message, never cut to fit.
def test_a_too_long_secret_is_refused_not_truncated(chromium: Any, tmp_path: Path) -> None:
    with admin(chromium, tmp_path) as a:
        before = a.integration().secrets
        a.open_settings()
        a.page.get_by_label("New secret key").fill("k" * 300)
        a.page.get_by_role("button", name="Change secret key").click()
        expect()(a.page.locator("#secret-secret-error")).to_contain_text(
            "at most 256 characters; a longer one is refused, never shortened"
        )
        assert a.integration().secrets == before


# 3 and 4. Install keeps nothing secret in the page and says so; messages in the admin's words.
def test_install_says_to_type_a_good_secret_again_in_the_admins_words(
    chromium: Any, tmp_path: Path
) -> None:
    with admin(chromium, tmp_path, install=False) as a:
        a.page.goto(f"{a.base}/install")
        a.page.get_by_label("Secret key").fill("a-good-secret-of-29-characters")
        a.page.get_by_label("Notification e-mail (optional)").fill("ops@")
        a.page.get_by_role("button", name="Install").click()
        expect()(a.page.locator("#notification_email-error")).to_contain_text(
            "Enter an e-mail address in the form name@school.example"
        )
        expect()(a.page.locator("#secret-error")).to_contain_text("Enter the secret key again")
        assert "a-good-secret-of-29-characters" not in a.page.content()
        a.page.get_by_label("Secret key").fill("")
        a.page.get_by_label("Notification e-mail (optional)").fill("")
        a.page.get_by_role("button", name="Install").click()
        expect()(a.page.locator("#secret-error")).to_have_text("Error: Enter the secret key")
        assert a.dispatcher.integrations.list(TENANT) == []


@pytest.mark.parametrize(
    ("pattern", "endpoint", "field", "message"),
    [
        ("course/*", "http://hooks.example.com/acadio", "endpoint",
         "Use a secure address starting with https:// (http:// is not accepted)"),
        ("course/*", "hooks", "endpoint", "Enter the full address, starting with https://"),
        ("", "https://hooks.example.com/acadio", "pattern", "Enter a pattern"),
        ("course/*", "", "endpoint", "Enter the endpoint's address"),
    ],
)  # fmt: skip
def test_subscription_problems_are_worded_for_the_admin(
    chromium: Any, tmp_path: Path, pattern: str, endpoint: str, field: str, message: str
) -> None:
    with admin(chromium, tmp_path) as a:
        a.open_settings()
        a.page.get_by_label("Pattern", exact=True).fill(pattern)
        a.page.get_by_label("Endpoint", exact=True).fill(endpoint)
        a.page.get_by_role("button", name="Save", exact=True).click()
        expect()(a.page.locator(f"#{field}-error")).to_have_text(f"Error: {message}")


# 5. A delivery's page is one consistent read, even when a worker attempts it meanwhile.
class RacingStore(MemoryStore):
    """A store whose worker records an attempt just as a page reads a delivery's attempts."""

    def __init__(self) -> None:
        super().__init__()
        self.race: Any = None

    def list_attempts(self, delivery_id: str) -> list[Attempt]:
        race, self.race = self.race, None
        if race is not None:
            race()
        return super().list_attempts(delivery_id)


def test_a_delivery_page_never_contradicts_itself(
    chromium: Any, tmp_path: Path, receiver: Receiver
) -> None:
    store = RacingStore()
    dispatcher, _ = on_loopback(store)
    with admin(chromium, tmp_path, dispatcher=dispatcher) as a:
        a.dispatcher.integrations.subscribe(a.integration().id, "course/*", f"{receiver.url}/flaky")
        a.dispatcher.emit("course/completion/create", {"course_id": 1}, tenant=TENANT)
        [delivery] = a.dispatcher.deliveries().items
        store.race = a.dispatcher.drain  # attempt 1 (HTTP 500) lands between the reads
        a.page.goto(f"{a.base}/deliveries/{delivery.id}")
        rows = a.page.locator("table.attempts tbody tr")
        expect()(rows).to_have_count(1)
        expect()(rows.first).to_contain_text("HTTP 500")
        facts = a.page.locator("dl.facts")
        expect()(facts).to_contain_text("Attempts1")


# 6. Actions that cannot work are not offered; impossible input is refused; grammar.
def test_resend_is_not_offered_for_a_disabled_subscription(
    chromium: Any, tmp_path: Path, receiver: Receiver
) -> None:
    dispatcher, clock = on_loopback()
    with admin(chromium, tmp_path, dispatcher=dispatcher) as a:
        hooks = a.dispatcher.integrations
        subscription = failed_delivery(a, receiver, clock)
        [failed] = a.dispatcher.deliveries().items
        hooks.update_subscription(subscription.id, active=False)
        a.page.goto(f"{a.base}/deliveries/{failed.id}")
        expect()(a.page.locator("#summary-heading")).to_contain_text("Failed")
        expect()(a.page.get_by_role("button", name="Resend this delivery")).to_have_count(0)
        a.page.goto(f"{a.base}/integrations/{a.integration().id}/deliveries")
        expect()(a.page.get_by_role("row", name="course/completion/create")).to_contain_text(
            "Failed"
        )
        # Only "Resend failed" at the bottom, for the whole log; no row's own Resend.
        expect()(a.page.get_by_role("button", name="Resend", exact=False)).to_have_count(1)
        hooks.update_subscription(subscription.id, active=True)
        a.page.reload()
        expect()(a.page.get_by_role("button", name="Resend", exact=False)).to_have_count(2)


def test_resending_failures_from_the_future_is_refused_and_counts_read_well(
    chromium: Any, tmp_path: Path, receiver: Receiver
) -> None:
    dispatcher, clock = on_loopback()
    with admin(chromium, tmp_path, dispatcher=dispatcher) as a:
        failed_delivery(a, receiver, clock)
        log = f"{a.base}/integrations/{a.integration().id}/deliveries"
        a.page.goto(log)
        since = a.page.get_by_label("Failed since (UTC)")
        since.fill((clock.now().replace(year=clock.now().year + 1)).strftime("%Y-%m-%dT%H:%M"))
        a.page.get_by_role("button", name="Resend failed").click()
        expect()(a.page.locator("#resend-since-error")).to_contain_text("choose a time in the past")
        since.fill("2000-01-01T00:00")
        a.page.get_by_role("button", name="Resend failed").click()
        expect()(a.page.get_by_role("status")).to_have_text("1 failed delivery queued again.")


# 7. No dead ends: a pattern's preview keeps the form; a signed-out admin is sent to sign in.
def test_previewing_a_pattern_keeps_the_form_and_saves_nothing(
    chromium: Any, tmp_path: Path
) -> None:
    with admin(chromium, tmp_path) as a:
        a.open_settings()
        a.page.get_by_label("Pattern", exact=True).fill("course/*")
        a.page.get_by_label("Endpoint", exact=True).fill("https://hooks.example.com/in")
        a.page.get_by_role("button", name="Preview what this pattern receives").click()
        preview = a.page.locator("#pattern-preview")
        expect()(preview).to_contain_text("course/* receives 5 topics (not saved yet)")
        expect()(preview).to_be_in_viewport()
        expect()(a.page.get_by_label("Pattern", exact=True)).to_have_value("course/*")
        expect()(a.page.get_by_label("Endpoint", exact=True)).to_have_value(
            "https://hooks.example.com/in"
        )
        assert a.dispatcher.integrations.subscriptions(a.integration().id) == []
        a.shot("portal-pattern-preview.png")
        a.page.get_by_role("button", name="Save", exact=True).click()
        expect()(a.page.get_by_role("status")).to_contain_text("Subscription saved")


def test_a_signed_out_admin_is_sent_to_the_hosts_sign_in(chromium: Any, tmp_path: Path) -> None:
    with admin(chromium, tmp_path, tenant=None, sign_in_url="/login") as a:
        a.page.goto(f"{a.base}/")
        expect()(a.page.get_by_role("heading", name="Sign in required")).to_be_visible()
        expect()(a.page.get_by_role("link", name="Sign in")).to_have_attribute("href", "/login")


# 8. Deactivating asks first, and the status reads once.
def test_deactivate_asks_before_cancelling_anything(chromium: Any, tmp_path: Path) -> None:
    with admin(chromium, tmp_path) as a:
        a.open_settings()
        a.page.locator("summary", has_text="Deactivate").click()
        expect()(a.page.get_by_text("every pending delivery is cancelled")).to_be_visible()
        assert a.integration().active
        a.page.get_by_role("button", name="Yes, deactivate webhooks").click()
        expect()(a.page.get_by_role("status")).to_contain_text("Webhooks deactivated")
        assert not a.integration().active
        lead = a.page.locator("p.lead")
        expect()(lead).to_have_text(
            "Deactivated Nothing is sent until you activate webhooks again."
        )


# 9. The delivery log and a delivery's page update themselves while anything is pending.
def test_the_log_and_a_delivery_page_update_without_a_reload(
    chromium: Any, tmp_path: Path, receiver: Receiver
) -> None:
    dispatcher, _ = on_loopback()
    with admin(chromium, tmp_path, dispatcher=dispatcher) as a:
        a.dispatcher.integrations.subscribe(a.integration().id, "course/*", f"{receiver.url}/ok")
        a.open_settings()
        a.page.get_by_role("button", name="Send test event").click()
        row = a.page.get_by_role("row", name="course/completion/create")
        expect()(row).to_contain_text("Pending")
        loaded = a.page.evaluate("performance.timeOrigin")
        a.dispatcher.drain()
        expect()(row).to_contain_text("Delivered", timeout=15_000)
        expect()(row).to_contain_text("HTTP 200")
        assert a.page.evaluate("performance.timeOrigin") == loaded, "no reload happened"
        a.shot("portal-live-log.png")

        a.dispatcher.emit("course/completion/create", {"course_id": 2}, tenant=TENANT)
        pending = next(d for d in a.dispatcher.deliveries().items if d.status.value == "pending")
        a.page.goto(f"{a.base}/deliveries/{pending.id}")
        expect()(a.page.locator("#summary-heading")).to_contain_text("Pending")
        a.dispatcher.drain()
        expect()(a.page.locator("#summary-heading")).to_contain_text("Delivered", timeout=15_000)
        expect()(a.page.locator("table.attempts tbody tr")).to_have_count(1)
