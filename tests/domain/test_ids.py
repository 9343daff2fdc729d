"""Identifiers: time-ordered by millisecond; a sequence also orders them within one."""

from __future__ import annotations

import doctest

from hypothesis import given
from hypothesis import strategies as st

from acadio_webhooks.domain import ids as ids_module
from acadio_webhooks.domain.ids import IdSequence, new_id

MOMENT = 1767225600.0


def test_ids_sort_by_millisecond_and_carry_their_prefix() -> None:
    earlier, later = new_id("evt", now=MOMENT), new_id("evt", now=MOMENT + 0.001)
    assert earlier < later
    assert earlier.startswith("evt_")
    assert len(earlier) == len("evt_") + 32


@given(st.lists(st.floats(min_value=0, max_value=0.01), min_size=1, max_size=50))
def test_a_sequence_sorts_in_the_order_made_within_and_across_milliseconds(
    offsets: list[float],
) -> None:
    sequence = IdSequence("dlv")
    moments = [MOMENT + offset for offset in sorted(offsets)]
    made = [sequence(now=moment) for moment in moments]
    assert made == sorted(made)
    assert len(set(made)) == len(made)
    assert all(len(ident) == len("dlv_") + 32 for ident in made)


def test_a_sequence_counts_up_within_a_millisecond_even_after_leaving_it() -> None:
    sequence = IdSequence("dlv")
    first = sequence(now=MOMENT)
    sequence(now=MOMENT + 1)
    again = sequence(now=MOMENT)
    assert first < again
    assert int(again[-20:], 16) == int(first[-20:], 16) + 1


def test_the_module_examples_hold() -> None:
    results = doctest.testmod(ids_module)
    assert results.failed == 0
    assert results.attempted >= 1
