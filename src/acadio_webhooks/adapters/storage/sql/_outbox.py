"""Writing the outbox: events and their deliveries, routed in the transaction that stores them.

Every statement here is :mod:`prepared <acadio_webhooks.adapters.storage.sql._prepared>`, so
the same functions run on a host's SQLAlchemy ``Connection`` (the transactional outbox) and
on the driver's cursor of the store's own transaction (every other emit), which is what
brings a single emit on SQLite close to the driver's own insert.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement

from acadio_webhooks.adapters.storage.sql import _codec
from acadio_webhooks.adapters.storage.sql._dialect import MYSQL, family, insert_ignoring_conflicts
from acadio_webhooks.adapters.storage.sql._prepared import Prepared, Target, prepared
from acadio_webhooks.adapters.storage.sql._queue import notify_due
from acadio_webhooks.adapters.storage.sql.schema import (
    deliveries,
    events,
    integrations,
    routing_revision,
    subscriptions,
)
from acadio_webhooks.domain import store_rules
from acadio_webhooks.domain.models import Delivery, Event
from acadio_webhooks.errors import StorageError
from acadio_webhooks.ports.storage import DeliveryPlanner, Route

__all__ = ["enqueue", "enqueue_routed", "revision_of", "routes_of"]

_REVISION = select(routing_revision.c.revision).where(routing_revision.c.id == 1)
_ROUTES = (
    select(
        integrations.c.tenant,
        subscriptions.c.id,
        subscriptions.c.integration_id,
        subscriptions.c.pattern,
    )
    .join(integrations, integrations.c.id == subscriptions.c.integration_id)
    .where(
        integrations.c.tenant.in_(bindparam("tenants", expanding=True)),
        integrations.c.active.is_(True),
        subscriptions.c.active.is_(True),
    )
    .order_by(subscriptions.c.created_at, subscriptions.c.id)
)
# Values per IN list (tenants whose routes are read, ids of a batch's keyed events): SQLite
# allows 32,766 bound values, but lists this long are rare.
_VALUES_PER_IN_LIST = 500
# The columns the codec's rows fill, in the order the inserts name them.
_EVENT_COLUMNS = (
    "id",
    "tenant",
    "topic",
    "created_at",
    "payload",
    "dedup_key",
    "subject",
    "trace_context",
)
_DELIVERY_COLUMNS = (
    "id",
    "event_id",
    "subscription_id",
    "integration_id",
    "tenant",
    "topic",
    "status",
    "attempts",
    "next_attempt_at",
    "last_status_code",
    "last_error",
    "created_at",
    "updated_at",
)


def enqueue(target: Target, dialect: Dialect, event: Event, batch: Sequence[Delivery]) -> bool:
    """Store ``event`` and its planned deliveries; False (nothing stored) for a dedup key
    stored already."""
    row = _codec.event_row(event)
    if event.dedup_key is None:
        _statement(dialect, "insert event").execute(target, row)
    elif not _inserted_keyed(target, dialect, row):
        return False
    _insert_deliveries(target, dialect, batch)
    return True


def enqueue_routed(
    target: Target, dialect: Dialect, batch: Sequence[Event], plan: DeliveryPlanner
) -> list[bool]:
    """Store ``batch`` with the deliveries ``plan`` makes at the routing revision read here;
    per event, whether it was stored (False: a dedup key suppressed it)."""
    firsts = store_rules.not_repeated_in_batch(batch)
    candidates = [event for event, first in zip(batch, firsts, strict=True) if first]
    if len(candidates) == 1 and family(dialect) != MYSQL:
        stored, planned = _insert_one_then_plan(target, dialect, candidates[0], plan)
    else:
        stored, planned = _plan_then_insert(target, dialect, candidates, plan)
    _insert_deliveries(
        target,
        dialect,
        [
            delivery
            for event, event_deliveries in zip(candidates, planned, strict=True)
            if event.id in stored
            for delivery in event_deliveries
        ],
    )
    return [first and event.id in stored for event, first in zip(batch, firsts, strict=True)]


def _inserted_keyed(target: Target, dialect: Dialect, row: dict[str, Any]) -> bool:
    """Insert one event with a dedup key; whether it was stored (False: the key was)."""
    if family(dialect) != MYSQL:
        return bool(_statement(dialect, "insert keyed event").fetch(target, row))
    # MySQL has no RETURNING (MariaDB's would also return the duplicate's row), and its
    # affected-row count cannot tell an insert from a duplicate under CLIENT_FOUND_ROWS: the
    # event's new id is in the table exactly when the event went in.
    _statement(dialect, "insert keyed events").execute(target, row)
    return bool(_statement(dialect, "stored ids").fetch(target, {"ids": [row["id"]]}))


def revision_of(target: Target, dialect: Dialect) -> int:
    """The routing revision as this transaction reads it."""
    rows = _statement(dialect, "revision").fetch(target, {})
    return _checked_revision(rows[0][0] if rows else None)


def routes_of(
    target: Target, dialect: Dialect, tenants: Collection[str]
) -> dict[str, tuple[Route, ...]]:
    """Each tenant's active subscriptions of active integrations, oldest first."""
    found: dict[str, list[Route]] = {tenant: [] for tenant in tenants}
    wanted = list(found)
    statement = _statement(dialect, "routes")
    for start in range(0, len(wanted), _VALUES_PER_IN_LIST):
        chunk = wanted[start : start + _VALUES_PER_IN_LIST]
        for tenant, *route in statement.fetch(target, {"tenants": chunk}):
            found[tenant].append(Route(*route))
    return {tenant: tuple(routes) for tenant, routes in found.items()}


