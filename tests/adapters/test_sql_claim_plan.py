"""A claim on PostgreSQL reads the due index in order, whatever the statistics say.

Statistics that predate a burst (a store never analysed yet; a large one analysed while
nearly everything was delivered) make the planner expect a handful of due rows; for a
burst of 10,000 it then joined the whole backlog with its payloads and sorted it, on every
claim, until autovacuum analysed the table again: 85 ms per claim of 50, against 0.3 ms in
index order. The claim's transaction rules sorting out (``_queue._CLAIM_SETTINGS``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from acadio_webhooks.adapters.storage.sql import SqlStore
from acadio_webhooks.dispatcher import Dispatcher, NewEvent
from acadio_webhooks.domain.endpoints import EndpointPolicy
from tests.services import postgres_database

DUE_INDEX = "ix_acadio_deliveries_status_next_attempt_at_id"


@pytest.mark.services
def test_a_burst_into_a_table_never_analysed_is_claimed_in_index_order() -> None:
    # Without the claim's settings, PostgreSQL 15 chose here a bitmap scan of the whole
    # backlog, joined and sorted (the plan is checked, not the time it takes).
    with (
        postgres_database("acadio_claim_plan") as url,
        Dispatcher(url, endpoint_policy=EndpointPolicy(allow_insecure=True)) as dispatcher,
    ):
        owner = dispatcher.integrations.install("acme", secret="whsec-plan-0123456789")
        dispatcher.integrations.subscribe(owner.id, "course/*", "http://127.0.0.1:9/hook")
        event_ids = dispatcher.emit_many(
            NewEvent("course/completion/create", {"n": n, "pad": "x" * 1000}, tenant="acme")
            for n in range(10_000)
        )
        store = dispatcher.store
        assert isinstance(store, SqlStore)
        plans = _claim_plans(store.engine)
        items = store.claim(
            now=dispatcher.clock.now(), limit=50, owner="claimer", lease=timedelta(minutes=5)
        )
    assert sorted(item.event_id for item in items) == sorted(map(str, event_ids[:50]))
    assert len(plans) == 1, plans
    assert DUE_INDEX in plans[0]
    assert "Sort" not in plans[0], plans[0]


def _claim_plans(engine: sa.Engine) -> list[str]:
    """Plans of the claim's due-window statements, explained on the claim's own connection
    inside its transaction (so under the settings the claim made), as they run."""
    plans: list[str] = []

    def explain(conn: sa.Connection, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.startswith("SELECT") and "FOR UPDATE OF acadio_deliveries" in statement:
            rows = cursor.connection.execute(f"EXPLAIN {statement}", parameters).fetchall()
            plans.append("\n".join(row[0] for row in rows))

    sa.event.listen(engine, "before_cursor_execute", explain)
    return plans
