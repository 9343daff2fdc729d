"""A FastAPI service that emits webhooks and delivers them from a worker task in its lifespan.

* One :class:`~acadio_webhooks.AsyncDispatcher` for the application, closed at shutdown.
* The lifespan starts a delivery worker as an asyncio task (``run_worker``) on the service's
  own event loop; emits from request handlers wake it at once. At shutdown the worker is
  asked to stop, finishes the attempts in flight, gives back the rest, and the dispatcher
  closes. (Several service processes may each run a worker against PostgreSQL; or run no
  worker here and ``acadio-webhooks worker`` processes instead.)
* ``POST /courses/{course_id}/completions`` records a completion and emits
  ``course/completion/create``; ``emit`` returns once the event and its deliveries are
  stored, so the response never waits for the receivers.

Run it (local development; ``allow_insecure`` accepts ``http://`` endpoints)::

    WEBHOOKS_INSECURE=1 uvicorn --app-dir examples/hosts --factory fastapi_service:create_app
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from pydantic import BaseModel

from acadio_webhooks import AsyncDispatcher, EndpointPolicy


class Completion(BaseModel):
    """The request body of a completion."""

    tenant: str
    student_id: int


class Emitted(BaseModel):
    """The response: the id of the stored event (None if a duplicate was dropped)."""

    event_id: str | None


def create_app(database_url: str | None = None, *, allow_insecure: bool | None = None) -> FastAPI:
    """The application; its arguments default to ``WEBHOOKS_DB`` and ``WEBHOOKS_INSECURE=1``."""
    url = database_url or os.environ.get("WEBHOOKS_DB", "sqlite:///webhooks.db")
    insecure = (
        os.environ.get("WEBHOOKS_INSECURE") == "1" if allow_insecure is None else allow_insecure
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        dispatcher = AsyncDispatcher(url, endpoint_policy=EndpointPolicy(allow_insecure=insecure))
        stop = asyncio.Event()
        worker = asyncio.create_task(dispatcher.run_worker(stop), name="webhooks-worker")
        app.state.webhooks = dispatcher
        try:
            yield
        finally:
            stop.set()  # graceful: in-flight attempts finish and are recorded
            await worker
            await dispatcher.aclose()

    app = FastAPI(title="LMS with webhooks", lifespan=lifespan)

    @app.post("/courses/{course_id}/completions", status_code=201)
    async def complete_course(course_id: int, completion: Completion, request: Request) -> Emitted:
        dispatcher: AsyncDispatcher = request.app.state.webhooks
        # ... the LMS stores the completion in its own database here ...
        event_id = await dispatcher.emit(
            "course/completion/create",
            {"course_id": course_id, "student_id": completion.student_id},
            tenant=completion.tenant,
        )
        return Emitted(event_id=event_id)

    return app
