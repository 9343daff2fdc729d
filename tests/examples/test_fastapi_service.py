"""``examples/hosts/fastapi_service.py``: a route writes a completion and emits its event in one
``AsyncConnection`` transaction (SQLite through aiosqlite, PostgreSQL through asyncpg); the
lifespan's worker delivers it, signed. A dry run and a refused duplicate send nothing.

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
import pytest
import uvicorn
from sqlalchemy.engine import make_url

from acadio_webhooks import DeliveryStatus, Dispatcher, SqlStore
from tests.adapters.sql_helpers import wipe
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


@pytest.fixture(
    params=["sqlite+aiosqlite", pytest.param("postgresql+asyncpg", marks=pytest.mark.services)]
)
def lms_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The LMS's async database URL; the webhook tables live in the same database."""
    if request.param.startswith("sqlite"):
        yield f"sqlite+aiosqlite:///{tmp_path / 'lms.db'}"
        return
    sync_url = request.getfixturevalue("postgres_url")
    store = SqlStore(sync_url)
    wipe(store)
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS lms_completions")
    store.close()
    yield (
        make_url(sync_url)
        .set(drivername="postgresql+asyncpg")
        .render_as_string(hide_password=False)
    )


def test_a_completion_and_its_event_commit_or_roll_back_together(lms_url: str) -> None:
    app = service.create_app(lms_url, allow_insecure=True)
    with loopback_receiver(SECRET) as receiver:
        with serving(app) as base_url:
            hooks = app.state.webhooks.integrations
            integration = hooks.install("school-1", secret=SECRET)
            hooks.subscribe(integration.id, "course/*", receiver.url())
            completions = f"{base_url}/schools/school-1/completions"

            tried = httpx.post(
                f"{completions}?dry_run=true", json={"course_id": 7, "student_id": 3}, timeout=30
            )
            assert tried.status_code == 201
            assert tried.json()["dry_run"] is True
            done = httpx.post(
                completions, json={"course_id": 7, "student_id": 3, "score": 0.8}, timeout=30
            )
            assert done.status_code == 201
            again = httpx.post(completions, json={"course_id": 7, "student_id": 3}, timeout=30)
            assert again.status_code == 409
            wait_until(lambda: len(receiver.received) >= 1, what="the delivery")
        [received] = receiver.received
    assert received.verified
    assert received.event_id == done.json()["event_id"]
    assert received.data == {
        "completion_id": done.json()["completion_id"],
        "course_id": 7,
        "student_id": 3,
        "score": 0.8,
    }
    with Dispatcher(lms_url) as dispatcher:
        [delivery] = dispatcher.deliveries().items
        assert delivery.status is DeliveryStatus.DELIVERED
        assert delivery.event_id == received.event_id
