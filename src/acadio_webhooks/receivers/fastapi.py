"""FastAPI: a dependency that hands the endpoint a verified event.

::

    from fastapi import Depends, FastAPI
    from acadio_webhooks import ReceivedEvent
    from acadio_webhooks.receivers.fastapi import WebhookVerifier

    acadio_event = WebhookVerifier(lambda: os.environ["ACADIO_WEBHOOK_SECRET"])

    @app.post("/webhooks/acadio")
    async def receive_acadio_webhook(event: ReceivedEvent = Depends(acadio_event)):
        handle(event)
        return {"received": event.id}

Importing this module imports FastAPI (and Starlette); nothing else in acadio-webhooks does.
"""

# No `from __future__ import annotations` here: FastAPI reads the annotations of
# WebhookVerifier.__call__ at runtime, and older FastAPI releases cannot resolve string
# annotations on a callable instance.

from typing import Any

from fastapi import HTTPException, Request
from typing_extensions import Unpack

from acadio_webhooks.domain.verification import ReceivedEvent
from acadio_webhooks.errors import VerificationError
from acadio_webhooks.receivers._common import SecretSource, Verifier, VerifyOptions, rejection_for
from acadio_webhooks.receivers.starlette import _read_and_verify

__all__ = ["WebhookVerifier"]


class WebhookVerifier:
    """A FastAPI dependency returning the verified
    :class:`~acadio_webhooks.domain.verification.ReceivedEvent` of the request.

    It awaits ``request.body()`` (the raw bytes, so never declare a pydantic body parameter
    for this endpoint: that would be re-parsed JSON) and verifies it with ``request.headers``
    and ``secret``: a ``str``/``bytes``, a list of them during a rotation, or a function of no
    arguments returning either, called on every request (a rotation needs no restart).
    ``options`` are those of ``verify()``, checked once, here; with a ``replay_guard``,
    verification runs in a worker thread, as the guard may wait on a shared store.

    A request that fails verification never reaches the endpoint: the dependency raises
    ``HTTPException(400, detail={"error": reason, "detail": message})``, which FastAPI answers
    as ``{"detail": {"error": ..., "detail": ...}}``, its usual error shape. An unusable
    secret is logged and answered ``500`` with ``{"error": "receiver_misconfigured"}`` as
    the detail, so Acadio retries once the configuration is fixed.
    """

    def __init__(self, secret: SecretSource, **options: Unpack[VerifyOptions]) -> None:
        self._verifier = Verifier(secret, options)

    async def __call__(self, request: Request) -> ReceivedEvent[Any]:
        """Verify ``request``; FastAPI calls this once per request that depends on it."""
        try:
            return await _read_and_verify(request, self._verifier)
        except VerificationError as error:
            rejection = rejection_for(error)
            raise HTTPException(rejection.status_code, detail=rejection.body) from error
