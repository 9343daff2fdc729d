"""Small factories for store records, so tests state only what they are about."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from acadio_webhooks.domain.ids import new_id
from acadio_webhooks.domain.messages import (
    Notification,
    NotificationKind,
    Settlement,
    WorkItem,
)
from acadio_webhooks.domain.models import (
    Attempt,
    Delivery,
    DeliveryStatus,
    Event,
    Integration,
    SigningSecret,
    Subscription,
)
from acadio_webhooks.ports.storage import Store

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
SECRET = "whsec-never-show-this-0123456789"
LEASE = timedelta(seconds=30)


def at(seconds: float) -> datetime:
    """``T0`` plus ``seconds``: tests move time explicitly."""
    return T0 + timedelta(seconds=seconds)


def integration(tenant: str = "acme", *, created: float = 0, **changes: object) -> Integration:
    fields: dict[str, object] = {
        "tenant": tenant,
        "secrets": (SigningSecret(value=SECRET, created_at=at(created)),),
        "notification_email": "ops@example.com",
        "created_at": at(created),
        "updated_at": at(created),
    }
    fields.update(changes)
    return Integration.model_validate(fields)


def subscription(
    owner: Integration, pattern: str = "course/*", *, created: float = 0, **changes: object
) -> Subscription:
    fields: dict[str, object] = {
        "integration_id": owner.id,
        "pattern": pattern,
        "endpoint": f"https://hooks.example.com/{new_id('ep')}",
        "created_at": at(created),
    }
    fields.update(changes)
    return Subscription.model_validate(fields)


def event(
    tenant: str = "acme",
    *,
    topic: str = "course/completion/create",
    created: float = 0,
    dedup_key: str | None = None,
    subject: str | None = None,
    payload: bytes = b'{"id": "x", "data": {"score": 1}}',
) -> Event:
    return Event(
        topic=topic,
        tenant=tenant,
        created_at=at(created),
        payload=payload,
        dedup_key=dedup_key,
        subject=subject,
    )


def delivery(
    evt: Event, sub: Subscription, *, due: float | None = None, created: float | None = None
) -> Delivery:
    created_at = evt.created_at if created is None else at(created)
    return Delivery(
        event_id=evt.id,
        subscription_id=sub.id,
        integration_id=sub.integration_id,
        tenant=evt.tenant,
        topic=evt.topic,
        next_attempt_at=created_at if due is None else at(due),
        created_at=created_at,
        updated_at=created_at,
    )


def attempt(item: WorkItem, *, ok: bool, started: float) -> Attempt:
    return Attempt(
        delivery_id=item.delivery_id,
        number=item.attempt_number,
        started_at=at(started),
        duration_ms=12.5,
        status_code=200 if ok else 503,
        error=None if ok else "service unavailable",
        response_excerpt="ok" if ok else "down",
        succeeded=ok,
    )


def settlement(
    item: WorkItem,
    *,
    ok: bool,
    started: float,
    status: DeliveryStatus | None = None,
    retry_at: float | None = None,
    disable: str | None = None,
    notifications: tuple[Notification, ...] = (),
    pause_until: float | None = None,
) -> Settlement:
    if status is None:
        status = DeliveryStatus.DELIVERED if ok else DeliveryStatus.PENDING
    if status is DeliveryStatus.PENDING and retry_at is None:
        retry_at = started + 60
    return Settlement(
        item=item,
        attempt=attempt(item, ok=ok, started=started),
        status=status,
        next_attempt_at=at(retry_at) if status is DeliveryStatus.PENDING else None,
        disable_subscription=disable,
        notifications=notifications,
        pause_until=None if pause_until is None else at(pause_until),
    )


def notification(
    item: WorkItem,
    *,
    created: float,
    kind: NotificationKind = NotificationKind.DELIVERY_FAILED,
) -> Notification:
    return Notification(
        id=new_id("ntf"),
        integration_id=item.integration_id,
        kind=kind,
        subscription_id=item.subscription_id,
        endpoint=item.endpoint,
        created_at=at(created),
        topic=item.topic,
        event_id=item.event_id,
        delivery_id=item.delivery_id,
        detail="503 service unavailable",
    )


def enqueue_one(
    store: Store, sub: Subscription, *, created: float = 0, due: float | None = None
) -> Delivery:
    """Store one event with one delivery to ``sub``; return the delivery."""
    owner = store.get_integration(sub.integration_id)
    evt = event(owner.tenant, created=created)
    dlv = delivery(evt, sub, due=due)
    assert store.enqueue(evt, [dlv]) is True
    return dlv


def claim(store: Store, seconds: float, *, owner: str = "w1", limit: int = 10) -> list[WorkItem]:
    """Claim up to ``limit`` deliveries due ``seconds`` after ``T0``, for ``owner``."""
    return store.claim(now=at(seconds), limit=limit, owner=owner, lease=LEASE)
