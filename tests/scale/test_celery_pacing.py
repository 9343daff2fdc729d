"""How the Celery path paces itself: rounds sized to the pool's pace in whole chunks; a kick
that costs the caller a flag and folds a burst into one pump; a worker that knows which
database to ``LISTEN`` on."""

from __future__ import annotations

import logging
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acadio_webhooks.adapters.storage.memory import MemoryStore
from acadio_webhooks.adapters.storage.sql import SqlStore
from acadio_webhooks.celery._kick import Kicker
from acadio_webhooks.celery._resources import listener_for as _listener_for
from acadio_webhooks.celery._rounds import RoundSizer
from tests.services import postgres_database


def test_rounds_grow_to_the_pools_pace_and_shrink_when_it_slows() -> None:
    rounds = RoundSizer(chunk=50, largest=2000)
    assert rounds.first() == 200
    # 200 taken in 50 ms: the pool takes 4,000/s, a quarter second is 1,000; at most x2.
    assert rounds.next(200, 200, 0.05) == 400
    assert rounds.next(400, 400, 0.1) == 800
    assert rounds.next(800, 800, 0.2) == 1000
    assert rounds.next(1000, 1000, 1.0) == 500  # slowed: at most halved
    assert rounds.next(1000, 30, 5.0) == 1000  # ran out of work, not of time: says nothing
    assert rounds.next(1000, 1000, 0.26) == 950  # whole chunks
    assert rounds.share(1000, None) == 125
    assert rounds.share(200, None) == 50  # never less than a chunk
    assert rounds.share(1000, 7) == 7


@given(
    chunk=st.integers(1, 100),
    largest=st.integers(1, 5000),
    size=st.integers(1, 5000),
    handed=st.integers(0, 5000),
    waited=st.floats(0.0, 60.0),
)
def test_a_round_stays_within_its_bounds(
    chunk: int, largest: int, size: int, handed: int, waited: float
) -> None:
    rounds = RoundSizer(chunk=chunk, largest=max(largest, chunk))
    size = min(max(size, chunk), rounds.largest)
    after = rounds.next(size, min(handed, size), waited)
    assert chunk <= after <= rounds.largest
    assert after <= size * 2
    assert after == rounds.largest or after % chunk == 0 or after == size


def test_a_burst_of_kicks_queues_one_pump_after_the_one_in_progress() -> None:
    sending = threading.Event()
    release = threading.Event()
    calls: list[str] = []

    def send() -> None:
        calls.append(threading.current_thread().name)
        sending.set()
        release.wait(10)

    kicker = Kicker(send, gap=0.01)
    kicker.kick()
    assert sending.wait(10)
    for _ in range(1000):  # while the first pump is being published
        kicker.kick()
    sending.clear()
    release.set()
    assert sending.wait(10)  # the burst became one more pump, not a thousand
    assert len(calls) == 2
    assert set(calls) == {"acadio-webhooks-kick"}  # never the kicking thread


def test_a_pump_the_broker_refused_is_logged_and_the_next_kick_still_sends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sent = threading.Event()
    answers = iter([ConnectionError("broker away"), None])

    def send() -> None:
        failure = next(answers)
        if failure is not None:
            raise failure
        sent.set()

    kicker = Kicker(send, gap=0.01)
    with caplog.at_level(logging.WARNING, logger="acadio_webhooks.celery"):
        kicker.kick()
        for _ in range(500):
            if caplog.records:
                break
            threading.Event().wait(0.01)
    assert "could not queue a pump" in caplog.text
    kicker.kick()
    assert sent.wait(10)


def test_the_worker_listens_on_the_stores_postgresql_database_and_nowhere_else() -> None:
    listener = _listener_for("postgresql://webhooks@db.internal/lms", [])
    assert listener is not None
    assert "webhooks@db.internal/lms" in repr(listener)
    assert _listener_for("sqlite:////var/lib/lms/webhooks.db", []) is None
    assert _listener_for(MemoryStore(), []) is None
    with postgres_database() as url:
        opened: list[SqlStore] = []

        def factory() -> SqlStore:
            opened.append(SqlStore(url))
            return opened[0]

        listener = _listener_for(factory, [])
        assert listener is not None
        assert url.split("@")[-1] in repr(listener)
        # Made in the worker's main process only to read the address: closed at once.
        with pytest.raises(Exception, match="closed"):
            opened[0].get_integration("x")
