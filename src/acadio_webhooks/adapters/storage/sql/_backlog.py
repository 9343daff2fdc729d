"""The backlog gauges' read: pending deliveries through the due index, subscriptions by
state (:mod:`acadio_webhooks.domain.backlog`)."""

from __future__ import annotations

from datetime import datetime
from types import MappingProxyType
from typing import Any

from sqlalchemy import Connection, and_, bindparam, case, func, select

from acadio_webhooks.adapters.storage.sql.schema import (
    UtcDateTime,
    deliveries,
    integrations,
    subscriptions,
)
from acadio_webhooks.domain.backlog import SUBSCRIPTION_STATES, Backlog, subscription_state
from acadio_webhooks.domain.core import PAUSE_HORIZON
from acadio_webhooks.domain.models import DeliveryStatus

__all__ = ["read_backlog"]

_NOW = bindparam("b_now", type_=UtcDateTime)
_HORIZON = bindparam("b_horizon", type_=UtcDateTime)
_d, _s, _i = deliveries, subscriptions, integrations

_PAUSED = and_(_s.c.paused_until > _NOW, _s.c.paused_until <= _HORIZON)

# Subscriptions grouped by what decides their state; the domain names each group.
_DECIDING = (
    and_(_s.c.active, _i.c.active),
    _s.c.disabled_reason.is_not(None),
    _s.c.consecutive_failures > 0,
    _PAUSED,
)
_SUBSCRIPTION_GROUPS = (
    select(*_DECIDING, func.count())
    .select_from(_s.join(_i, _i.c.id == _s.c.integration_id))
    .group_by(*_DECIDING)
)

_LEASED = and_(_d.c.lease_expires_at.is_not(None), _d.c.lease_expires_at > _NOW)
_WAITING = and_(
    ~_LEASED,
    _d.c.next_attempt_at <= _NOW,
    # Not held back by a paused subscription (those wait for the pause's end).
    ~select(_s.c.id).where(_s.c.id == _d.c.subscription_id, _PAUSED).exists(),
)
_PENDING = select(
    func.count().label("pending"),
    func.coalesce(func.sum(case((_WAITING, 1), else_=0)), 0).label("due"),
    func.coalesce(func.sum(case((_LEASED, 1), else_=0)), 0).label("in_flight"),
    func.min(case((_WAITING, _d.c.next_attempt_at), else_=None)).label("oldest_due_at"),
).where(_d.c.status == DeliveryStatus.PENDING.value)


def read_backlog(conn: Connection, now: datetime) -> Backlog:
    """The :class:`~acadio_webhooks.domain.backlog.Backlog` at ``now``."""
    values: dict[str, Any] = {"b_now": now, "b_horizon": now + PAUSE_HORIZON}
    states = dict.fromkeys(SUBSCRIPTION_STATES, 0)
    for active, disabled, failing, paused, count in conn.execute(_SUBSCRIPTION_GROUPS, values):
        state = subscription_state(
            active=bool(active), disabled=bool(disabled), failing=bool(failing), paused=bool(paused)
        )
        states[state] += count
    found = conn.execute(_PENDING, values).one()
    return Backlog(
        pending=found.pending,
        due=int(found.due),
        in_flight=int(found.in_flight),
        oldest_due_at=found.oldest_due_at,
        subscriptions=MappingProxyType(states),
    )