def _checked_revision(value: int | None) -> int:
    if value is None:
        raise StorageError("the routing revision row is missing: run SqlStore.migrate()")
    return int(value)


class _RoutingView:
    """The routing table as one enqueueing transaction reads it."""

    def __init__(self, target: Target, dialect: Dialect, revision: int) -> None:
        self._target = target
        self._dialect = dialect
        self.revision = revision

    def routes(self, tenants: Collection[str]) -> dict[str, tuple[Route, ...]]:
        return routes_of(self._target, self._dialect, tenants)


def _insert_one_then_plan(
    target: Target, dialect: Dialect, event: Event, plan: DeliveryPlanner
) -> tuple[set[str], Sequence[Sequence[Delivery]]]:
    # One statement inserts the event and reads the routing revision (a single emit's usual
    # case): a statement fewer than reading it first, and none more when the event's dedup
    # key was stored already, since it then needs no routing at all.
    key = (
        "insert keyed event, revision" if event.dedup_key is not None else "insert event, revision"
    )
    inserted = _statement(dialect, key).fetch(target, _codec.event_row(event))
    if not inserted:
        return set(), [()]
    [(_, revision)] = inserted
    planned = plan(_RoutingView(target, dialect, _checked_revision(revision)), [event])
    store_rules.check_planned([event], planned)
    return {event.id}, planned


def _plan_then_insert(
    target: Target, dialect: Dialect, candidates: Sequence[Event], plan: DeliveryPlanner
) -> tuple[set[str], Sequence[Sequence[Delivery]]]:
    planned = plan(_RoutingView(target, dialect, revision_of(target, dialect)), candidates)
    store_rules.check_planned(candidates, planned)
    plain = [e for e in candidates if e.dedup_key is None]
    keyed = [e for e in candidates if e.dedup_key is not None]
    stored = {e.id for e in plain}
    if plain:
        _statement(dialect, "insert event").execute_many(target, map(_codec.event_row, plain))
    if keyed:
        # Rows whose dedup key was stored already are skipped by the database, under its
        # unique index; the ids found afterwards are the events this batch stored (ids are
        # new, so no other transaction has them).
        _statement(dialect, "insert keyed events").execute_many(
            target, map(_codec.event_row, keyed)
        )
        ids = [e.id for e in keyed]
        for start in range(0, len(ids), _VALUES_PER_IN_LIST):
            chunk = ids[start : start + _VALUES_PER_IN_LIST]
            stored.update(
                i for (i,) in _statement(dialect, "stored ids").fetch(target, {"ids": chunk})
            )
    return stored, planned


def _insert_deliveries(target: Target, dialect: Dialect, planned: Sequence[Delivery]) -> None:
    if planned:
        _statement(dialect, "insert deliveries").execute_many(
            target, map(_codec.delivery_row, planned)
        )
        notify_due(target, dialect)


def _statement(dialect: Dialect, key: str) -> Prepared:
    return prepared(dialect, f"outbox: {key}", lambda d: _BUILDERS[key](d.name))


def _values(table: Any, columns: Sequence[str]) -> dict[str, Any]:
    return {name: bindparam(name, type_=table.c[name].type) for name in columns}


def _insert_event(dialect: str, *, keyed: bool) -> Any:
    if not keyed:
        return events.insert().values(_values(events, _EVENT_COLUMNS))
    # INSERT ... ON CONFLICT (tenant, dedup_key) DO NOTHING
    ignoring = insert_ignoring_conflicts(dialect, events, ["tenant", "dedup_key"])
    return ignoring.values(_values(events, _EVENT_COLUMNS))


def _with_revision(statement: Any) -> Any:
    return statement.returning(events.c.id, _REVISION.scalar_subquery().label("revision"))


_BUILDERS: dict[str, Callable[[str], ClauseElement]] = {
    "insert event": lambda dialect: _insert_event(dialect, keyed=False),
    "insert keyed event": lambda dialect: _insert_event(dialect, keyed=True).returning(events.c.id),
    "insert keyed events": lambda dialect: _insert_event(dialect, keyed=True),
    "insert event, revision": lambda dialect: _with_revision(_insert_event(dialect, keyed=False)),
    "insert keyed event, revision": lambda dialect: _with_revision(
        _insert_event(dialect, keyed=True)
    ),
    "stored ids": lambda dialect: select(events.c.id).where(
        events.c.id.in_(bindparam("ids", expanding=True))
    ),
    "insert deliveries": lambda dialect: deliveries.insert().values(
        _values(deliveries, _DELIVERY_COLUMNS)
    ),
    "revision": lambda dialect: _REVISION,
    "routes": lambda dialect: _ROUTES,
}
