"""Mount the webhooks admin portal in a FastAPI application.

Run it from the repository root (``pip install -e .[portal] fastapi``)::

    uvicorn examples.portal_fastapi:app

then open http://127.0.0.1:8000/, "sign in" as a demo school and manage its webhooks at
http://127.0.0.1:8000/webhooks/. Events are stored in ``portal-demo.db`` (SQLite; set
``WEBHOOKS_DB`` to another store URL) and a worker thread delivers them.

The sign-in here is a stand-in: a plain cookie naming the school. A real host's
``tenant_of`` reads its own session or token and returns the tenant the signed-in
administrator manages, or None.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from acadio_webhooks.dispatcher import Dispatcher
from acadio_webhooks.portal import create_portal

DEMO_COOKIE = "demo_school"


def current_school(request: Request) -> str | None:
    """The host's authentication (a demo stand-in): which school's webhooks may be managed."""
    return request.cookies.get(DEMO_COOKIE)


def create_app(database_url: str, csrf_secret: str | bytes) -> FastAPI:
    """The host application: its own pages, the portal under /webhooks, and a worker."""
    dispatcher = Dispatcher(database_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        dispatcher.start_worker()
        yield
        dispatcher.close()

    app = FastAPI(lifespan=lifespan)
    app.state.dispatcher = dispatcher

    @app.get("/", response_class=HTMLResponse)
    def home() -> str:
        return (
            "<!doctype html><title>Demo LMS</title><h1>Demo LMS</h1>"
            '<form method="post" action="/login"><label for="school">School</label> '
            '<input id="school" name="school" value="demo-school"> '
            "<button>Sign in</button></form>"
        )

    @app.post("/login")
    async def login(request: Request) -> RedirectResponse:
        form = await request.form()
        response = RedirectResponse("/webhooks/", status_code=303)
        response.set_cookie(DEMO_COOKIE, str(form.get("school", "demo-school")), httponly=True)
        return response

    @app.post("/demo/emit")
    def emit(request: Request) -> dict[str, str | None]:
        """Emit a sample event for the signed-in school (what the LMS does on its own)."""
        school = current_school(request) or "demo-school"
        event_id = dispatcher.emit("course/completion/create", {"course_id": 7}, tenant=school)
        return {"event_id": event_id}

    app.mount(
        "/webhooks",
        create_portal(
            dispatcher, tenant_of=current_school, csrf_secret=csrf_secret, sign_in_url="/"
        ),
    )
    return app


# The CSRF secret must be the same in every process serving the portal and survive restarts;
# a random one per process is only good enough for this single-process demo.
app = create_app(
    os.environ.get("WEBHOOKS_DB", "sqlite:///portal-demo.db"),
    os.environ.get("WEBHOOKS_CSRF_SECRET") or secrets.token_bytes(32),
)
