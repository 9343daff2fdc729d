"""The pure pieces every transport shares: Retry-After, the body cap, timeouts, pool choice."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from acadio_webhooks.adapters.transport import TransportTimeouts
from acadio_webhooks.adapters.transport._common import (
    BodyCollector,
    ShardPicker,
    parse_retry_after,
    validate_limits,
)

NOW = datetime(2015, 10, 21, 7, 28, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        ("0", 0.0),
        (" 7 ", 7.0),
        ("Wed, 21 Oct 2015 07:29:30 GMT", 90.0),  # IMF-fixdate
        ("Wednesday, 21-Oct-15 07:29:30 GMT", 90.0),  # obsolete RFC 850 form
        ("Wed Oct 21 07:29:30 2015", 90.0),  # obsolete asctime form, no zone: GMT
        ("Wed, 21 Oct 2015 07:00:00 GMT", 0.0),  # already past: retry now
        (None, None),
        ("", None),
        ("-5", None),
        ("1.5", None),
        ("soon", None),
        ("٣", None),  # a digit, but not an ASCII one
        ("Wed, 32 Oct 2015 07:29:30 GMT", None),
    ],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, NOW) == seconds


def test_the_body_collector_keeps_the_excerpt_and_stops_past_the_cap() -> None:
    body = BodyCollector(max_bytes=10, excerpt_bytes=4)

    assert body.feed(b"abc")
    assert body.feed(b"defgh")
    assert not body.feed(b"ijk")
    assert (body.excerpt, body.received, body.truncated) == (b"abcd", 11, True)


def test_a_body_exactly_at_the_cap_is_not_truncated() -> None:
    body = BodyCollector(max_bytes=4, excerpt_bytes=4)

    assert body.feed(b"abcd")
    assert (body.excerpt, body.truncated) == (b"abcd", False)


@pytest.mark.parametrize(("max_bytes", "excerpt"), [(-1, 0), (10, -1), (10, 11)])
def test_nonsensical_limits_are_refused(max_bytes: int, excerpt: int) -> None:
    with pytest.raises(ValueError, match="bytes"):
        validate_limits(max_bytes, excerpt)


@pytest.mark.parametrize("field", ["connect", "read", "write", "total"])
@pytest.mark.parametrize("value", [0, -1, float("inf"), float("nan")])
def test_timeouts_must_be_positive_and_finite(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=f"TransportTimeouts.{field}"):
        TransportTimeouts(**{field: value})


def test_the_shard_picker_fills_the_home_pool_then_spills_into_the_next() -> None:
    picker = ShardPicker(shards=3, slots_per_shard=2)

    assert [picker.acquire(home=1) for _ in range(6)] == [1, 1, 2, 2, 0, 0]
    picker.release(2)
    assert picker.acquire(home=1) == 2


def test_when_every_pool_is_full_the_least_busy_one_queues() -> None:
    picker = ShardPicker(shards=2, slots_per_shard=1)
    picker.acquire(), picker.acquire()  # both pools full

    assert [picker.acquire() for _ in range(4)] == [0, 1, 0, 1]


def test_sequential_traffic_to_one_endpoint_stays_in_its_home_pool() -> None:
    picker = ShardPicker(shards=4, slots_per_shard=5)
    for _ in range(3):
        shard = picker.acquire(home=4 * 1000 + 3)
        picker.release(shard)
        assert shard == 3


def test_endpoints_with_different_homes_do_not_share_a_pool_while_there_is_room() -> None:
    picker = ShardPicker(shards=4, slots_per_shard=1)

    assert [picker.acquire(home) for home in (0, 1, 2)] == [0, 1, 2]
