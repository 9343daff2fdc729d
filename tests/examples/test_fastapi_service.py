"""``examples/hosts/fastapi_service.py``: emit from a route, deliver from the lifespan's worker.

The service runs under uvicorn on 127.0.0.1, as in production, so its lifespan (start the
worker task, then stop it gracefully and close the dispatcher) really runs.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from acadio_webhooks import DeliveryStatus, Dispatcher
from tests.examples.conftest import load_example
from tests.loopback import loopback_receiver, wait_until

SECRET = "fastapi-secret-0123456789"
service = load_example("fastapi_service")


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Run ``app`` under uvicorn in a thread; yield its base URL; shut down (lifespan) after."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, what="uvicorn to start")
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=60)
    assert not thread.is_alive(), "the service did not shut down"


def test_a_route_emits_and_the_lifespan_worker_delivers(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'webhooks.db'}"
    app = service.create_app(db, allow_insecure=True)
    with loopback_receiver(SECRET) as receiver:
        with serving(app) as base_url:
            hooks = app.state.webhooks.integrations
            integration = hooks.install("tenant-1", secret=SECRET)
            hooks.subscribe(integration.id, "course/*", receiver.url())

            response = httpx.post(
                f"{base_url}/courses/7/completions",
                json={"tenant": "tenant-1", "student_id": 3},
                timeout=30,
            )
            assert response.status_code == 201
            event_id = response.json()["event_id"]
            wait_until(lambda: len(receiver.received) == 1, what="the delivery")
        [received] = receiver.received
    assert received.verified
    assert received.event_id == event_id
    assert received.data == {"course_id": 7, "student_id": 3}
    with Dispatcher(db) as dispatcher:
        [delivery] = dispatcher.deliveries(event_id=event_id).items
        assert delivery.status is DeliveryStatus.DELIVERED
