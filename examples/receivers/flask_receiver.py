"""A Flask app that receives acadio webhooks.

Run it with the integration's secret key in the environment::

    ACADIO_WEBHOOK_SECRET='the secret from the portal' flask --app flask_receiver run

Acadio then POSTs events to ``/webhooks/acadio``. ``verify`` needs the raw body exactly as it
arrived: ``request.get_data()``, never ``request.json`` re-serialised.
"""

from __future__ import annotations

import os

from flask import Flask, Response, jsonify, request

from acadio_webhooks import (
    InvalidSecret,
    MemoryReplayGuard,
    ReceivedEvent,
    VerificationError,
    verify,
)

app = Flask(__name__)

# Remembers accepted messages so a captured request cannot be replayed within the tolerance.
# One per process: with several worker processes, use a shared store (see docs/receiving.md).
replay_guard = MemoryReplayGuard()


def handle(event: ReceivedEvent) -> None:
    """Your business logic. Acadio may deliver an event twice: skip ids already processed."""
    app.logger.info("acadio event %s %s for %s", event.id, event.topic, event.tenant)


@app.post("/webhooks/acadio")
def receive_acadio_webhook() -> tuple[Response, int]:
    try:
        event = verify(
            request.get_data(),
            request.headers,
            os.environ.get("ACADIO_WEBHOOK_SECRET", ""),
            replay_guard=replay_guard,
        )
    except InvalidSecret:
        # Our configuration is wrong, not the request: answer 5xx so Acadio retries later.
        app.logger.exception("ACADIO_WEBHOOK_SECRET is missing or empty")
        return jsonify(error="receiver_misconfigured"), 500
    except VerificationError as error:
        return jsonify(error=error.reason, detail=str(error)), 400
    handle(event)
    return jsonify(received=event.id, topic=event.topic, data=event.data), 200
