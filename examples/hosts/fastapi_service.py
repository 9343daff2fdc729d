"""A FastAPI service whose completions and webhooks commit in one async transaction.

* The LMS keeps its own rows with SQLAlchemy's asyncio engine (aiosqlite here; asyncpg or
  psycopg on PostgreSQL). The webhook tables live in the same database: the
  :class:`~acadio_webhooks.AsyncDispatcher` is given the very same URL.
* ``course/completion/create`` is a typed topic: its data is a pydantic model, so ``emit``
  refuses a payload that does not fit it, and ``acadio-webhooks topics --openapi
  --catalog fastapi_service:CATALOG`` publishes its schema to receivers.
* ``POST /schools/{school}/completions`` inserts the completion and emits its event on the
  request's ``AsyncConnection``: both commit together, or (``?dry_run=true``, or any error)
  roll back together, so a receiver never hears of a completion the LMS does not have.
* The lifespan runs a delivery worker task on the service's event loop and stops it
  gracefully at shutdown.

Run it (local development; ``WEBHOOKS_INSECURE=1`` accepts ``http://`` endpoints)::

    pip install 'acadio-webhooks[asyncio]' aiosqlite fastapi uvicorn
    WEBHOOKS_INSECURE=1 uvicorn --app-dir examples/hosts --factory fastapi_service:create_app
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel, Field
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, UniqueConstraint, func
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from acadio_webhooks import TOPICS, AsyncDispatcher, EndpointPolicy

COMPLETION = "course/completion/create"


class CourseCompletion(BaseModel):
    """What every ``course/completion/create`` event carries as ``data``."""

    completion_id: int
    course_id: int
    student_id: int
    score: float | None = Field(default=None, ge=0, le=1)


CATALOG = TOPICS.copy()
CATALOG.attach_schema(COMPLETION, CourseCompletion)

tables = MetaData()
completions = Table(
    "lms_completions",
    tables,
    Column("id", Integer, primary_key=True),
    Column("school", String(64), nullable=False),
    Column("course_id", Integer, nullable=False),
    Column("student_id", Integer, nullable=False),
    Column("score", String(16)),
    Column("completed_at", DateTime(timezone=True), server_default=func.now()),
    UniqueConstraint("school", "course_id", "student_id"),
)


class CompletionIn(BaseModel):
    """The request body."""

    course_id: int
    student_id: int
    score: float | None = Field(default=None, ge=0, le=1)


class CompletionOut(BaseModel):
    """The response: the stored completion and its event (None for a dry run's)."""

    completion_id: int
    event_id: str | None
    dry_run: bool


def create_app(database_url: str | None = None, *, allow_insecure: bool | None = None) -> FastAPI:
    """The application; its arguments default to ``LMS_DATABASE_URL`` and
    ``WEBHOOKS_INSECURE=1``."""
    url = database_url or os.environ.get("LMS_DATABASE_URL", "sqlite+aiosqlite:///lms.db")
    insecure = (
        os.environ.get("WEBHOOKS_INSECURE") == "1" if allow_insecure is None else allow_insecure
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            await conn.run_sync(tables.create_all)
        dispatcher = AsyncDispatcher(
            url, catalog=CATALOG, endpoint_policy=EndpointPolicy(allow_insecure=insecure)
        )
        stop = asyncio.Event()
        worker = asyncio.create_task(dispatcher.run_worker(stop), name="webhooks-worker")
        app.state.engine, app.state.webhooks = engine, dispatcher
        try:
            yield
        finally:
            stop.set()  # graceful: in-flight attempts finish and are recorded
            await worker
            await dispatcher.aclose()
            await engine.dispose()

    app = FastAPI(title="LMS with webhooks", lifespan=lifespan)

    @app.post("/schools/{school}/completions", status_code=201)
    async def complete_course(
        school: str, body: CompletionIn, request: Request, dry_run: bool = False
    ) -> CompletionOut:
        engine: AsyncEngine = request.app.state.engine
        dispatcher: AsyncDispatcher = request.app.state.webhooks
        async with engine.connect() as conn:
            try:
                async with conn.begin() as transaction:
                    inserted = await conn.execute(
                        completions.insert().values(
                            school=school,
                            course_id=body.course_id,
                            student_id=body.student_id,
                            score=None if body.score is None else str(body.score),
                        )
                    )
                    completion_id = inserted.inserted_primary_key[0]
                    event_id = await dispatcher.emit(
                        COMPLETION,
                        CourseCompletion(completion_id=completion_id, **body.model_dump()),
                        tenant=school,
                        connection=conn,
                    )
                    if dry_run:
                        # Everything was checked and written; undo all of it, event included.
                        await transaction.rollback()
                        return CompletionOut(
                            completion_id=completion_id, event_id=None, dry_run=True
                        )
            except IntegrityError:
                raise HTTPException(409, "this student has completed this course already") from None
        return CompletionOut(completion_id=completion_id, event_id=event_id, dry_run=False)

    return app
