"""The command line as a whole: help for every command, usage errors, ``python -m``."""

from __future__ import annotations

import subprocess
import sys

import pytest

from acadio_webhooks import __version__
from tests.cli.conftest import Run

COMMANDS = [
    ["demo"],
    ["topics"],
    ["sign"],
    ["verify"],
    ["deliveries"],
    ["deliveries", "list"],
    ["deliveries", "show"],
    ["deliveries", "resend"],
    ["deliveries", "resend-failed"],
    ["integrations"],
    ["integrations", "list"],
    ["integrations", "create"],
    ["integrations", "subscribe"],
    ["integrations", "deactivate"],
    ["worker"],
]


def test_python_m_shows_every_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "acadio_webhooks", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: acadio-webhooks")
    for command in ("demo", "topics", "sign", "verify", "deliveries", "integrations", "worker"):
        assert command in result.stdout


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help(run: Run, command: list[str]) -> None:
    result = run(*command, "--help")
    assert result.code == 0
    assert result.out.startswith(f"usage: acadio-webhooks {' '.join(command)}")


def test_version(run: Run) -> None:
    result = run("--version")
    assert result.code == 0
    assert result.out.strip() == f"acadio-webhooks {__version__}"


@pytest.mark.parametrize(
    "argv",
    [[], ["no-such-command"], ["topics", "--no-such-option"], ["deliveries", "--db", "x.db"]],
    ids=["nothing", "unknown command", "unknown option", "missing action"],
)
def test_usage_errors_exit_2_with_a_message(run: Run, argv: list[str]) -> None:
    result = run(*argv)
    assert result.code == 2
    assert "error:" in result.err
    assert "Traceback" not in result.err
