"""The sans-I/O delivery core: every decision of the library's main job, with no I/O.

Drivers (the sync and async workers in :mod:`acadio_webhooks.worker`) only move values
between the ports and these functions::

    store.claim()  ->  WorkItem
    prepare(item)  ->  OutboundRequest      -> transport.send() -> TransportResult
    settle(item, result)  ->  Settlement    -> store.settle()

and the dispatcher calls :func:`~acadio_webhooks.domain.planning.new_event` and
:func:`~acadio_webhooks.domain.planning.plan_deliveries` for ``emit`` (planning lives in
:mod:`acadio_webhooks.domain.planning`, re-exported here). Because
the decisions live here, the sync and async paths cannot drift apart, and the whole policy is
testable without a network, a database or a clock.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

from acadio_webhooks.domain._trusted import settled_attempt
from acadio_webhooks.domain.ids import new_id
from acadio_webhooks.domain.messages import (
    Notification,
    NotificationKind,
    OutboundRequest,
    Settlement,
    TransportResult,
    WorkItem,
)
from acadio_webhooks.domain.models import (
    DeliveryStatus,
)
from acadio_webhooks.domain.planning import (
    DEFAULT_MAX_PAYLOAD_BYTES,
    PlannedEvent,
    check_event_fields,
    dedup_scope,
    new_event,
    plan_deliveries,
    plan_event,
)
from acadio_webhooks.domain.retry import DEFAULT_RETRY_POLICY, RetryPolicy
from acadio_webhooks.domain.signing import Signer

__all__ = [
    "DEFAULT_MAX_PAYLOAD_BYTES",
    "CircuitBreaker",
    "PAUSE_HORIZON",
    "is_paused",
    "DeliveryPolicy",
    "PlannedEvent",
    "plan_event",
    "new_event",
    "plan_deliveries",
    "prepare",
    "settle",
    "dedup_scope",
    "check_event_fields",
]

_RETRY_AFTER_STATUSES = frozenset({429, 503})
_GONE = 410


PAUSE_HORIZON = timedelta(days=1)
"""A pause ending further ahead than this is void: the clock went back since it was set.

