"""``serialised_event`` and ``planned_delivery``: the emit's unvalidated fast paths build
exactly the records ``Event(...)`` and ``Delivery(...)`` would, and refuse what they refuse."""

from __future__ import annotations

import pickle
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from acadio_webhooks.domain._trusted import planned_delivery, serialised_event, settled_attempt
from acadio_webhooks.domain.models import Delivery, DeliveryStatus, Event
from acadio_webhooks.domain.planning import new_event, plan_deliveries
from acadio_webhooks.domain.topics import Topic
from tests.domain.fast_records import fields_near_edges, outcome


class _Text(str):
    """A str subclass: must take the validated path."""


class _Moment(datetime):
    """A datetime subclass (as time-freezing libraries make): must take the validated path."""


_event_valid: dict[str, st.SearchStrategy[Any]] = {
    "id": st.text(min_size=1, max_size=12),
    "topic": st.sampled_from(["course/completion/create", "user/create", "a"]),
    "tenant": st.one_of(st.text(min_size=1, max_size=8), st.just("t" * 255)),
    "created_at": st.datetimes(
        timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=-7, minutes=-30))])
    ),
    "payload": st.binary(max_size=8),
    "dedup_key": st.one_of(st.none(), st.text(max_size=8), st.just("k" * 512)),
    "subject": st.one_of(st.none(), st.text(min_size=1, max_size=8), st.just("s" * 255)),
    "trace_context": st.one_of(st.none(), st.text(max_size=60), st.just("c" * 1024)),
}
_event_edges: dict[str, st.SearchStrategy[Any]] = {
    "id": st.one_of(st.text(max_size=4).map(_Text), st.integers(0, 3)),
    "topic": st.sampled_from(["Course/x", "course/*", "", "a//b"]),
    "tenant": st.one_of(st.just(""), st.just("t" * 256), st.text(min_size=1).map(_Text)),
    "created_at": st.one_of(
        st.datetimes(),  # naive
        st.datetimes(timezones=st.just(timezone.utc)).map(
            lambda moment: _Moment.fromtimestamp(moment.timestamp(), timezone.utc)
        ),
        st.just("2026-03-03T09:30:00Z"),
    ),
    "payload": st.one_of(st.text(max_size=4), st.just(bytearray(b"x"))),
    "dedup_key": st.one_of(st.just("k" * 513), st.integers(0, 3)),
    "subject": st.one_of(st.just(""), st.just("s" * 256), st.integers(0, 3)),
    "trace_context": st.one_of(st.just("c" * 1025), st.integers(0, 3), st.text().map(_Text)),
}


def _assert_same_record(fast: BaseModel | str, validated: BaseModel | str) -> None:
    if isinstance(validated, str):
        assert fast == validated
        return
    assert isinstance(fast, BaseModel)
    assert fast == validated
    assert fast.model_dump() == validated.model_dump()
    assert fast.model_fields_set == validated.model_fields_set
    assert list(fast.__dict__) == list(validated.__dict__)  # declaration order, for dumps
    for name in type(validated).model_fields:
        assert type(getattr(fast, name)) is type(getattr(validated, name)), name


@settings(max_examples=300)
@given(fields_near_edges(_event_valid, _event_edges))
def test_serialised_event_is_what_validation_builds(fields: dict[str, Any]) -> None:
    fast = outcome(serialised_event, fields)
    _assert_same_record(fast, outcome(Event, fields))
    if isinstance(fast, Event):
        assert fast.created_at.tzinfo is timezone.utc


_delivery_valid: dict[str, st.SearchStrategy[Any]] = {
    "id": st.text(max_size=12),
    "subscription_id": st.text(max_size=12),
    "integration_id": st.text(max_size=12),
}
_delivery_edges: dict[str, st.SearchStrategy[Any]] = {
    "id": st.one_of(st.text(max_size=4).map(_Text), st.integers(0, 3)),
    "subscription_id": st.one_of(st.text(max_size=4).map(_Text), st.none()),
    "integration_id": st.one_of(st.text(max_size=4).map(_Text), st.just(b"int")),
}
_EVENT = Event(
    id="evt_1",
    topic="course/completion/create",
    tenant="acme",
    created_at=datetime(2026, 3, 3, 9, 30, tzinfo=timezone.utc),
    payload=b"{}",
)


