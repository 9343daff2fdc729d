"""What waits in a store at one moment, for the gauges operators watch: how far behind
delivery is, and how the endpoints are doing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

__all__ = ["SUBSCRIPTION_STATES", "Backlog", "subscription_state"]

SUBSCRIPTION_STATES = ("healthy", "failing", "paused", "disabled", "deactivated")
"""Each subscription is in exactly one: ``healthy`` (active, last attempt not failed),
``failing`` (active, failing attempts in a row), ``paused`` (by the circuit breaker),
``disabled`` (by the library: 410 Gone, or failing for too long) or ``deactivated`` (by
its integration's owner, or with its integration)."""


def subscription_state(*, active: bool, disabled: bool, failing: bool, paused: bool) -> str:
    """The :data:`SUBSCRIPTION_STATES` entry of a subscription: ``active`` is False when the
    subscription or its integration is inactive; ``disabled`` when the library disabled it
    (it has a disabled reason); ``failing`` when its last attempts failed; ``paused`` when the
    circuit breaker holds it (:func:`~acadio_webhooks.domain.core.is_paused`)."""
    if not active:
        return "disabled" if disabled else "deactivated"
    if paused:
        return "paused"
    return "failing" if failing else "healthy"


@dataclass(frozen=True)
class Backlog:
    """A store's deliveries not yet final and its subscriptions' states, at one moment."""

    pending: int
    """Deliveries not yet delivered, failed or cancelled."""
    due: int
    """Pending deliveries whose time has come and that no worker holds: waiting for a
    worker. Those of paused subscriptions are left out (they wait for the pause's end)."""
    in_flight: int
    """Pending deliveries a worker holds (leased) now."""
    oldest_due_at: datetime | None
    """When the longest-waiting due delivery came due; None when none is due."""
    subscriptions: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    """How many subscriptions are in each of :data:`SUBSCRIPTION_STATES` (every state
    present, 0 when none)."""

    def oldest_due_seconds(self, now: datetime) -> float:
        """How long the longest-waiting due delivery has waited at ``now`` (0 when none)."""
        if self.oldest_due_at is None:
            return 0.0
        return max(0.0, (now - self.oldest_due_at).total_seconds())
