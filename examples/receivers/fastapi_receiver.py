"""A FastAPI app that receives acadio webhooks.

Run it with the integration's secret key in the environment::

    ACADIO_WEBHOOK_SECRET='the secret from the portal' uvicorn fastapi_receiver:app

Acadio then POSTs events to ``/webhooks/acadio``. The ``WebhookVerifier`` dependency checks
each request before the endpoint runs, on the raw body (``await request.body()``); so the
endpoint declares no pydantic body parameter, which would be re-parsed JSON, not the signed
bytes. A request that fails gets ``400 {"detail": {"error": <reason>, "detail": <message>}}``.
"""

from __future__ import annotations

import logging
import os
from typing import Annotated, Any

from fastapi import Depends, FastAPI

from acadio_webhooks import MemoryReplayGuard, ReceivedEvent
from acadio_webhooks.receivers.fastapi import WebhookVerifier

logger = logging.getLogger(__name__)
app = FastAPI()

# Remembers accepted messages so a captured request cannot be replayed within the tolerance.
# One per process: with several worker processes, use a shared store (see docs/receiving.md).
replay_guard = MemoryReplayGuard()


def webhook_secret() -> str:
    """Read on every request, so a rotated secret needs no restart. If it is empty, the
    dependency logs an error and answers 500, so Acadio retries once it is set."""
    return os.environ.get("ACADIO_WEBHOOK_SECRET", "")


AcadioEvent = Annotated[
    ReceivedEvent, Depends(WebhookVerifier(webhook_secret, replay_guard=replay_guard))
]


def handle(event: ReceivedEvent) -> None:
    """Your business logic. Acadio may deliver an event twice: skip ids already processed."""
    logger.info("acadio event %s %s for %s", event.id, event.topic, event.tenant)


@app.post("/webhooks/acadio")
async def receive_acadio_webhook(event: AcadioEvent) -> dict[str, Any]:
    handle(event)
    return {"received": event.id, "topic": event.topic, "data": event.data}
