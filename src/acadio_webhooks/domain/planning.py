"""Planning an event: checking what ``emit`` was given, serialising the body once, and one
pending delivery per matching subscription. Pure: no I/O, no clock but the one passed in.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import pydantic

from acadio_webhooks.domain._trusted import planned_delivery, serialised_event
from acadio_webhooks.domain.ids import new_id
from acadio_webhooks.domain.models import (
    MAX_DEDUP_KEY_LENGTH,
    MAX_SUBJECT_LENGTH,
    MAX_TENANT_LENGTH,
    Delivery,
    Event,
)
from acadio_webhooks.domain.payloads import EventData
from acadio_webhooks.domain.signing import encode_event_body
from acadio_webhooks.domain.topics import Topic
from acadio_webhooks.errors import InvalidPayload

__all__ = [
    "DEFAULT_MAX_PAYLOAD_BYTES",
    "PlannedEvent",
    "plan_event",
    "new_event",
    "plan_deliveries",
    "dedup_scope",
    "check_event_fields",
]

DEFAULT_MAX_PAYLOAD_BYTES = 256 * 1024
"""The largest wire body ``emit`` accepts (256 KiB): receivers and mail digests stay sane."""

_MAX_JSON_DEPTH = 64
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


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
    characters, not UTF-8 text, not a timezone-aware datetime, before 1970 or past 9999 in
    UTC). Every message starts with the argument it is about (``tenant``, ``dedup_key``,
    ``subject``, ``occurred_at``, ``data``), so a caller validating many events can put the
    event's position in front (``events[3].data['x'] ...``).

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
    if not 1970 < occurred_at.year < 9999 and not _storable_moment(occurred_at):
        raise InvalidPayload(
            f"occurred_at must be from 1970-01-01T00:00:00+00:00 to 9999-12-31T23:59:59.999999"
            f"+00:00, not {occurred_at.isoformat()}"
        )


def _storable_moment(moment: datetime) -> bool:
    # An event id carries its milliseconds since the epoch (domain.ids): before it, the id
    # would not be one, nor sort in time. Past year 9999 in UTC no datetime holds the moment.
    try:
        return moment.astimezone(timezone.utc) >= _EPOCH
    except OverflowError:
        return False


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
