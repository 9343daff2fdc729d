"""Starlette and FastAPI specifics: the endpoint can still read the body, a replay guard is
consulted off the event loop, and FastAPI refusals take FastAPI's usual error shape."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI, Request
from starlette.applications import Starlette
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from acadio_webhooks import MemoryReplayGuard, ReceivedEvent
from acadio_webhooks.receivers.fastapi import WebhookVerifier
from acadio_webhooks.receivers.starlette import verify_webhook
from acadio_webhooks.testing import signed_request

SECRET = "s3cret-from-the-acadio-portal"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def delivery() -> tuple[bytes, dict[str, str]]:
    return signed_request({"course_id": 7}, SECRET, topic="course/completion/create", tenant="t")


async def post(app: Any, body: bytes, headers: dict[str, str]) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await client.post("/hook", content=body, headers=headers)


class ThreadRecordingGuard(MemoryReplayGuard):
    def __init__(self) -> None:
        super().__init__()
        self.threads: list[int] = []

    def seen(self, key: str, expires_at: float) -> bool:
        self.threads.append(threading.get_ident())
        return super().seen(key, expires_at)


def starlette_app(guard: MemoryReplayGuard | None = None) -> Starlette:
    @verify_webhook(SECRET, replay_guard=guard)
    async def receive(request: Request, event: ReceivedEvent) -> Response:
        return JSONResponse(
            {"same_bytes": await request.body() == event.raw, "loop": threading.get_ident()}
        )

    return Starlette(routes=[Route("/hook", receive, methods=["POST"])])


def fastapi_app(guard: MemoryReplayGuard | None = None) -> FastAPI:
    app = FastAPI()
    acadio_event = WebhookVerifier(SECRET, replay_guard=guard)

    @app.post("/hook")
    async def receive(request: Request, event: ReceivedEvent = Depends(acadio_event)) -> Any:
        return {"same_bytes": await request.body() == event.raw, "loop": threading.get_ident()}

    return app


APPS = {"starlette": starlette_app, "fastapi": fastapi_app}


@pytest.mark.anyio
@pytest.mark.parametrize("framework", sorted(APPS))
async def test_the_endpoint_can_read_the_raw_body_again(framework: str) -> None:
    response = await post(APPS[framework](), *delivery())

    assert response.json()["same_bytes"] is True


@pytest.mark.anyio
@pytest.mark.parametrize("framework", sorted(APPS))
async def test_a_replay_guard_is_consulted_off_the_event_loop(framework: str) -> None:
    guard = ThreadRecordingGuard()
    app = APPS[framework](guard)
    body, headers = delivery()

    response = await post(app, body, headers)

    assert response.status_code == 200
    assert guard.threads
    assert response.json()["loop"] not in guard.threads
    assert (await post(app, body, headers)).status_code == 400


@pytest.mark.anyio
async def test_fastapi_refuses_with_its_usual_detail_shape() -> None:
    body, headers = delivery()

    response = await post(fastapi_app(), body + b" ", headers)

    assert response.status_code == 400
    (refusal,) = response.json().values()
    assert response.json() == {"detail": refusal}
    assert set(refusal) == {"error", "detail"}
    assert refusal["error"] == "bad_signature"
    assert "webhook-signature" in refusal["detail"]


def test_the_fastapi_dependency_declares_no_request_body() -> None:
    # A pydantic body parameter would hand the endpoint re-parsed JSON: there must be none.
    operation = fastapi_app().openapi()["paths"]["/hook"]["post"]

    assert "requestBody" not in operation
