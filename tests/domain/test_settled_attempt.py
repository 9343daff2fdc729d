"""``settled_attempt``: the core's unvalidated fast path builds exactly what ``Attempt`` would."""

from __future__ import annotations

import pickle
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from acadio_webhooks.domain._trusted import settled_attempt
from acadio_webhooks.domain.models import Attempt
from tests.domain.fast_records import fields_near_edges, outcome


class _Text(str):
    """A str subclass: must take the validated path."""


class _Number(int):
    """An int subclass: must take the validated path."""


_valid: dict[str, st.SearchStrategy[Any]] = {
    "delivery_id": st.text(max_size=20),
    "number": st.integers(1, 10),
    "started_at": st.datetimes(timezones=st.just(timezone.utc)),
    "duration_ms": st.floats(min_value=0, allow_nan=False),
    "status_code": st.one_of(st.none(), st.integers(100, 599)),
    "error": st.one_of(st.none(), st.text(max_size=5), st.just("e" * 1000)),
    "response_excerpt": st.one_of(st.text(max_size=5), st.just("r" * 4096)),
    "succeeded": st.booleans(),
}
# Values next to the fast path's conditions: subclasses, other types, out of range, not UTC.
_edges: dict[str, st.SearchStrategy[Any]] = {
    "delivery_id": st.text(max_size=5).map(_Text),
    "number": st.one_of(st.integers(-2, 0), st.integers(1, 5).map(_Number), st.booleans()),
    "started_at": st.one_of(
        st.datetimes(timezones=st.just(timezone(timedelta(hours=2)))), st.datetimes()
    ),
    "duration_ms": st.one_of(st.floats(max_value=-0.001), st.just(float("nan")), st.integers(0, 5)),
    "status_code": st.one_of(st.just("200"), st.just(200.0), st.just(True)),
    "error": st.one_of(st.just("e" * 1001), st.text(max_size=5).map(_Text)),
    "response_excerpt": st.one_of(st.just("r" * 4097), st.just(b"bytes")),
    "succeeded": st.one_of(st.integers(0, 1), st.just("true")),
}


@settings(max_examples=300)
@given(fields_near_edges(_valid, _edges))
def test_settled_attempt_is_what_validation_builds(fields: dict[str, Any]) -> None:
    fast = outcome(settled_attempt, fields)
    validated = outcome(Attempt, fields)
    if isinstance(validated, str):
        assert fast == validated
        return
    assert isinstance(fast, Attempt)
    assert fast.id != validated.id
    assert fast.id.startswith("att_")
    same_id = validated.model_copy(update={"id": fast.id})
    assert fast == same_id
    assert fast.model_dump() == same_id.model_dump()
    assert fast.model_fields_set == validated.model_fields_set
    for name in Attempt.model_fields:
        assert type(getattr(fast, name)) is type(getattr(validated, name)), name
    assert fast.started_at.tzinfo is timezone.utc


def test_a_fast_attempt_behaves_like_a_validated_one() -> None:
    attempt = settled_attempt(
        delivery_id="dlv_1",
        number=2,
        started_at=datetime(2026, 3, 3, 12, 0, tzinfo=timezone.utc),
        duration_ms=12.5,
        status_code=503,
        error=None,
        response_excerpt="busy",
        succeeded=False,
    )
    assert attempt.summary == "503"
    assert hash(attempt) == hash(attempt.model_copy())
    assert pickle.loads(pickle.dumps(attempt)) == attempt
    assert Attempt.model_validate_json(attempt.model_dump_json()) == attempt
    with pytest.raises(ValidationError):
        attempt.number = 3  # type: ignore[misc]  # frozen, like any Attempt


def test_a_start_with_no_utc_moment_is_refused_naming_the_field() -> None:
    # A day from datetime.min, east of UTC, is before year 1 in UTC: astimezone overflows.
    fields = {
        "delivery_id": "dlv_1",
        "number": 1,
        "started_at": datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=2))),
        "duration_ms": 1.0,
        "status_code": 200,
        "error": None,
        "response_excerpt": "",
        "succeeded": True,
    }
    expected = f"refused: {[str(('started_at',))]}"
    assert outcome(settled_attempt, fields) == outcome(Attempt, fields) == expected
