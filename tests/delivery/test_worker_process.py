"""``tune_worker_process``: the garbage collector of a process that only delivers.

Each case runs in a fresh interpreter: the settings are the whole process's, and this test
process must keep the defaults every other test runs with.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from acadio_webhooks import Dispatcher, EndpointPolicy
from acadio_webhooks.adapters.storage.memory import MemoryStore
from acadio_webhooks.adapters.transport.recording import AsyncRecordingTransport
from acadio_webhooks.worker import tune_worker_process
from acadio_webhooks.worker._process import YOUNG_THRESHOLD_FLOOR, young_threshold_for

SECRET = "process-secret-0123456789abcdef"


def _in_fresh_process(code: str) -> dict[str, Any]:
    """Run ``code`` in a new interpreter; the JSON it prints last."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_tuning_freezes_start_up_objects_and_makes_room_for_the_attempts_in_flight() -> None:
    seen = _in_fresh_process(
        """
        import gc, json
        from acadio_webhooks.worker import tune_worker_process
        before = gc.get_threshold()
        tuning = tune_worker_process(50)
        print(json.dumps({
            "before": before, "after": gc.get_threshold(), "frozen": gc.get_freeze_count(),
            "tuning": [tuning.frozen, tuning.young_threshold_before, tuning.young_threshold],
        }))
        """
    )
    young, middle, old = seen["before"]
    assert seen["after"] == [YOUNG_THRESHOLD_FLOOR, middle, old]
    # Start-up (the imports above) is out of every later pass, as reported.
    assert seen["frozen"] > 1_000
    assert seen["tuning"] == [seen["frozen"], young, YOUNG_THRESHOLD_FLOOR]


def test_room_grows_with_the_concurrency_and_a_higher_threshold_already_set_is_kept() -> None:
    seen = _in_fresh_process(
        """
        import gc, json
        from acadio_webhooks.worker import tune_worker_process
        wide = tune_worker_process(500).young_threshold
        gc.set_threshold(1_000_000, 10, 10)
        kept = tune_worker_process(50)
        print(json.dumps({"wide": wide, "kept": kept.young_threshold, "now": gc.get_threshold()}))
        """
    )
    assert seen["wide"] == young_threshold_for(500) > YOUNG_THRESHOLD_FLOOR
    assert seen["kept"] == 1_000_000
    assert seen["now"] == [1_000_000, 10, 10]


def test_a_concurrency_below_one_is_refused_before_anything_changes() -> None:
    before = (gc.get_threshold(), gc.get_freeze_count())
    with pytest.raises(ValueError, match="concurrency must be >= 1, got 0"):
        tune_worker_process(0)
    assert (gc.get_threshold(), gc.get_freeze_count()) == before


def test_a_worker_in_the_host_process_leaves_its_garbage_collector_alone() -> None:
    # start_worker() runs inside the host's web process: only a process of the worker's
    # own may be tuned, and only by asking.
    before = (gc.get_threshold(), gc.get_freeze_count())
    transport = AsyncRecordingTransport()
    with Dispatcher(MemoryStore(), endpoint_policy=EndpointPolicy(allow_insecure=True)) as host:
        integration = host.integrations.install("tenant-1", secret=SECRET)
        host.integrations.subscribe(integration.id, "course/*", "http://127.0.0.1:9/in")
        host.start_worker(transport=transport)
        host.emit("course/completion/create", {"n": 1}, tenant="tenant-1")
        host.drain()
    assert (gc.get_threshold(), gc.get_freeze_count()) == before
