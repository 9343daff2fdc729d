"""``acadio-webhooks demo``, the README's main command, end to end."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from acadio_webhooks.adapters.storage.secret_box import FernetSecretBox
from tests.cli.conftest import Run


def _lines_with(output: str, *words: str) -> list[str]:
    return [line for line in output.splitlines() if all(word in line for word in words)]


def assert_demo_output(output: str) -> None:
    """What the README promises the demo shows: deliveries, 7 attempts, the e-mail."""
    delivered = _lines_with(output, "delivered", "1 attempt")
    assert delivered, output
    assert all("1 attempts" not in line for line in delivered)
    assert _lines_with(output, "failed", "7 attempts"), output
    assert "To: lms-admin@demo-school.example" in output
    assert "Subject: Acadio webhooks:" in output
    assert "verified (signature and timestamp)" in output


@pytest.mark.timeout(240)
def test_demo_in_a_subprocess() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "acadio_webhooks", "demo"],
        capture_output=True,
        text=True,
        timeout=200,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert_demo_output(result.stdout)
    assert "allow_insecure=True" in result.stdout  # announced as local-demo-only
    assert "Traceback" not in result.stderr


@pytest.mark.timeout(240)
def test_demo_keeps_its_database_when_asked_and_can_run_on_it_again(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With a key set, the kept database is sealed like every other command's.
    monkeypatch.setenv("ACADIO_WEBHOOKS_SECRET_KEY", FernetSecretBox.new_key())
    kept = tmp_path / "demo.db"
    for _ in range(2):
        result = run("demo", "--db", str(kept))
        assert result.code == 0, result.out + result.err
        assert_demo_output(result.out)
    assert "deactivated int_" in result.out  # the first run's integration
    integration = re.search(r"integration (int_\w+) for tenant", result.out).group(1)  # type: ignore[union-attr]
    listed = json.loads(
        run("deliveries", "--db", str(kept), "list", "--integration", integration, "--json").out
    )
    statuses = sorted((entry["status"], entry["attempts"]) for entry in listed)
    assert statuses == [("delivered", 1)] * 3 + [("failed", 7)]
    engine = sa.create_engine(f"sqlite:///{kept}")
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT secrets FROM acadio_integrations")).scalars().all()
    engine.dispose()
    assert len(stored) == 2
    assert all(secrets.startswith("sealed:") for secrets in stored)
