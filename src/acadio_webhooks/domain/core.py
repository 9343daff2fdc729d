"""The sans-I/O delivery core: every decision of the library's main job, with no I/O.

Drivers (the sync and async workers in :mod:`acadio_webhooks.worker`) only move values
between the ports and these functions::

    store.claim()  ->  WorkItem
    prepare(item)  ->  OutboundRequest      -> transport.send() -> TransportResult
    settle(item, result)  ->  Settlement    -> store.settle()

and the dispatcher calls :func:`new_event` and :func:`plan_deliveries` for ``emit``. Because
the decisions live here, the sync and async paths cannot drift apart, and the whole policy is
testable without a network, a database or a clock.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

import pydantic

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
    MAX_DEDUP_KEY_LENGTH,
    MAX_SUBJECT_LENGTH,
    MAX_TENANT_LENGTH,
    Delivery,
    DeliveryStatus,
    Event,
    planned_delivery,
    serialised_event,
    settled_attempt,
)
from acadio_webhooks.domain.payloads import EventData
from acadio_webhooks.domain.retry import DEFAULT_RETRY_POLICY, RetryPolicy
from acadio_webhooks.domain.signing import Signer, encode_event_body
from acadio_webhooks.domain.topics import Topic
from acadio_webhooks.errors import InvalidPayload

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

DEFAULT_MAX_PAYLOAD_BYTES = 256 * 1024
"""The largest wire body ``emit`` accepts (256 KiB): receivers and mail digests stay sane."""

_RETRY_AFTER_STATUSES = frozenset({429, 503})
_GONE = 410
_MAX_JSON_DEPTH = 64


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


@dataclass(frozen=True)
class PlannedEvent:
    """What ``emit`` stores: the event and one delivery per matching subscription."""

    event: Event
    deliveries: tuple[Delivery, ...]


def dedup_scope(topic: Topic, tenant: str, key: str, occurred_at: datetime) -> str:
    """The stored de-duplication key.

    For a topic marked ``once_per_day`` (``course/activity/create``) the key is scoped to the
    UTC calendar day of the event, so the same (tenant, key) fires at most once per UTC day.
    For any other topic the key is an idempotency key: the same (tenant, topic, key) is
    stored once, ever. A scope longer than the stored column (512 characters) is stored as
    its SHA-256 digest, so a long host key de-duplicates like a short one.
    """
    scope = f"{tenant}\x1f{topic.name}\x1f{key}"
    if topic.once_per_day:
        scope += "\x1f" + occurred_at.astimezone(timezone.utc).date().isoformat()
    if len(scope) > MAX_DEDUP_KEY_LENGTH:
        scope = "sha256:" + hashlib.sha256(scope.encode("utf-8")).hexdigest()
    return scope


def plan_event(
    *,
    topic: Topic,
    data: Mapping[str, Any],
    tenant: str,
    occurred_at: datetime,
    routes: Iterable[tuple[str, str]],
    dedup_key: str | None = None,
    event_id: str | None = None,
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
    subject: str | None = None,
) -> PlannedEvent:
    """Validate and serialise one event, and plan its deliveries: :func:`new_event`, then
    :func:`plan_deliveries` to ``routes``, the ``(subscription_id, integration_id)`` pairs of
    the subscriptions whose pattern matches the topic."""
    event = new_event(
        topic=topic,
        data=data,
        tenant=tenant,
        occurred_at=occurred_at,
        dedup_key=dedup_key,
        event_id=event_id,
        max_payload_bytes=max_payload_bytes,
        subject=subject,
    )
    return PlannedEvent(event=event, deliveries=plan_deliveries(event, routes))


def new_event(
    *,
    topic: Topic,
    data: EventData,
    tenant: str,
    occurred_at: datetime,
    dedup_key: str | None = None,
    event_id: str | None = None,
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
    subject: str | None = None,
    trace_context: str | None = None,
) -> Event:
    """Validate and serialise one event. The body is serialised here, once; every attempt of
    every delivery signs these same bytes.

    Raises ``InvalidPayload`` naming the offending path (``data["scores"][2]``) when ``data``
    is not a JSON object of JSON values (NaN and infinities included), nests deeper than 64
    levels, or serialises to more than ``max_payload_bytes``; ``InvalidPayload`` too when a
    ``once_per_day`` topic is emitted without a ``dedup_key``, and for a ``tenant``,
    ``dedup_key``, ``subject`` or ``occurred_at`` that cannot be stored (empty or over 255
    characters, not UTF-8 text, not a timezone-aware datetime). Every message starts with
    the argument it is about (``tenant``, ``dedup_key``, ``subject``, ``occurred_at``,
    ``data``), so a caller validating many events can put the event's position in front
    (``events[3].data['x'] ...``).

    A topic with a ``payload`` schema checks ``data`` against it first (``PayloadMismatch``,
    an ``InvalidPayload``, naming every offending field) and sends what the schema makes of
    it; ``data`` may be an instance of a pydantic model (sent as its JSON dump, by alias).
    """
    check_event_fields(tenant, dedup_key, occurred_at, subject)
    if topic.payload is not None:
        data = topic.payload.check(data)
    elif not isinstance(data, Mapping) and isinstance(data, pydantic.BaseModel):
        data = data.model_dump(mode="json", by_alias=True)
    if not isinstance(data, Mapping):
        raise InvalidPayload(f"data must be a JSON object (a mapping), not {type(data).__name__}")
    _check_json(data, "data", 0)
    if topic.once_per_day and not dedup_key:
        raise InvalidPayload(
            f"dedup_key is required: topic {topic.name!r} fires at most once a day; pass "
            "dedup_key= identifying what it is about (e.g. f'{student_id}:{activity_id}')"
        )
    ident = event_id or new_id("evt", now=occurred_at.timestamp())
    payload = encode_event_body(
        event_id=ident, topic=topic.name, created_at=occurred_at, tenant=tenant, data=data
    )
    if len(payload) > max_payload_bytes:
        raise InvalidPayload(
            f"data makes an event body of {len(payload)} bytes, over the limit of "
            f"{max_payload_bytes} bytes"
        )
    return serialised_event(
        id=ident,
        topic=topic.name,
        tenant=tenant,
        created_at=occurred_at,
        payload=payload,
        dedup_key=dedup_scope(topic, tenant, dedup_key, occurred_at) if dedup_key else None,
        subject=subject,
        trace_context=trace_context,
    )


def plan_deliveries(
    event: Event,
    routes: Iterable[tuple[str, str]],
    *,
    new_delivery_id: Callable[[], str] | None = None,
) -> tuple[Delivery, ...]:
    """One pending delivery of ``event`` per ``(subscription_id, integration_id)`` route, due
    when the event occurred. ``new_delivery_id`` makes the ids (default: :func:`new_id`)."""
    make_id = new_delivery_id or _new_delivery_id
    return tuple(
        planned_delivery(
            event, id=make_id(), subscription_id=subscription_id, integration_id=integration_id
        )
        for subscription_id, integration_id in routes
    )


def _new_delivery_id() -> str:
    return new_id("dlv")


def check_event_fields(
    tenant: object, dedup_key: object, occurred_at: object, subject: object = None
) -> None:
    """Raise ``InvalidPayload`` for event fields no store could keep as given.

    Takes ``object`` because hosts are not always typed (:func:`new_event` calls it first).
    """
    if not isinstance(tenant, str) or not 0 < len(tenant) <= MAX_TENANT_LENGTH:
        shown = f"{len(tenant)} characters" if isinstance(tenant, str) else type(tenant).__name__
        raise InvalidPayload(f"tenant must be 1 to {MAX_TENANT_LENGTH} characters, not {shown}")
    if dedup_key is not None and not isinstance(dedup_key, str):
        raise InvalidPayload(f"dedup_key must be a string, not {type(dedup_key).__name__}")
    if subject is not None and (
        not isinstance(subject, str) or not 0 < len(subject) <= MAX_SUBJECT_LENGTH
    ):
        shown = f"{len(subject)} characters" if isinstance(subject, str) else type(subject).__name__
        raise InvalidPayload(
            f"subject must be None or 1 to {MAX_SUBJECT_LENGTH} characters, not {shown}"
        )
    for name, text in (
        ("tenant", tenant),
        ("dedup_key", dedup_key or ""),
        ("subject", subject or ""),
    ):
        position = _unencodable_at(text)
        if position is not None:
            raise InvalidPayload(f"{name} has a character UTF-8 cannot encode at {position}")
    if not isinstance(occurred_at, datetime) or occurred_at.utcoffset() is None:
        shown = repr(occurred_at)[:80]
        raise InvalidPayload(f"occurred_at must be a timezone-aware datetime, not {shown}")


def _unencodable_at(text: str) -> int | None:
    """Where ``text`` stops being UTF-8 encodable (a lone surrogate), or None."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return None


