"""Records the domain builds from values it has just computed and checked, without running
pydantic's validation again: an event when ``emit`` stores it, its planned deliveries, and
each attempt a worker settles. Hot paths; a hypothesis test compares every field with the
validated construction.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, NoReturn, TypeVar

from pydantic import BaseModel

from acadio_webhooks.domain.ids import new_id
from acadio_webhooks.domain.models import (
    MAX_DEDUP_KEY_LENGTH,
    MAX_SUBJECT_LENGTH,
    MAX_TENANT_LENGTH,
    MAX_TRACE_CONTEXT_LENGTH,
    Attempt,
    Delivery,
    DeliveryStatus,
    Event,
    _aware_utc,
    _is_topic,
)

__all__ = ["settled_attempt", "serialised_event", "planned_delivery"]


class _SharedFieldsSet(set[str]):
    """The ``model_fields_set`` every assembled record of one kind shares (see
    :func:`_assembled`): it refuses to change, and its copies are plain sets of their own,
    which is what ``model_copy`` and unpickling give a record."""

    def _refuse(self, *_: object) -> NoReturn:
        raise TypeError(
            "this model_fields_set is shared by every record of its kind; copy it to change it"
        )

    add = discard = remove = update = _refuse
    difference_update = intersection_update = symmetric_difference_update = _refuse
    __ior__ = __iand__ = __isub__ = __ixor__ = pop = clear = _refuse

    def __copy__(self) -> set[str]:
        return set(self)

    def __deepcopy__(self, memo: dict[int, object]) -> set[str]:
        return set(self)

    def __reduce__(self) -> tuple[type[set[str]], tuple[list[str]]]:
        return set, (list(self),)


_ATTEMPT_FIELDS_SET = _SharedFieldsSet(set(Attempt.model_fields) - {"id"})


def settled_attempt(
    *,
    delivery_id: str,
    number: int,
    started_at: datetime,
    duration_ms: float,
    status_code: int | None,
    error: str | None,
    response_excerpt: str,
    succeeded: bool,
) -> Attempt:
    """``Attempt(delivery_id=..., ...)`` for values the delivery core has just computed, without
    running pydantic's validation when the values plainly satisfy it (internal: the worker's
    hot path makes one per delivery, and validating it cost about a third of settling).

    Exact types, UTC ``started_at``, the bounds of the fields: when all hold, validation would
    return these very values, so the record is assembled as ``Attempt(...)`` would assemble it
    (same fields, same fields-set, a fresh ``att_`` id). Anything else, a subclass or an
    out-of-range value included, goes through ``Attempt(...)`` and gets its checks and errors.
    ``model_construct`` is no shortcut here: it costs more than validating this small model.
    """
    if not (
        type(delivery_id) is str
        and type(number) is int
        and number >= 1
        and type(started_at) is datetime
        and started_at.tzinfo is timezone.utc
        and type(duration_ms) is float
        and duration_ms >= 0  # False for NaN, which validation refuses too
        and (status_code is None or type(status_code) is int)
        and (error is None or (type(error) is str and len(error) <= 1000))
        and type(response_excerpt) is str
        and len(response_excerpt) <= 4096
        and type(succeeded) is bool
    ):
        return Attempt(
            delivery_id=delivery_id,
            number=number,
            started_at=started_at,
            duration_ms=duration_ms,
            status_code=status_code,
            error=error,
            response_excerpt=response_excerpt,
            succeeded=succeeded,
        )
    return _assembled(
        Attempt,
        {
            "id": new_id("att"),
            "delivery_id": delivery_id,
            "number": number,
            "started_at": started_at,
            "duration_ms": duration_ms,
            "status_code": status_code,
            "error": error,
            "response_excerpt": response_excerpt,
            "succeeded": succeeded,
        },
        _ATTEMPT_FIELDS_SET,
    )


_EVENT_FIELDS_SET = _SharedFieldsSet(Event.model_fields)


def serialised_event(
    *,
    id: str,
    topic: str,
    tenant: str,
    created_at: datetime,
    payload: bytes,
    dedup_key: str | None,
    subject: str | None = None,
    trace_context: str | None = None,
) -> Event:
    """``Event(id=..., ...)`` for the fields :func:`~acadio_webhooks.domain.core.new_event`
    has just checked and serialised, without validating them again (internal: every emitted
    event is one, and validation cost a tenth of ``emit_many``'s time per event).

    Exact types and the fields' bounds, a topic that parses: when all hold, validation would
    return these very values (``created_at`` turned to UTC), so the record is assembled as it
    would be. Anything else goes through ``Event(...)`` and gets its checks and errors.
    """
    fields: dict[str, Any] = {  # every field, in declaration order
        "id": id,
        "topic": topic,
        "tenant": tenant,
        "created_at": created_at,
        "payload": payload,
        "dedup_key": dedup_key,
        "subject": subject,
        "trace_context": trace_context,
    }
    if not (
        type(id) is str
        and type(topic) is str
        and type(tenant) is str
        and 0 < len(tenant) <= MAX_TENANT_LENGTH
        and type(created_at) is datetime
        and created_at.tzinfo is not None
        and type(payload) is bytes
        and (
            dedup_key is None or (type(dedup_key) is str and len(dedup_key) <= MAX_DEDUP_KEY_LENGTH)
        )
        and (subject is None or (type(subject) is str and 0 < len(subject) <= MAX_SUBJECT_LENGTH))
        and (
            trace_context is None
            or (type(trace_context) is str and len(trace_context) <= MAX_TRACE_CONTEXT_LENGTH)
        )
        and _is_topic(topic)
    ):
        return Event(**fields)
    fields["created_at"] = _aware_utc(created_at)
    return _assembled(Event, fields, _EVENT_FIELDS_SET)


_PLANNED_FIELDS_SET = _SharedFieldsSet(
    set(Delivery.model_fields) - {"status", "attempts", "last_status_code", "last_error"}
)


def planned_delivery(
    event: Event, *, id: str, subscription_id: str, integration_id: str
) -> Delivery:
    """The pending delivery of ``event`` to one route, due when the event occurred, as
    ``Delivery(...)`` builds it, without validating again what ``event`` holds (internal:
    an emit plans one per matching subscription).

    An ``Event`` is validated when made, so its id, tenant, topic and UTC time are fit for a
    delivery (one made with ``Event.model_construct`` is trusted as pydantic trusts it); with
    ``str`` ids the record is assembled directly. A subclass of ``Event`` or of ``str`` goes
    through ``Delivery(...)`` and gets its checks and errors.
    """
    if not (
        type(event) is Event
        and type(id) is str
        and type(subscription_id) is str
        and type(integration_id) is str
    ):
        return Delivery(
            id=id,
            event_id=event.id,
            subscription_id=subscription_id,
            integration_id=integration_id,
            tenant=event.tenant,
            topic=event.topic,
            next_attempt_at=event.created_at,
            created_at=event.created_at,
            updated_at=event.created_at,
        )
    moment = event.created_at
    return _assembled(
        Delivery,
        {
            "id": id,
            "event_id": event.id,
            "subscription_id": subscription_id,
            "integration_id": integration_id,
            "tenant": event.tenant,
            "topic": event.topic,
            "status": DeliveryStatus.PENDING,
            "attempts": 0,
            "next_attempt_at": moment,
            "last_status_code": None,
            "last_error": None,
            "created_at": moment,
            "updated_at": moment,
        },
        _PLANNED_FIELDS_SET,
    )


_Model = TypeVar("_Model", bound=BaseModel)


def _assembled(model: type[_Model], values: dict[str, Any], fields_set: _SharedFieldsSet) -> _Model:
    """A ``model`` holding ``values`` (every field, in declaration order), as validation
    would have built it. ``model_construct`` is no shortcut: it costs more than validating.

    Every record of a kind shares one ``fields_set``, a :class:`_SharedFieldsSet`. The
    records are frozen, so pydantic never changes it in place (``model_copy`` copies it
    before adding to it), and a set per record was a third of the objects an ``emit_many``
    of 1,000 events keeps alive until it commits: the collections they set off cost a tenth
    of its time.
    """
    record = object.__new__(model)
    object.__setattr__(record, "__dict__", values)
    object.__setattr__(record, "__pydantic_fields_set__", fields_set)
    object.__setattr__(record, "__pydantic_extra__", None)
    object.__setattr__(record, "__pydantic_private__", None)
    return record
