"""The pacing of long deletions (prune, erase): batches sized to a time budget, with rests
that leave the database to the host most of the time."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acadio_webhooks.domain.retention import BatchPacer


def test_without_a_budget_every_batch_is_the_callers_limit_and_none_rests() -> None:
    pacer = BatchPacer(500)
    assert pacer.size == 500
    assert pacer.after(2.0) == 0.0
    assert pacer.size == 500


def test_quick_batches_grow_by_doubling_up_to_the_limit() -> None:
    pacer = BatchPacer(100, budget=0.010, smallest=16)
    assert pacer.size == 16  # a long deletion starts small
    sizes = []
    for _ in range(4):
        pacer.after(0.001)  # ten times quicker than the budget
        sizes.append(pacer.size)
    assert sizes == [32, 64, 100, 100]


def test_slow_batches_shrink_by_halving_down_to_the_smallest() -> None:
    pacer = BatchPacer(500, budget=0.010, smallest=16)
    for _ in range(4):
        pacer.after(0.001)
    assert pacer.size == 256
    sizes = []
    for _ in range(6):
        pacer.after(1.0)  # a hundred times over the budget
        sizes.append(pacer.size)
    assert sizes == [128, 64, 32, 16, 16, 16]


def test_a_batch_on_budget_keeps_its_size_and_rests_for_its_share() -> None:
    pacer = BatchPacer(500, budget=0.010, share=0.25, smallest=16)
    assert pacer.after(0.010) == pytest.approx(0.030)  # batches take a quarter of the time
    assert pacer.size == 16


def test_a_limit_below_the_smallest_batch_is_kept() -> None:
    pacer = BatchPacer(3, budget=0.010, smallest=16)
    assert pacer.size == 3
    pacer.after(1.0)
    assert pacer.size == 3


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"share": 0.0}, "share must be in"),
        ({"share": 1.5}, "share must be in"),
        ({"budget": 0.0}, "budget must be positive"),
        ({"budget": -1.0}, "budget must be positive"),
    ],
)
def test_a_meaningless_pace_is_refused(arguments: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BatchPacer(500, **arguments)  # type: ignore[arg-type]


@given(
    limit=st.integers(1, 10_000),
    budget=st.floats(1e-4, 1.0),
    share=st.floats(0.05, 1.0),
    # Transaction times as a clock reads them: none at all, or a microsecond and up.
    durations=st.lists(st.just(0.0) | st.floats(1e-6, 10.0), max_size=40),
)
def test_sizes_stay_in_bounds_change_at_most_twofold_and_rests_keep_the_share(
    limit: int, budget: float, share: float, durations: list[float]
) -> None:
    pacer = BatchPacer(limit, budget=budget, share=share)
    low = min(limit, pacer.smallest)
    for took in durations:
        before = pacer.size
        rest = pacer.after(took)
        assert low <= pacer.size <= limit
        assert before / 2 - 1 <= pacer.size <= before * 2
        assert rest >= 0.0
        if took > 0:
            assert took / (took + rest) == pytest.approx(share)