class _NotJson(Exception):
    """Unwinds :func:`_json_problem`, collecting the path on the way out (only on error)."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.steps: list[str] = []


_JSON_SCALARS = frozenset({str, int, bool, type(None)})


def _check_json(value: Any, path: str, depth: int) -> None:
    """Raise ``InvalidPayload`` at the first value JSON cannot carry faithfully."""
    try:
        _json_problem(value, depth)
    except _NotJson as bad:
        raise InvalidPayload(path + "".join(reversed(bad.steps)) + bad.problem) from None


def _json_problem(value: Any, depth: int) -> None:
    # The path is built only when something is wrong: building "data['a'][3]" strings for
    # every value of every emitted event cost more than the walk itself.
    if depth > _MAX_JSON_DEPTH:
        raise _NotJson(f" nests deeper than {_MAX_JSON_DEPTH} levels")
    kind = type(value)
    if kind in _JSON_SCALARS:
        return
    if kind is float or isinstance(value, float):
        if not math.isfinite(value):
            raise _NotJson(f" is {value!r}, which JSON cannot represent")
        return
    if isinstance(value, (str, bool, int)):  # subclasses, after the exact types above
        return
    if isinstance(value, Mapping):
        _walk(value.items(), depth, keyed=True)
        return
    if isinstance(value, (list, tuple)):
        _walk(enumerate(value), depth, keyed=False)
        return
    raise _NotJson(f" is a {type(value).__name__}, which is not a JSON value")


def _walk(entries: Iterable[tuple[Any, Any]], depth: int, *, keyed: bool) -> None:
    for step, item in entries:
        if keyed and not isinstance(step, str):
            raise _NotJson(f" has a non-string key {step!r}")
        if depth < _MAX_JSON_DEPTH and type(item) in _JSON_SCALARS:
            continue
        try:
            _json_problem(item, depth + 1)
        except _NotJson as bad:
            bad.steps.append(f"[{step!r}]")
            raise


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

    last_error = attempt.summary
    if result.status_code == _GONE:
        reason = "endpoint answered 410 Gone"
        return Settlement(
            item,
            attempt,
            DeliveryStatus.FAILED,
            None,
            reason,
            (notice(NotificationKind.ENDPOINT_DISABLED, reason),),
        )

    failing_since = item.endpoint_failing_since or started_at
    if now - failing_since >= policy.disable_after:
        days = policy.disable_after.total_seconds() / 86400
        reason = f"every attempt failed for {days:g} days (last: {last_error})"
        return Settlement(
            item,
            attempt,
            DeliveryStatus.FAILED,
            None,
            reason,
            (notice(NotificationKind.ENDPOINT_DISABLED, reason),),
        )

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
