"""The transactional outbox: an event commits or rolls back with the host's own data.

The LMS records a course completion in its own table and emits the webhook event **in the
same SQLAlchemy transaction** (``emit(..., connection=conn)``). The event and its deliveries
are rows in the same database, written through the host's connection:

* the transaction commits -> the completion and the event are both stored, and a worker
  delivers the event (at least once, even if this process dies right after the commit);
* the transaction rolls back -> neither exists, and nothing is ever sent.

There is no window in which the completion is saved but the event is lost, or the event is
sent for a completion that was rolled back. The webhooks tables live beside the host's tables
(the store creates them on open), so both must be in one database.

Run it: ``python examples/hosts/sqlalchemy_outbox.py [path/to/lms.db]``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import sqlalchemy as sa

from acadio_webhooks import Dispatcher, EndpointPolicy

metadata = sa.MetaData()

# The host's own table: nothing to do with webhooks.
completions = sa.Table(
    "course_completions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("tenant", sa.String(255), nullable=False),
    sa.Column("student_id", sa.Integer, nullable=False),
    sa.Column("course_id", sa.Integer, nullable=False),
)


def open_lms(database_url: str, *, allow_insecure: bool = False) -> tuple[sa.Engine, Dispatcher]:
    """The host's engine and a dispatcher on the same database.

    ``allow_insecure`` lets endpoints be ``http://`` or loopback: local development only.
    """
    engine = sa.create_engine(database_url)
    metadata.create_all(engine)
    dispatcher = Dispatcher(
        database_url, endpoint_policy=EndpointPolicy(allow_insecure=allow_insecure)
    )
    return engine, dispatcher


def record_completion(
    engine: sa.Engine,
    dispatcher: Dispatcher,
    *,
    tenant: str,
    student_id: int,
    course_id: int,
    fail_after_emit: bool = False,
) -> str | None:
    """Store a completion and its webhook event atomically; return the event id.

    ``fail_after_emit`` simulates the host failing later in the same transaction (a
    constraint, a crash in its own code): everything rolls back, the event included.
    """
    with engine.begin() as conn:
        conn.execute(
            completions.insert().values(tenant=tenant, student_id=student_id, course_id=course_id)
        )
        event_id = dispatcher.emit(
            "course/completion/create",
            {"student_id": student_id, "course_id": course_id},
            tenant=tenant,
            connection=conn,  # join the host's transaction: commit or roll back together
        )
        if fail_after_emit:
            raise RuntimeError("the host's transaction failed after emit")
    return event_id


def main(database: Path) -> None:
    # allow_insecure: a local http:// receiver is fine here; production keeps the default.
    engine, dispatcher = open_lms(f"sqlite:///{database}", allow_insecure=True)
    with dispatcher:
        integration = dispatcher.integrations.install("tenant-42", secret="s3cret-key-16-chars+")
        dispatcher.integrations.subscribe(
            integration.id, "course/completion/*", "http://127.0.0.1:8000/hooks"
        )
        committed = record_completion(
            engine, dispatcher, tenant="tenant-42", student_id=3, course_id=7
        )
        print("committed: event", committed)
        try:
            record_completion(
                engine,
                dispatcher,
                tenant="tenant-42",
                student_id=4,
                course_id=7,
                fail_after_emit=True,
            )
        except RuntimeError as exc:
            print("rolled back:", exc)
        with engine.connect() as conn:
            rows = conn.execute(sa.select(sa.func.count()).select_from(completions)).scalar_one()
        queued = dispatcher.deliveries(tenant="tenant-42").items
        print(f"{rows} completion stored; {len(queued)} delivery queued for a worker")
    engine.dispose()


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as folder:
            main(Path(folder) / "lms.db")
