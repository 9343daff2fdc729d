"""A portal over a real dispatcher and store, a recording transport and a fake clock; clients
act for a tenant through the ``X-Tenant`` header the test ``tenant_of`` reads."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
from starlette.requests import Request

from acadio_webhooks.adapters.clock import FakeClock
from acadio_webhooks.adapters.resolver import StaticResolver
from acadio_webhooks.adapters.storage import open_store
from acadio_webhooks.adapters.transport.recording import RecordingTransport
from acadio_webhooks.dispatcher import Dispatcher
from acadio_webhooks.portal import create_portal

SECRET_A = "tenant-a-secret-0123456789"
SECRET_B = "tenant-b-secret-9876543210"
CSRF_SECRET = "portal-tests-csrf-secret-0123456789"
GOOD = "https://hooks.example.com/acadio"
BAD = "https://bad.example.com/acadio"
HOSTS = {
    "hooks.example.com": ["93.184.216.34"],
    "bad.example.com": ["93.184.216.35"],
    "internal.example.com": ["10.0.0.7"],
}


def tenant_from_header(request: Request) -> str | None:
    return request.headers.get("x-tenant")


class PortalWorld:
    """A dispatcher whose endpoints answer from ``status``; time moves only when told."""

    def __init__(self, store_url: str) -> None:
        self.clock = FakeClock()
        self.status = {GOOD: 200, BAD: 500}
        self.transport = RecordingTransport(lambda request: self.status[request.url])
        self.dispatcher = Dispatcher(
            open_store(store_url),
            clock=self.clock,
            transport=self.transport,
            resolver=StaticResolver(HOSTS),
        )
        self.app = create_portal(
            self.dispatcher, tenant_of=tenant_from_header, csrf_secret=CSRF_SECRET
        )

    def client(self, tenant: str | None) -> httpx.AsyncClient:
        headers = {"x-tenant": tenant} if tenant is not None else {}
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app),
            base_url="http://portal.test",
            headers=headers,
        )

    def settle(self) -> None:
        """Deliver everything due, moving time past every retry wait until nothing is left."""
        for _ in range(50):  # the retry schedule spans about a day; an hour per step
            self.dispatcher.drain()
            self.clock.advance(timedelta(hours=1))
        self.dispatcher.drain()

    def install(self, tenant: str, secret: str) -> str:
        return self.dispatcher.integrations.install(tenant, secret=secret).id

    def subscribe(self, integration_id: str, pattern: str, url: str) -> str:
        return self.dispatcher.integrations.subscribe(integration_id, pattern, url).id


_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(html: str) -> str:
    """The CSRF token of the first form on a rendered page."""
    found = _TOKEN.search(html)
    assert found is not None, "the page has no form with a CSRF token"
    return found.group(1)
