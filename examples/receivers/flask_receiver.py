"""A Flask app that receives acadio webhooks.

Run it with the integration's secret key in the environment::

    ACADIO_WEBHOOK_SECRET='the secret from the portal' flask --app flask_receiver run

Acadio then POSTs events to ``/webhooks/acadio``. ``verify_webhook`` checks each request
before the view runs, on the raw body exactly as it arrived (never ``request.json``
re-serialised): a request that fails gets ``400 {"error": <reason>, "detail": <message>}``.
"""

from __future__ import annotations

import os

from flask import Flask, Response, jsonify

from acadio_webhooks import MemoryReplayGuard, ReceivedEvent
from acadio_webhooks.receivers.flask import verify_webhook

app = Flask(__name__)

# Remembers accepted messages so a captured request cannot be replayed within the tolerance.
# One per process: with several worker processes, use a shared store (see docs/receiving.md).
replay_guard = MemoryReplayGuard()


def webhook_secret() -> str:
    """Read on every request, so a rotated secret needs no restart. If it is empty, the
    helper logs an error and answers 500, so Acadio retries once it is set."""
    return os.environ.get("ACADIO_WEBHOOK_SECRET", "")


def handle(event: ReceivedEvent) -> None:
    """Your business logic. Acadio may deliver an event twice: skip ids already processed."""
    app.logger.info("acadio event %s %s for %s", event.id, event.topic, event.tenant)


@app.post("/webhooks/acadio")
@verify_webhook(webhook_secret, replay_guard=replay_guard)
def receive_acadio_webhook(event: ReceivedEvent) -> tuple[Response, int]:
    handle(event)
    return jsonify(received=event.id, topic=event.topic, data=event.data), 200
