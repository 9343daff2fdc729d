"""One small receiver app per framework and helper style, behind one test interface.

Each factory builds an app whose webhook view records the events it is handed and answers
``{"received": <id>}``, and returns a :class:`Harness` that posts to it through the
framework's own test client (Django's ``Client``, Flask's ``test_client()``, httpx's
``ASGITransport`` for Starlette and FastAPI).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx

from acadio_webhooks import ReceivedEvent
from acadio_webhooks.receivers import SecretSource

PATH = "/webhooks/acadio"
DJANGO_URLCONF = "tests.receivers._django_urls"


@dataclass
class Reply:
    status: int
    body: Any
    refusal: Any
    """The ``{"error", "detail"}`` object of a refusal, wherever the framework puts it."""


@dataclass
class Harness:
    send: Callable[[str, bytes, dict[str, str]], Reply]
    handled: list[ReceivedEvent] = field(default_factory=list)

    def post(self, body: bytes, headers: dict[str, str]) -> Reply:
        return self.send("POST", body, headers)


Factory = Callable[..., Harness]


# --- Django -----------------------------------------------------------------------------------


def configure_django() -> None:
    """Configure Django once per process, then override what these tests rely on.

    Settings are process-wide and another test module (the example receivers) may have
    configured them first, so every test also enters :func:`django_overrides`.
    """
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY="receiver-helper-tests-" + "x" * 40,
            ALLOWED_HOSTS=["testserver"],
            ROOT_URLCONF=DJANGO_URLCONF,
            MIDDLEWARE=["django.middleware.csrf.CsrfViewMiddleware"],
        )
        django.setup()


def django_overrides(**settings: Any) -> Any:
    from django.test import override_settings

    defaults: dict[str, Any] = {
        "ROOT_URLCONF": DJANGO_URLCONF,
        "ALLOWED_HOSTS": ["testserver"],
        "MIDDLEWARE": ["django.middleware.csrf.CsrfViewMiddleware"],
    }
    return override_settings(**{**defaults, **settings})


def django_harness(
    stack: contextlib.ExitStack, view: Any, route: str = PATH.lstrip("/"), url: str = PATH
) -> Callable[[str, bytes, dict[str, str]], Reply]:
    """Install ``view`` at ``route``; return a sender to ``url`` through Django's Client."""
    configure_django()
    from django.test import Client
    from django.urls import clear_url_caches, path

    from tests.receivers import _django_urls

    stack.enter_context(django_overrides())
    _django_urls.urlpatterns[:] = [path(route, view)]
    clear_url_caches()
    stack.callback(_django_urls.urlpatterns.clear)
    # Acadio never sends a CSRF token: the helper must work with CSRF checks enforced.
    client = Client(enforce_csrf_checks=True)

    def send(method: str, body: bytes, headers: dict[str, str]) -> Reply:
        extra = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        response = client.generic(
            method, url, data=body, content_type="application/json", headers=extra
        )
        return _reply(response.status_code, response.content, nested=False)

    return send


def django_sync(stack: contextlib.ExitStack, secret: SecretSource, **options: Any) -> Harness:
    from django.http import JsonResponse

    from acadio_webhooks.receivers.django import webhook_view

    handled: list[ReceivedEvent] = []

    @webhook_view(secret, **options)
    def receive(request: Any, event: ReceivedEvent) -> Any:
        handled.append(event)
        return JsonResponse({"received": event.id})

    return Harness(django_harness(stack, receive), handled)


def django_async(stack: contextlib.ExitStack, secret: SecretSource, **options: Any) -> Harness:
    from django.http import JsonResponse

    from acadio_webhooks.receivers.django import webhook_view

    handled: list[ReceivedEvent] = []

    @webhook_view(secret, **options)
    async def receive(request: Any, event: ReceivedEvent) -> Any:
        handled.append(event)
        return JsonResponse({"received": event.id})

    return Harness(django_harness(stack, receive), handled)


# --- Flask ------------------------------------------------------------------------------------


