"""Values the delivery core exchanges with its drivers, stores and transports.

A driver claims :class:`WorkItem` s from a store, asks the core for an :class:`OutboundRequest`,
hands it to a transport, gets a :class:`TransportResult`, asks the core to settle it, and gives
the resulting :class:`Settlement` back to the store. None of these values holds a connection.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from types import MappingProxyType

from acadio_webhooks.domain._quick_init import quick_init
from acadio_webhooks.domain.models import Attempt, DeliveryStatus

__all__ = [
    "ErrorKind",
    "WorkItem",
    "Claimed",
    "NO_HEADERS",
    "OutboundRequest",
    "TransportResult",
    "NotificationKind",
    "Notification",
    "Notice",
    "Settlement",
]


class ErrorKind(str, Enum):
    """Why an attempt got no HTTP status: each is a failed attempt, retried like a 5xx."""

    TIMEOUT = "timeout"
    CONNECT = "connect"
    TLS = "tls"
    BLOCKED = "blocked"  # the endpoint resolved to a forbidden address at connection time
    PROTOCOL = "protocol"  # a malformed or reset HTTP exchange
    OTHER = "other"


NO_HEADERS: Mapping[str, str] = MappingProxyType({})
"""The custom headers of an endpoint that has none (shared, read-only)."""


@quick_init
@dataclass(frozen=True)
class WorkItem:
    """One claimed delivery, with everything needed to make its next attempt."""

    delivery_id: str
    event_id: str
    topic: str
    tenant: str
    payload: bytes = field(repr=False)
    endpoint: str
    subscription_id: str
    integration_id: str
    signing_keys: tuple[bytes, ...] = field(repr=False)
    attempt_number: int
    """The number of the attempt about to be made: 1 for the first."""
    endpoint_failures: int = 0
    """Consecutive failed attempts of this subscription's endpoint when claimed."""
    endpoint_failing_since: datetime | None = None
    endpoint_headers: Mapping[str, str] = field(default_factory=lambda: NO_HEADERS, repr=False)
    """The subscription's custom headers (secrets), sent beside the signature headers."""
    trace_context: str | None = field(default=None, repr=False)
    """The event's stored trace context
    (:attr:`~acadio_webhooks.domain.models.Event.trace_context`)."""


class Claimed(list[WorkItem]):
    """What a claim leased (a plain list of work items), and ``resume_at``: the earliest
    time the claim knows more of its deliveries come due — the first one it put off for an
    endpoint's rate limit, or ``now`` when it stopped before the end of the due backlog.
    None when it knows of nothing; a claimer claims again by then instead of at its next
    poll."""

    __slots__ = ("resume_at",)

    def __init__(self, items: Iterable[WorkItem] = (), resume_at: datetime | None = None) -> None:
        super().__init__(items)
        self.resume_at = resume_at


@quick_init
@dataclass(frozen=True)
class OutboundRequest:
    """One signed POST, ready for a transport."""

    url: str
    headers: Mapping[str, str] = field(repr=False)
    body: bytes = field(repr=False)


@quick_init
@dataclass(frozen=True)
class TransportResult:
    """What a transport observed. Transports return this for network failures too; they
    never raise for a failing endpoint."""

    status_code: int | None
    duration: float
    """Seconds from the start of the attempt to the end of reading the (capped) response."""
    body_excerpt: bytes = b""
    error_kind: ErrorKind | None = None
    error: str | None = None
    retry_after: float | None = None
    """Seconds, parsed from a ``Retry-After`` header (delta-seconds or HTTP date), if any."""

    @property
    def succeeded(self) -> bool:
        """Any 2xx is a success; everything else (3xx included) is a failed attempt."""
        return self.status_code is not None and 200 <= self.status_code < 300


class NotificationKind(str, Enum):
    """What the integration's notification address is told about."""

    DELIVERY_FAILED = "delivery_failed"  # a delivery used up every attempt
    ENDPOINT_FAILING = "endpoint_failing"  # an endpoint started failing repeatedly
    ENDPOINT_DISABLED = "endpoint_disabled"  # 410 Gone, or failing for too long
    ENDPOINT_RECOVERED = "endpoint_recovered"  # a failing endpoint answered 2xx again


@dataclass(frozen=True)
class Notification:
    """One fact for the integration's failure e-mail; many are batched into one message."""

    id: str
    integration_id: str
    kind: NotificationKind
    subscription_id: str
    endpoint: str
    created_at: datetime
    topic: str | None = None
    event_id: str | None = None
    delivery_id: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class Notice:
    """One e-mail: a digest of an integration's notifications since the last one."""

    to: str
    subject: str
    text: str
    integration_id: str
    notifications: tuple[Notification, ...] = field(default=(), repr=False)


@quick_init
@dataclass(frozen=True)
class Settlement:
    """The core's verdict on one attempt, for the store to apply atomically."""

    item: WorkItem
    attempt: Attempt
    status: DeliveryStatus
    next_attempt_at: datetime | None
    disable_subscription: str | None = None
    """A reason to disable the subscription (410 Gone, failing for too long), or None."""
    notifications: tuple[Notification, ...] = ()
    pause_until: datetime | None = None
    """Pause the subscription (its deliveries are not claimed) until then: the circuit
    breaker of :class:`~acadio_webhooks.domain.core.CircuitBreaker`. None leaves it as is;
    a success clears any pause."""

    @property
    def succeeded(self) -> bool:
        """Whether the attempt got a 2xx."""
        return self.attempt.succeeded
