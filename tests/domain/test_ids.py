"""Identifiers: time-ordered by millisecond; a sequence also orders them within one."""

from __future__ import annotations

import doctest
import os
import threading
from collections.abc import Callable
from types import SimpleNamespace

import pytest
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


def _ids_in_a_forked_child(make: Callable[[], str], count: int) -> list[str]:
    reading, writing = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child, which exits at once
        try:
            os.write(writing, " ".join(make() for _ in range(count)).encode())
        finally:
            os._exit(0)
    os.close(writing)
    with os.fdopen(reading) as made:
        text = made.read()
    os.waitpid(child, 0)
    return text.split()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork (POSIX)")
def test_a_forked_child_and_its_parent_never_make_the_same_ids() -> None:
    # Random digits are drawn for many ids at once; a child must not hand out the rest of
    # its parent's draw (Celery's and gunicorn's workers are forked from one parent).
    new_id("evt")  # the parent holds an unfinished draw
    sequence = IdSequence("dlv")
    for make in (lambda: new_id("evt", now=MOMENT), lambda: sequence(now=MOMENT)):
        in_child = _ids_in_a_forked_child(make, 50)
        in_parent = [make() for _ in range(50)]
        assert len(in_child) == 50
        assert not set(in_child) & set(in_parent)


def test_threads_making_ids_at_once_never_make_the_same_one() -> None:
    made: list[list[str]] = [[] for _ in range(8)]
    start = threading.Barrier(len(made))

    def make(into: list[str]) -> None:
        start.wait()
        into.extend(new_id("att", now=MOMENT) for _ in range(2_000))

    threads = [threading.Thread(target=make, args=(into,)) for into in made]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [ident for into in made for ident in into]
    assert len(set(every)) == len(every) == 16_000


def test_ids_draw_from_the_operating_system_for_many_at_a_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # os.urandom lets go of the GIL, and a thread waits to take it back: once per id, an
    # event loop making attempt ids stalled behind its store thread.
    draws: list[int] = []
    urandom = os.urandom

    def counted(size: int) -> bytes:
        draws.append(size)
        return urandom(size)

    # Only the ids module's own draws: another thread of the test process may use os.urandom.
    monkeypatch.setattr(ids_module, "os", SimpleNamespace(urandom=counted))
    ids_module._digits.forget()
    made = {new_id("att") for _ in range(1_000)}
    assert len(made) == 1_000
    assert len(draws) == 4
