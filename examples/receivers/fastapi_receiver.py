"""A FastAPI app that receives acadio webhooks.

Run it with the integration's secret key in the environment::

    ACADIO_WEBHOOK_SECRET='the secret from the portal' uvicorn fastapi_receiver:app

Acadio then POSTs events to ``/webhooks/acadio``. ``verify`` needs the raw body exactly as it
arrived, so the view takes the ``Request`` and awaits ``request.body()`` instead of declaring a
pydantic body parameter (which would hand over re-parsed JSON, not the signed bytes).
"""

from __future__ import annotations

import logging
import os

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from acadio_webhooks import (
    InvalidSecret,
    MemoryReplayGuard,
    ReceivedEvent,
    VerificationError,
    verify,
)

logger = logging.getLogger(__name__)
app = FastAPI()

# Remembers accepted messages so a captured request cannot be replayed within the tolerance.
# One per process: with several worker processes, use a shared store (see docs/receiving.md).
replay_guard = MemoryReplayGuard()


def handle(event: ReceivedEvent) -> None:
    """Your business logic. Acadio may deliver an event twice: skip ids already processed."""
    logger.info("acadio event %s %s for %s", event.id, event.topic, event.tenant)


@app.post("/webhooks/acadio")
async def receive_acadio_webhook(request: Request) -> JSONResponse:
    body = await request.body()
    try:
        # verify() is pure CPU work on an in-memory body: fine to call in an async view.
        event = verify(
            body,
            request.headers,
            os.environ.get("ACADIO_WEBHOOK_SECRET", ""),
            replay_guard=replay_guard,
        )
    except InvalidSecret:
        # Our configuration is wrong, not the request: answer 5xx so Acadio retries later.
        logger.exception("ACADIO_WEBHOOK_SECRET is missing or empty")
        return JSONResponse({"error": "receiver_misconfigured"}, status_code=500)
    except VerificationError as error:
        return JSONResponse({"error": error.reason, "detail": str(error)}, status_code=400)
    handle(event)
    return JSONResponse({"received": event.id, "topic": event.topic, "data": event.data})