def flask_harness(app: Any) -> Callable[[str, bytes, dict[str, str]], Reply]:
    client = app.test_client()

    def send(method: str, body: bytes, headers: dict[str, str]) -> Reply:
        response = client.open(PATH, method=method, data=body, headers=headers)
        return _reply(response.status_code, response.get_data(), nested=False)

    return send


def flask_decorator(stack: contextlib.ExitStack, secret: SecretSource, **options: Any) -> Harness:
    from flask import Flask

    from acadio_webhooks.receivers.flask import verify_webhook

    app = Flask(__name__)
    handled: list[ReceivedEvent] = []

    @app.post(PATH)
    @verify_webhook(secret, **options)
    def receive(event: ReceivedEvent) -> dict[str, str]:
        handled.append(event)
        return {"received": event.id}

    return Harness(flask_harness(app), handled)


def flask_in_view(stack: contextlib.ExitStack, secret: SecretSource, **options: Any) -> Harness:
    from flask import Flask

    from acadio_webhooks.receivers.flask import verified_event

    app = Flask(__name__)
    handled: list[ReceivedEvent] = []

    @app.post(PATH)
    def receive() -> dict[str, str]:
        event = verified_event(secret, **options)
        handled.append(event)
        return {"received": event.id}

    return Harness(flask_harness(app), handled)


# --- Starlette and FastAPI --------------------------------------------------------------------


def asgi_harness(app: Any, *, nested: bool) -> Callable[[str, bytes, dict[str, str]], Reply]:
    async def request(method: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await client.request(method, PATH, content=body, headers=headers)

    def send(method: str, body: bytes, headers: dict[str, str]) -> Reply:
        response = anyio.run(request, method, body, headers)
        return _reply(response.status_code, response.content, nested=nested)

    return send


def starlette_decorator(
    stack: contextlib.ExitStack, secret: SecretSource, **options: Any
) -> Harness:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from acadio_webhooks.receivers.starlette import verify_webhook

    handled: list[ReceivedEvent] = []

    @verify_webhook(secret, **options)
    async def receive(request: Request, event: ReceivedEvent) -> Response:
        handled.append(event)
        return JSONResponse({"received": event.id})

    app = Starlette(routes=[Route(PATH, receive, methods=["POST"])])
    return Harness(asgi_harness(app, nested=False), handled)


def starlette_in_endpoint(
    stack: contextlib.ExitStack, secret: SecretSource, **options: Any
) -> Harness:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from acadio_webhooks import VerificationError
    from acadio_webhooks.receivers.starlette import rejection_response, verified_event

    handled: list[ReceivedEvent] = []

    async def receive(request: Request) -> Response:
        try:
            event = await verified_event(request, secret, **options)
        except VerificationError as error:
            return rejection_response(error)
        handled.append(event)
        return JSONResponse({"received": event.id})

    app = Starlette(routes=[Route(PATH, receive, methods=["POST"])])
    return Harness(asgi_harness(app, nested=False), handled)


def fastapi_dependency(
    stack: contextlib.ExitStack, secret: SecretSource, **options: Any
) -> Harness:
    from fastapi import Depends, FastAPI

    from acadio_webhooks.receivers.fastapi import WebhookVerifier

    app = FastAPI()
    handled: list[ReceivedEvent] = []
    acadio_event = WebhookVerifier(secret, **options)

    @app.post(PATH)
    async def receive(event: ReceivedEvent = Depends(acadio_event)) -> dict[str, str]:
        handled.append(event)
        return {"received": event.id}

    return Harness(asgi_harness(app, nested=True), handled)


FACTORIES: dict[str, Factory] = {
    "django": django_sync,
    "django-async": django_async,
    "flask": flask_decorator,
    "flask-in-view": flask_in_view,
    "starlette": starlette_decorator,
    "starlette-in-endpoint": starlette_in_endpoint,
    "fastapi": fastapi_dependency,
}


def _reply(status: int, content: bytes, *, nested: bool) -> Reply:
    body = json.loads(content) if content else None
    refusal = None
    if status >= 400 and isinstance(body, dict):
        # FastAPI answers an HTTPException as {"detail": <its detail>}, its usual shape.
        refusal = body.get("detail") if nested else body
    return Reply(status, body, refusal)
