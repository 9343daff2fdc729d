"""``examples/portal_fastapi.py`` mounts the portal in FastAPI and serves its pages."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import httpx
import pytest

pytest.importorskip("fastapi", reason="the example is a FastAPI application")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "portal_fastapi.py"

pytestmark = pytest.mark.anyio


def load_example(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> ModuleType:
    monkeypatch.setenv("WEBHOOKS_DB", f"sqlite:///{tmp_path / 'portal-demo.db'}")
    monkeypatch.setenv("WEBHOOKS_CSRF_SECRET", "example-test-csrf-secret-0123456789")
    spec = importlib.util.spec_from_file_location("portal_fastapi_example", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_the_example_serves_the_portal_under_webhooks(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    example = load_example(monkeypatch, tmp_path)
    transport = httpx.ASGITransport(app=example.app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://lms.test") as client:
            signed_out = await client.get("/webhooks/")
            login = await client.post("/login", data={"school": "demo-school"})
            page = await client.get(login.headers["location"])
            api = await client.get("/webhooks/api/integrations")
    finally:
        example.app.state.dispatcher.close()
    assert signed_out.status_code == 401
    # Its way out is the host's sign-in form, not the portal's own (401 again) home.
    assert '<a class="button primary" href="/">Sign in</a>' in signed_out.text
    assert 'href="/webhooks/"' not in signed_out.text.split("<main", 1)[1]
    assert login.status_code == 303
    assert page.status_code == 200
    assert "Manage Integrations" in page.text
    assert 'href="/webhooks/install"' in page.text
    assert api.json() == {"items": []}