def _validated_delivery(event: Event, **fields: Any) -> Delivery:
    """What ``plan_deliveries`` built before it had a fast path."""
    return Delivery(
        event_id=event.id,
        tenant=event.tenant,
        topic=event.topic,
        next_attempt_at=event.created_at,
        created_at=event.created_at,
        updated_at=event.created_at,
        **fields,
    )


@settings(max_examples=200)
@given(fields_near_edges(_delivery_valid, _delivery_edges))
def test_planned_delivery_is_what_validation_builds(fields: dict[str, Any]) -> None:
    fast = outcome(lambda **given: planned_delivery(_EVENT, **given), fields)
    validated = outcome(lambda **given: _validated_delivery(_EVENT, **given), fields)
    _assert_same_record(fast, validated)


def test_planned_deliveries_behave_like_validated_ones() -> None:
    event = new_event(
        topic=Topic("course/completion/create", "Completed", "A student completed a course."),
        data={"score": 0.9},
        tenant="acme",
        occurred_at=datetime(2026, 3, 3, 10, 30, tzinfo=timezone(timedelta(hours=1))),
    )
    assert event.created_at == datetime(2026, 3, 3, 9, 30, tzinfo=timezone.utc)
    assert event.created_at.tzinfo is timezone.utc
    [delivery] = plan_deliveries(event, [("sub_1", "int_1")])
    assert delivery.status is DeliveryStatus.PENDING
    assert delivery.attempts == 0
    assert delivery.next_attempt_at == event.created_at
    assert hash(delivery) == hash(delivery.model_copy())
    assert pickle.loads(pickle.dumps(delivery)) == delivery
    assert Delivery.model_validate_json(delivery.model_dump_json()) == delivery
    assert pickle.loads(pickle.dumps(event)) == event
    moved = delivery.model_copy(update={"attempts": 1})
    assert moved.attempts == 1
    assert delivery.attempts == 0
    assert "attempts" in moved.model_fields_set
    assert "attempts" not in delivery.model_fields_set
    with pytest.raises(ValidationError):
        delivery.attempts = 3  # type: ignore[misc]  # frozen, like any Delivery


def test_a_copy_of_one_record_leaves_the_shared_fields_set_alone() -> None:
    """Assembled records of a kind share one fields-set object (an emit makes thousands):
    what pydantic does to a copy or an unpickled record must not reach the others."""
    first, second = plan_deliveries(_EVENT, [("sub_1", "int_1"), ("sub_2", "int_2")])
    before = set(second.model_fields_set)
    events = [
        serialised_event(
            id=f"evt_{n}",
            topic="a",
            tenant="acme",
            created_at=_EVENT.created_at,
            payload=b"{}",
            dedup_key=None,
        )
        for n in (1, 2)
    ]
    attempts = [
        settled_attempt(
            delivery_id="dlv_1",
            number=n,
            started_at=_EVENT.created_at,
            duration_ms=1.0,
            status_code=200,
            error=None,
            response_excerpt="",
            succeeded=True,
        )
        for n in (1, 2)
    ]
    for one, other in ((first, second), (events[0], events[1]), (attempts[0], attempts[1])):
        kept = set(other.model_fields_set)
        # A field the record was not given, where it has one (an event is given every field).
        field = next((name for name in type(one).model_fields if name not in kept), "id")
        for changed in (
            one.model_copy(update={field: getattr(one, field)}),
            one.model_copy(update={field: getattr(one, field)}, deep=True),
            pickle.loads(pickle.dumps(one)).model_copy(update={field: getattr(one, field)}),
        ):
            assert field in changed.model_fields_set
            assert changed.model_fields_set is not other.model_fields_set
        assert other.model_fields_set == kept
        assert one.model_fields_set == kept
        with pytest.raises(TypeError, match="shared by every record"):
            other.model_fields_set.add(field)
        with pytest.raises(TypeError, match="shared by every record"):
            other.model_fields_set |= {field}
        assert other.model_fields_set == kept
        own = pickle.loads(pickle.dumps(other)).model_fields_set
        own.add(field)  # an unpickled record has a set of its own, as a validated one does
        assert other.model_fields_set == kept == one.model_fields_set
        assert type(one).model_config.get("frozen"), "a shared fields set needs frozen records"
    assert second.model_fields_set == before
