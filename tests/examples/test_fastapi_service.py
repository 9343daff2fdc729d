"""``examples/hosts/fastapi_service.py``: emit from a route, deliver from the lifespan's worker."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from acadio_webhooks import DeliveryStatus, Dispatcher

from tests.examples.conftest import load_example
from tests.loopback import loopback_receiver, wait_until

SECRET = "fastapi-secret-0123456789"
service = load_example("fastapi_service")


def test_a_route_emits_and_the_lifespan_worker_delivers(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'webhooks.db'}"
    app = service.create_app(db, allow_insecure=True)
    with loopback_receiver(SECRET) as receiver:
        with TestClient(app) as client:
            hooks = app.state.webhooks.integrations
            integration = hooks.install("tenant-1", secret=SECRET)
            hooks.subscribe(integration.id, "course/*", receiver.url())

            response = client.post(
                "/courses/7/completions", json={"tenant": "tenant-1", "student_id": 3}
            )
            assert response.status_code == 201
            event_id = response.json()["event_id"]
            wait_until(lambda: len(receiver.received) == 1, what="the delivery")
        # Leaving the client ran the lifespan's shutdown: the worker stopped, the store closed.
        [received] = receiver.received
    assert received.verified
    assert received.event_id == event_id
    assert received.data == {"course_id": 7, "student_id": 3}
    with Dispatcher(db) as dispatcher:
        [delivery] = dispatcher.deliveries(event_id=event_id).items
        assert delivery.status is DeliveryStatus.DELIVERED

