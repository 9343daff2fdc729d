"""One fair pump round: every subscription with due work gets its share before any gets
more, so a flood to one endpoint does not starve the others."""

from __future__ import annotations

from datetime import datetime, timedelta

from acadio_webhooks.domain.messages import WorkItem
from acadio_webhooks.ports.storage import Store

__all__ = ["claim_round"]


def claim_round(
    store: Store, *, now: datetime, size: int, share: int, owner: str, lease: timedelta
) -> list[WorkItem]:
    """Lease up to ``size`` due deliveries to ``owner``: first at most ``share`` of each
    subscription with due work (oldest due first), then the rest of the round to whoever
    has more. Deliveries claimed past a subscription's share are given back."""
    held: dict[str, int] = {}
    full: set[str] = set()
    kept: list[WorkItem] = []
    while len(kept) < size:
        wanted = min(share, size - len(kept))
        items = store.claim(
            now=now, limit=wanted, owner=owner, lease=lease, skip_subscriptions=frozenset(full)
        )
        excess: list[str] = []
        for item in items:
            count = held.get(item.subscription_id, 0)
            if count < share:
                kept.append(item)
                held[item.subscription_id] = count + 1
            else:
                excess.append(item.delivery_id)
        full.update(sub for sub, count in held.items() if count >= share)
        if excess:
            store.release(excess, owner=owner)
        if len(items) < wanted:
            break  # nothing more is due outside the subscriptions that had their share
    if len(kept) < size and full:
        kept += store.claim(now=now, limit=size - len(kept), owner=owner, lease=lease)
    return kept
