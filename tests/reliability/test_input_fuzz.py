"""Bad input at the host's front door, fuzzed with hypothesis against a real SQLite store.

``emit`` either stores the event (and its bytes decode back to exactly the data given), or
raises one of the library's own errors and stores nothing. The same holds for ``subscribe``
with arbitrary patterns and endpoints. ``verify()`` is fuzzed in tests/domain.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from acadio_webhooks.adapters.clock import FakeClock
from acadio_webhooks.adapters.resolver import StaticResolver
from acadio_webhooks.adapters.storage.sql import SqlStore
from acadio_webhooks.adapters.storage.sql.schema import deliveries, events, subscriptions
from acadio_webhooks.dispatcher import Dispatcher
from acadio_webhooks.domain.signing import Signer, encode_event_body
from acadio_webhooks.domain.topics import TOPICS
from acadio_webhooks.domain.verification import verify
from acadio_webhooks.errors import (
    InvalidEndpoint,
    InvalidInput,
    InvalidPattern,
    InvalidPayload,
    InvalidTopic,
    PatternMatchesNothing,
    UnknownTopic,
    VerificationError,
)
from tests.reliability.worlds import SECRET, Figures
from tests.strategies import grammar_like_text, patterns

EXAMPLES = 250
fuzz = settings(
    max_examples=EXAMPLES,
    # The autouse `loopback_only` guard is function-scoped and meant to span every example:
    # no example may open a socket outside loopback.
    suppress_health_check=[
        *settings.default.suppress_health_check,
        HealthCheck.function_scoped_fixture,
    ],
)

TOPIC = "course/completion/create"
ONCE_A_DAY = "course/activity/create"
TENANT = "acme"


class FrontDoor:
    """A dispatcher on a SQLite file with one integration subscribed to everything."""

    def __init__(self, folder: Path) -> None:
        self.store = SqlStore(folder / "fuzz.db")
        self.clock = FakeClock()
        self.dispatcher = Dispatcher(
            self.store,
            clock=self.clock,
            resolver=StaticResolver({"hooks.example.com": ["93.184.216.34"]}),
        )
        self.integration = self.dispatcher.integrations.install(TENANT, secret=SECRET)
        self.dispatcher.integrations.subscribe(
            self.integration.id, "*", "https://hooks.example.com/all"
        )

    def counts(self) -> tuple[int, int, int]:
        with self.store.engine.connect() as conn:
            return tuple(  # type: ignore[return-value]
                conn.execute(select(func.count()).select_from(table)).scalar_one()
                for table in (events, deliveries, subscriptions)
            )


@pytest.fixture(scope="module")
def door(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FrontDoor]:
    made = FrontDoor(tmp_path_factory.mktemp("fuzz"))
    yield made
    made.dispatcher.close()


# -- payloads ---------------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
hostile_scalars = (
    st.floats()  # NaN and both infinities included
    | st.integers(min_value=10**4300, max_value=10**4400)  # past Python's str() digit limit
    | st.binary(max_size=8)
    | st.sampled_from(["\ud800", "ok\udfff", "\x00"])  # lone surrogates cannot be UTF-8
    | st.builds(Decimal, st.decimals(allow_nan=True))
    | st.builds(set, st.lists(st.integers(), max_size=2))
    | st.builds(object)
    | st.datetimes()
    | st.complex_numbers()
)
values = st.recursive(
    json_scalars | hostile_scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=8), inner, max_size=4)
        | st.dictionaries(st.integers() | st.none() | st.booleans(), inner, min_size=1, max_size=2)
    ),
    max_leaves=12,
)


def nested(depth: int) -> Any:
    value: Any = "bottom"
    for level in range(depth):
        value = [value] if level % 2 else {"d": value}
    return value


def cyclic(kind: int) -> Any:
    loop: Any = [] if kind else {}
    if kind:
        loop.append(loop)
    else:
        loop["self"] = loop
    return loop


payloads = st.one_of(
    st.dictionaries(st.text(max_size=10), values, max_size=5),
    st.dictionaries(st.text(max_size=10), json_scalars, max_size=5),
    st.integers(1, 200).map(lambda depth: {"deep": nested(depth)}),
    st.integers(200_000, 300_000).map(lambda size: {"huge": "x" * size}),
    st.integers(0, 1).map(lambda kind: {"loop": cyclic(kind)}),
    values,  # mostly not a mapping at all
)


T = TypeVar("T")


def outcome(call: Callable[[], T]) -> tuple[T | None, Exception | None]:
    """``(result, None)``, or ``(None, error)`` for any exception: the test judges which."""
    try:
        return call(), None
    except Exception as error:  # an unexpected type is what the test is looking for
        return None, error


def jsonable(value: Any) -> Any:
    """What a faithful JSON round trip of ``value`` gives back (tuples become lists)."""
    if isinstance(value, dict):
        return {key: jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    return value


@fuzz
@given(data=payloads)
def test_emit_stores_exactly_the_data_or_refuses_it_and_stores_nothing(
    door: FrontDoor, data: Any, figures: Figures
) -> None:
    before = door.counts()
    event_id, refused = outcome(lambda: door.dispatcher.emit(TOPIC, data, tenant=TENANT))
    if refused is not None:
        assert isinstance(refused, InvalidPayload), refused
        assert str(refused)
        assert door.counts() == before
        figures.add("fuzz", emit_cases=1, emit_refused=1)
        return
    assert event_id is not None
    stored = json.loads(door.dispatcher.event(event_id).payload)
    assert stored["data"] == jsonable(data)
    assert not _has_nan(stored["data"])
    assert door.counts() == (before[0] + 1, before[1] + 1, before[2])
    figures.add("fuzz", emit_cases=1, emit_stored=1)


def _has_nan(value: Any) -> bool:
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, dict):
        return any(_has_nan(item) for item in value.values())
    if isinstance(value, list):
        return any(_has_nan(item) for item in value)
    return False


# -- the other arguments of emit --------------------------------------------------------------

texts = st.one_of(
    st.text(max_size=20),
    st.text(min_size=250, max_size=700),
    st.sampled_from(["", " ", "\ud800", "a\x00b", "acme\x1fcourse"]),
)
topic_texts = st.one_of(
    st.sampled_from([t.name for t in TOPICS]),
    grammar_like_text,
    st.text(max_size=30),
    st.text(min_size=250, max_size=300, alphabet="ab/"),
)
moments = st.one_of(
    st.none(),
    st.datetimes(timezones=st.just(timezone.utc)),
    st.datetimes(),  # naive: no time zone
    st.datetimes(timezones=st.timezones()),
)
EMIT_ERRORS = (InvalidPayload, InvalidTopic, UnknownTopic)


@fuzz
@given(
    topic=topic_texts,
    tenant=texts,
    dedup_key=st.none() | texts,
    occurred_at=moments,
)
def test_every_emit_argument_is_checked_before_anything_is_stored(
    door: FrontDoor,
    topic: str,
    tenant: str,
    dedup_key: str | None,
    occurred_at: datetime | None,
    figures: Figures,
) -> None:
    before = door.counts()
    event_id, refused = outcome(
        lambda: door.dispatcher.emit(
            topic, {"n": 1}, tenant=tenant, dedup_key=dedup_key, occurred_at=occurred_at
        )
    )
    if refused is not None:
        assert isinstance(refused, EMIT_ERRORS), refused
        assert str(refused)
        assert door.counts() == before
        figures.add("fuzz", emit_argument_cases=1, emit_argument_refused=1)
        return
    if event_id is None:  # a repeated de-duplication key: nothing new stored
        assert dedup_key
        assert door.counts() == before
    else:
        event = door.dispatcher.event(event_id)
        assert (event.topic, event.tenant) == (topic, tenant)
        assert event.created_at.tzinfo is not None
    figures.add("fuzz", emit_argument_cases=1)


def test_a_long_dedup_key_still_deduplicates(door: FrontDoor) -> None:
    key = "student-7:" + "activity-" * 100
    day = datetime(2026, 3, 3, 9, tzinfo=timezone.utc)

    first = door.dispatcher.emit(ONCE_A_DAY, {}, tenant=TENANT, dedup_key=key, occurred_at=day)
    again = door.dispatcher.emit(
        ONCE_A_DAY, {}, tenant=TENANT, dedup_key=key, occurred_at=day + timedelta(hours=3)
    )
    other = door.dispatcher.emit(
        ONCE_A_DAY, {}, tenant=TENANT, dedup_key=key + "x", occurred_at=day
    )

    assert first is not None
    assert again is None
    assert other is not None


def test_once_a_day_means_the_utc_day_whatever_zone_the_host_passes(door: FrontDoor) -> None:
    # 23:30 in New York on March 3rd and 05:00 in Paris on March 4th are both March 4th UTC.
    new_york = timezone(timedelta(hours=-5))
    paris = timezone(timedelta(hours=1))
    evening = datetime(2026, 3, 3, 23, 30, tzinfo=new_york)
    morning = datetime(2026, 3, 4, 5, 0, tzinfo=paris)

    first = door.dispatcher.emit(
        ONCE_A_DAY, {}, tenant=TENANT, dedup_key="s9:a9", occurred_at=evening
    )
    again = door.dispatcher.emit(
        ONCE_A_DAY, {}, tenant=TENANT, dedup_key="s9:a9", occurred_at=morning
    )

    assert first is not None
    assert again is None


# -- subscriptions -----------------------------------------------------------------------------

endpoints = st.one_of(
    st.just("https://hooks.example.com/ok"),
    st.text(max_size=40),
    st.builds("https://{}/".format, st.text(max_size=20)),
    st.sampled_from(["https://127.0.0.1/", "http://hooks.example.com/", "https://unknown.test/"]),
)
SUBSCRIBE_ERRORS = (InvalidPattern, PatternMatchesNothing, InvalidEndpoint, InvalidInput)


@fuzz
@given(pattern=st.one_of(patterns, grammar_like_text, st.text(max_size=40)), endpoint=endpoints)
def test_subscribe_accepts_a_valid_pattern_and_endpoint_or_stores_nothing(
    door: FrontDoor, pattern: str, endpoint: str, figures: Figures
) -> None:
    before = door.counts()
    made, refused = outcome(
        lambda: door.dispatcher.integrations.subscribe(door.integration.id, pattern, endpoint)
    )
    if refused is not None:
        assert isinstance(refused, SUBSCRIBE_ERRORS), refused
        assert str(refused)
        assert door.counts() == before
        figures.add("fuzz", subscribe_cases=1, subscribe_refused=1)
        return
    assert made is not None
    assert (made.pattern, made.endpoint) == (pattern, endpoint)
    assert door.counts()[2] == before[2] + 1
    door.dispatcher.integrations.unsubscribe(made.id)
    figures.add("fuzz", subscribe_cases=1)


# -- verify() on bodies that are correctly signed but anything else -----------------------------
# tests/domain/test_verify_fuzz.py throws arbitrary requests at verify(); nearly all of them
# stop at the signature. Here the signature is right, so every body reaches the JSON decoder.

VERIFY_NOW = 1_767_225_600
signed_bodies = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200).map(str.encode),
    st.integers(1, 200_000).map(lambda n: b"[" * n + b"]" * n),  # past the recursion limit
    st.integers(1, 100_000).map(lambda n: b'{"data":' * n + b"{}" + b"}" * n),
    st.integers(4_000, 6_000).map(lambda n: b'{"id":"e","data":{"n":' + b"7" * n + b"}}"),
    st.sampled_from(
        [
            b'{"id":"e","topic":"a/b/c","data":{"x":NaN}}',
            b'{"id":"e","data":{"x":1e400}}',
            b'{"id":"e","id":"f","data":{}}',
            b"\xef\xbb\xbf{}",
            '{"data":{}}'.encode("utf-16"),
            b'{"id":"e","data":{"s":"\\ud800"}}',
            b'{"id":1,"topic":[],"created_at":{},"tenant":null,"data":[]}',
        ]
    ),
    st.builds(  # well-formed events: these verify and come back unchanged
        lambda data: encode_event_body(
            "evt_1", TOPIC, datetime(2026, 1, 1, tzinfo=timezone.utc), TENANT, data
        ),
        st.dictionaries(
            st.text(max_size=5),
            st.recursive(
                json_scalars,
                lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner),
                max_leaves=10,
            ),
            max_size=4,
        ),
    ),
)


@fuzz
@given(body=signed_bodies, secret=st.binary(min_size=1, max_size=40))
def test_verify_refuses_any_correctly_signed_body_it_cannot_read_with_its_own_error(
    body: bytes, secret: bytes, figures: Figures
) -> None:
    headers = Signer(secret).headers(body, event_id="evt_1", topic=TOPIC, timestamp=VERIFY_NOW)
    event, refused = outcome(lambda: verify(body, headers, secret, now=VERIFY_NOW))
    if refused is not None:
        assert isinstance(refused, VerificationError), repr(refused)[:300]
        figures.add("fuzz", verify_signed_cases=1, verify_refused=1)
        return
    assert event is not None
    assert event.raw == body
    figures.add("fuzz", verify_signed_cases=1, verify_accepted=1)
