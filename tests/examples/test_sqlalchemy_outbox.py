"""``examples/hosts/sqlalchemy_outbox.py``: commit -> delivered, rollback -> nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.examples.conftest import HOSTS, load_example
from tests.loopback import loopback_receiver

SECRET = "outbox-secret-0123456789"
outbox = load_example("sqlalchemy_outbox")


def _completions(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(sa.select(sa.func.count()).select_from(outbox.completions)).scalar_one()
        )


def test_commit_delivers_and_rollback_sends_nothing(tmp_path: Path) -> None:
    engine, dispatcher = outbox.open_lms(f"sqlite:///{tmp_path / 'lms.db'}", allow_insecure=True)
    with loopback_receiver(SECRET) as receiver, dispatcher:
        integration = dispatcher.integrations.install("tenant-1", secret=SECRET)
        dispatcher.integrations.subscribe(integration.id, "course/completion/*", receiver.url())

        event_id = outbox.record_completion(
            engine, dispatcher, tenant="tenant-1", student_id=3, course_id=7
        )
        assert dispatcher.drain().delivered == 1
        [received] = receiver.received
        assert received.verified
        assert (received.event_id, received.data) == (event_id, {"student_id": 3, "course_id": 7})

        with pytest.raises(RuntimeError, match="failed after emit"):
            outbox.record_completion(
                engine, dispatcher, tenant="tenant-1", student_id=4, course_id=7,
                fail_after_emit=True,
            )  # fmt: skip
        assert _completions(engine) == 1
        assert len(dispatcher.deliveries().items) == 1  # the first one only
        assert dispatcher.drain().attempts == 0
        assert len(receiver.received) == 1
    engine.dispose()


def test_the_script_runs() -> None:
    result = subprocess.run(
        [sys.executable, str(HOSTS / "sqlalchemy_outbox.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "1 completion stored; 1 delivery queued" in result.stdout
