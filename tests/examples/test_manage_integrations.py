"""``examples/manage_integrations.py`` (shown whole on the "Managing integrations" page) runs,
and what it leaves in the SQLite file survives reopening the store."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from acadio_webhooks import DeliveryQuery, SqlStore

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "manage_integrations.py"


def test_the_admin_flow_example_runs_and_its_data_persists(tmp_path: Path) -> None:
    database = tmp_path / "webhooks.db"
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), str(database)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    lines = done.stdout.splitlines()
    assert "course/completion/create     -> http://127.0.0.1:8001/hooks (active)" in lines
    assert "course/*                     -> http://127.0.0.1:8000/all (paused)" in lines
    assert "active: False" in lines
    assert "s3cret" not in done.stdout
    assert "n3w-secret" not in done.stdout

    reopened = SqlStore(f"sqlite:///{database}")
    try:
        [integration] = reopened.list_integrations("tenant-42")
        assert not integration.active
        assert integration.notification_email == "lms-admin@example.com"
        assert len(integration.secrets) == 2  # the rotated-out secret signs for the overlap
        [delivery] = reopened.list_deliveries(DeliveryQuery(tenant="tenant-42")).items
        assert delivery.status.value == "cancelled"  # deactivation cancelled it
    finally:
        reopened.close()
