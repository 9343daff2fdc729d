"""Rules every store applies the same way: cursors, target checks, health folding, due times.

Pure functions over the domain's models, kept in the domain so that the memory and SQL stores
(and a store of your own) cannot drift apart on the contract's details.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from acadio_webhooks.domain._quick_init import quick_init
from acadio_webhooks.domain.ids import new_id
from acadio_webhooks.domain.messages import Settlement
from acadio_webhooks.domain.models import Delivery, Event

__all__ = [
    "encode_cursor",
    "decode_cursor",
    "require_target",
    "due_time",
    "HealthChange",
    "fold_health",
    "later",
    "check_batch",
    "not_repeated_in_batch",
    "check_planned",
    "check_prune",
    "check_erase",
    "fresh_delivery",
    "LEASE_KEY_LENGTH",
    "check_lease",
]

LEASE_KEY_LENGTH = 255
"""The longest lease name or owner a store accepts (the SQL columns' width)."""


def encode_cursor(created_at: datetime, delivery_id: str) -> str:
    """An opaque, URL-safe position after ``(created_at, delivery_id)`` in a newest-first list."""
    raw = f"{created_at.astimezone(timezone.utc).isoformat()}|{delivery_id}".encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The position :func:`encode_cursor` wrote; ``ValueError`` for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, _, delivery_id = raw.partition("|")
        created_at = datetime.fromisoformat(stamp)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise ValueError("invalid delivery list cursor") from exc
    if not delivery_id or created_at.tzinfo is None:
        raise ValueError("invalid delivery list cursor")
    return created_at.astimezone(timezone.utc), delivery_id


def require_target(integration_id: str | None, subscription_id: str | None) -> None:
    """``cancel_pending`` needs an integration or a subscription: never "everything"."""
    if integration_id is None and subscription_id is None:
        raise TypeError("cancel_pending() needs integration_id or subscription_id")


def due_time(delivery: Delivery) -> datetime:
    """When a stored pending delivery is due: its ``next_attempt_at``, else its creation."""
    return delivery.next_attempt_at or delivery.created_at


def check_batch(event_id: str, deliveries: Sequence[Delivery]) -> None:
    """Deliveries given to ``enqueue`` must belong to its event and have distinct ids."""
    if any(d.event_id != event_id for d in deliveries):
        raise ValueError(f"every delivery enqueued with event {event_id!r} must name it")
    if len({d.id for d in deliveries}) != len(deliveries):
        raise ValueError("deliveries enqueued together must have distinct ids")


def not_repeated_in_batch(events: Sequence[Event]) -> list[bool]:
    """Per event of a batch, whether it may be stored: False when an earlier event of the
    batch has its ``(tenant, dedup_key)``, as enqueueing them one by one would decide."""
    keys: set[tuple[str, str]] = set()
    firsts: list[bool] = []
    for event in events:
        if event.dedup_key is None:
            firsts.append(True)
            continue
        key = (event.tenant, event.dedup_key)
        firsts.append(key not in keys)
        keys.add(key)
    return firsts


def check_planned(events: Sequence[Event], planned: Sequence[Sequence[Delivery]]) -> None:
    """A delivery planner must return one sequence per event, of deliveries naming their
    event, with ids distinct across the whole batch."""
    if len(planned) != len(events):
        raise ValueError(
            f"the delivery planner returned {len(planned)} delivery lists for {len(events)} events"
        )
    ids: set[str] = set()
    count = 0
    for event, batch in zip(events, planned, strict=True):
        event_id = event.id
        for delivery in batch:
            if delivery.event_id != event_id:
                raise ValueError(f"every delivery enqueued with event {event_id!r} must name it")
            ids.add(delivery.id)
        count += len(batch)
    if len(ids) != count:
        raise ValueError("deliveries enqueued together must have distinct ids")


@quick_init
@dataclass(frozen=True)
class HealthChange:
    """What a batch of attempts does to one subscription's failure counters.

    ``reset`` True: the batch had a success, so the counters become exactly ``failures`` and
    ``failing_since`` (the failures after the last success) and the pause ``paused_until``.
    ``reset`` False: add ``failures``, keep an existing ``failing_since``, else take this one,
    and pause until the later of the stored ``paused_until`` and this one.
    """

    subscription_id: str
    reset: bool
    failures: int
    failing_since: datetime | None
    paused_until: datetime | None = None


def fold_health(settlements: Sequence[Settlement]) -> list[HealthChange]:
    """Fold attempts, in batch order, into one counter change per subscription."""
    changes: dict[str, HealthChange] = {}
    for settlement in settlements:
        sub_id = settlement.item.subscription_id
        previous = changes.get(sub_id, HealthChange(sub_id, False, 0, None))
        if settlement.succeeded:
            changes[sub_id] = HealthChange(sub_id, True, 0, None)
        else:
            since = previous.failing_since or settlement.attempt.started_at
            paused = later(previous.paused_until, settlement.pause_until)
            changes[sub_id] = HealthChange(
                sub_id, previous.reset, previous.failures + 1, since, paused
            )
    return list(changes.values())


def later(first: datetime | None, second: datetime | None) -> datetime | None:
    """The later of two optional times (None when both are)."""
    if first is None or second is None:
        return first or second
    return max(first, second)


def check_prune(before: datetime, limit: int) -> None:
    """``Store.prune``'s arguments, refused before any transaction begins."""
    if before.utcoffset() is None:
        raise ValueError(f"before must be a timezone-aware datetime, not {before!r}")
    if limit < 1:
        raise ValueError(f"limit must be a positive integer, not {limit!r}")


def check_erase(subject: object, tenant: object, limit: int) -> None:
    """``Store.erase``'s arguments, refused before any transaction begins (``object``: an
    id passed as a number must get this error, not match nothing)."""
    if (subject is None) == (tenant is None):
        raise ValueError("erase needs exactly one of subject= or tenant=")
    for name, value in (("subject", subject), ("tenant", tenant)):
        if value is not None and (not isinstance(value, str) or not value):
            raise ValueError(f"{name} must be a non-empty string")
    if limit < 1:
        raise ValueError(f"limit must be a positive integer, not {limit!r}")


def fresh_delivery(old: Delivery, now: datetime) -> Delivery:
    """``resend``: a new pending delivery of the same event to the same subscription, due now,
    with a fresh attempt budget."""
    return Delivery(
        id=new_id("dlv"),
        event_id=old.event_id,
        subscription_id=old.subscription_id,
        integration_id=old.integration_id,
        tenant=old.tenant,
        topic=old.topic,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )


def check_lease(
    name: str, owner: str, *, now: datetime | None = None, ttl: timedelta | None = None
) -> None:
    """``acquire_lease`` / ``release_lease`` arguments every store refuses alike."""
    for what, value in (("name", name), ("owner", owner)):
        if not value:
            raise ValueError(f"the lease {what} must be a non-empty string")
        if len(value) > LEASE_KEY_LENGTH:
            raise ValueError(
                f"the lease {what} is {len(value)} characters long; at most {LEASE_KEY_LENGTH} fit"
            )
    if now is not None and now.tzinfo is None:
        raise ValueError("the lease's now must be a timezone-aware datetime")
    if ttl is not None and ttl <= timedelta(0):
        raise ValueError(f"the lease ttl must be positive, not {ttl}")
