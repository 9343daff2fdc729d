"""Starlette: verify the delivery before an endpoint runs, or inside it.

::

    from acadio_webhooks.receivers.starlette import verify_webhook

    @verify_webhook(lambda: os.environ["ACADIO_WEBHOOK_SECRET"])
    async def receive_acadio_webhook(request, event):
        handle(event)
        return JSONResponse({"received": event.id})

    app = Starlette(routes=[Route("/webhooks/acadio", receive_acadio_webhook, methods=["POST"])])

For FastAPI, use the dependency in :mod:`acadio_webhooks.receivers.fastapi`.
Importing this module imports Starlette; nothing else in acadio-webhooks does.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from typing_extensions import Unpack

from acadio_webhooks.domain.verification import ReceivedEvent
from acadio_webhooks.errors import VerificationError
from acadio_webhooks.receivers._common import SecretSource, Verifier, VerifyOptions, rejection_for

__all__ = ["rejection_response", "verified_event", "verify_webhook"]

Endpoint = Callable[[Request], Awaitable[Response]]
WebhookEndpoint = Callable[[Request, ReceivedEvent[Any]], Awaitable[Response]]


async def verified_event(
    request: Request, secret: SecretSource, **options: Unpack[VerifyOptions]
) -> ReceivedEvent[Any]:
    """The verified event of ``request``; raises
    :class:`~acadio_webhooks.errors.VerificationError` when it fails verification (answer
    with :func:`rejection_response`).

    Awaits ``request.body()`` (the raw bytes; Starlette keeps them, so the endpoint can read
    the body again) and verifies it with ``request.headers`` and ``secret`` (a ``str``/``bytes``,
    a list of them during a rotation, or a function of no arguments returning either, called
    now). ``options`` are those of ``verify()``; with a ``replay_guard``, verification runs in
    a worker thread, as the guard may wait on a shared store.
    """
    return await _read_and_verify(request, Verifier(secret, options))


def rejection_response(error: VerificationError) -> JSONResponse:
    """The answer to a failed verification: ``400 {"error": reason, "detail": message}``, or
    a logged ``500 {"error": "receiver_misconfigured"}`` when the receiver's secret is
    unusable (so Acadio retries once it is fixed)."""
    rejection = rejection_for(error)
    return JSONResponse(rejection.body, status_code=rejection.status_code)


def verify_webhook(
    secret: SecretSource, **options: Unpack[VerifyOptions]
) -> Callable[[WebhookEndpoint], Endpoint]:
    """Decorate an endpoint ``async def endpoint(request, event)`` so it runs only for
    verified deliveries; any other request gets :func:`rejection_response`.

    ``secret`` and ``options`` are as for :func:`verified_event`; the options are checked
    once, here. Route the endpoint with ``methods=["POST"]``.
    """
    verifier = Verifier(secret, options)

    def decorate(endpoint: WebhookEndpoint) -> Endpoint:
        @functools.wraps(endpoint)
        async def verified_endpoint(request: Request) -> Response:
            try:
                event = await _read_and_verify(request, verifier)
            except VerificationError as error:
                return rejection_response(error)
            return await endpoint(request, event)

        return verified_endpoint

    return decorate


async def _read_and_verify(request: Request, verifier: Verifier) -> ReceivedEvent[Any]:
    """Read the raw body and verify it; shared with the FastAPI dependency."""
    body = await request.body()
    if verifier.may_block:
        return await run_in_threadpool(verifier.verify, body, request.headers)
    return verifier.verify(body, request.headers)