Pauses are stored as end times; a system clock stepped back a day would otherwise stretch
every pause by a day. ``CircuitBreaker.max_pause`` may not exceed it."""


def is_paused(paused_until: datetime | None, now: datetime) -> bool:
    """Whether a subscription paused until ``paused_until`` is still paused at ``now``."""
    return paused_until is not None and now < paused_until <= now + PAUSE_HORIZON


@dataclass(frozen=True)
class CircuitBreaker:
    """When an endpoint that keeps failing is paused, so it cannot hog the workers.

    Once a subscription's endpoint has failed ``threshold`` attempts in a row, every further
    failure pauses the subscription until::

        now + clamp(growth * (now - failing_since), min_pause, max_pause)

    While paused, no worker claims its deliveries: they stay pending (nothing is lost or
    given up) and are attempted when the pause ends — a delivery's own retry schedule is only
    ever delayed, never shortened. The attempts made when a pause ends are the probes: one
    success closes the breaker (counters reset, pause cleared); a failure opens it again for
    longer. Because each pause is a fixed share of how long the endpoint has been failing,
    pauses grow geometrically (x1.5 per opening with ``growth=0.5``) up to ``max_pause``, and
    many attempts failing at once compute the same pause instead of compounding it.

    With the defaults an endpoint that went down is paused after its 5th consecutive failure
    for 30 s, then about 30 s, 45 s, 68 s, ... up to 15 minutes between probes — while
    ``DeliveryPolicy.disable_after`` still disables it after 5 days of failures.
    """

    threshold: int = 5
    min_pause: timedelta = timedelta(seconds=30)
    max_pause: timedelta = timedelta(minutes=15)
    growth: float = 0.5

    def __post_init__(self) -> None:
        if self.threshold < 1:
            raise ValueError("threshold must be >= 1 (use DeliveryPolicy(breaker=None) to disable)")
        if not timedelta(0) < self.min_pause <= self.max_pause <= PAUSE_HORIZON:
            raise ValueError("need 0 < min_pause <= max_pause <= 1 day")
        if self.growth < 0:
            raise ValueError("growth must be >= 0")

    def pause_until(
        self, *, failures: int, failing_since: datetime, now: datetime
    ) -> datetime | None:
        """When the paused endpoint may be tried again after its ``failures``-th consecutive
        failed attempt, or None while it is under the threshold."""
        if failures < self.threshold:
            return None
        failing_for = max(now - failing_since, timedelta(0))
        pause = min(max(failing_for * self.growth, self.min_pause), self.max_pause)
        return now + pause


@dataclass(frozen=True)
class DeliveryPolicy:
    """Everything the core decides by, besides the clock and randomness.

    * ``retry`` — when attempts are retried (:class:`RetryPolicy`; 7 attempts by default).
    * ``failing_threshold`` — after this many consecutive failed attempts of one endpoint its
      integration is told the endpoint is failing (default 4), and told again when it recovers.
    * ``disable_after`` — an endpoint whose attempts have only failed for this long is disabled
      and its integration told (default 5 days, as Svix does); one success resets the clock.
    * ``breaker`` — when an endpoint that keeps failing is paused (:class:`CircuitBreaker`),
      so one dead endpoint cannot occupy the workers; None never pauses.
    * ``excerpt_chars`` — how much of a response body is kept with each attempt.
    """

    retry: RetryPolicy = DEFAULT_RETRY_POLICY
    failing_threshold: int = 4
    disable_after: timedelta = timedelta(days=5)
    breaker: CircuitBreaker | None = field(default_factory=CircuitBreaker)
    excerpt_chars: int = 1024
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)


def prepare(item: WorkItem, *, now: datetime) -> OutboundRequest:
    """The signed request for the next attempt of ``item``.

    Every attempt is signed afresh with the attempt's own timestamp (so receivers'
    replay tolerance holds on late retries); ``webhook-id`` is the event id, stable across
    attempts and resends, for receivers' de-duplication.
    """
    headers = _signer(item.signing_keys).headers(
        item.payload, event_id=item.event_id, topic=item.topic, timestamp=int(now.timestamp())
    )
    if item.endpoint_headers:
        # Custom names never overlap the signature's (reserved names are refused on input).
        headers = {**item.endpoint_headers, **headers}
    return OutboundRequest(url=item.endpoint, headers=headers, body=item.payload)


@lru_cache(maxsize=1024)
def _signer(keys: tuple[bytes, ...]) -> Signer:
    # A worker signs for the same few integrations over and over: building a Signer checks
    # the keys and runs the HMAC key schedule, which a cached one has done already.
    return Signer(keys)


def settle(
    item: WorkItem,
    result: TransportResult,
    *,
    started_at: datetime,
    now: datetime,
    policy: DeliveryPolicy,
) -> Settlement:
    """Decide what one attempt's outcome means for its delivery and endpoint.

    * 2xx: delivered (and "endpoint recovered" if it had been reported failing).
    * 410 Gone: failed at once, subscription disabled, integration told.
    * any other failure: retried per ``policy.retry`` (``Retry-After`` honoured on 429/503)
      until the last attempt, then failed and the integration told; an endpoint failing for
      ``policy.disable_after`` is disabled; the ``failing_threshold``-th consecutive failure
      tells the integration the endpoint started failing; from ``policy.breaker.threshold``
      consecutive failures on, the endpoint is paused (``Settlement.pause_until``).
    """
    attempt = settled_attempt(
        delivery_id=item.delivery_id,
        number=item.attempt_number,
        started_at=started_at,
        duration_ms=round(result.duration * 1000.0, 3),
        status_code=result.status_code,
        error=_error_text(result),
        response_excerpt=result.body_excerpt[: policy.excerpt_chars * 4].decode("utf-8", "replace")[
            : policy.excerpt_chars
        ],
        succeeded=result.succeeded,
    )

    def notice(kind: NotificationKind, detail: str | None) -> Notification:
        return Notification(
            id=new_id("ntf", now=now.timestamp()),
            integration_id=item.integration_id,
            kind=kind,
            subscription_id=item.subscription_id,
            endpoint=item.endpoint,
            created_at=now,
            topic=item.topic,
            event_id=item.event_id,
            delivery_id=item.delivery_id,
            detail=detail,
        )

    if result.succeeded:
        notes: tuple[Notification, ...] = ()
        if item.endpoint_failures >= policy.failing_threshold:
            notes = (notice(NotificationKind.ENDPOINT_RECOVERED, attempt.summary),)
        return Settlement(item, attempt, DeliveryStatus.DELIVERED, None, None, notes)

    def disable(reason: str) -> Settlement:
        notes = (notice(NotificationKind.ENDPOINT_DISABLED, reason),)
        return Settlement(item, attempt, DeliveryStatus.FAILED, None, reason, notes)

    last_error = attempt.summary
    if result.status_code == _GONE:
        return disable("endpoint answered 410 Gone")

    failing_since = item.endpoint_failing_since or started_at
    if now - failing_since >= policy.disable_after:
        days = policy.disable_after.total_seconds() / 86400
        return disable(f"every attempt failed for {days:g} days (last: {last_error})")

    pause_until = None
    if policy.breaker is not None:
        pause_until = policy.breaker.pause_until(
            failures=item.endpoint_failures + 1, failing_since=failing_since, now=now
        )
    notes_list: list[Notification] = []
    if item.endpoint_failures + 1 == policy.failing_threshold:
        notes_list.append(notice(NotificationKind.ENDPOINT_FAILING, last_error))
    if item.attempt_number >= policy.retry.max_attempts:
        notes_list.append(
            notice(
                NotificationKind.DELIVERY_FAILED,
                f"{item.attempt_number} attempts, last: {last_error}",
            )
        )
        return Settlement(
            item, attempt, DeliveryStatus.FAILED, None, None, tuple(notes_list), pause_until
        )

    retry_after = result.retry_after if result.status_code in _RETRY_AFTER_STATUSES else None
    wait = policy.retry.delay(item.attempt_number, policy.rng, retry_after=retry_after)
    return Settlement(
        item, attempt, DeliveryStatus.PENDING, now + wait, None, tuple(notes_list), pause_until
    )


def _error_text(result: TransportResult) -> str | None:
    if result.error_kind is None:
        return result.error
    message = f"{result.error_kind.value}: {result.error}" if result.error else None
    return (message or result.error_kind.value)[:1000]
