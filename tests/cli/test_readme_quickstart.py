"""The README's quick start, followed exactly on a fresh copy of the repository.

``python3 dev.py demo`` on a checkout with no ``.venv``: dev.py creates the virtual
environment, installs the core package only (from the package index), and runs the demo.
This is the first thing a new reader does, so it must keep working from nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.test_demo import assert_demo_output

ROOT = Path(__file__).resolve().parents[2]
COMMAND = "python3 dev.py demo"


def _tracked_files() -> list[str]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout to know which files a fresh clone has")
    listing = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=60
    )
    return [name for name in listing.stdout.decode().split("\0") if name]


def _fresh_copy(target: Path) -> None:
    for name in _tracked_files():
        source = ROOT / name
        if source.is_file():  # tracked but deleted in this working tree: not in a clone
            destination = target / name
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)


def _clean_environment() -> dict[str, str]:
    """This process's environment without any trace of the test run's own virtualenv."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    venv_bin = str(Path(sys.prefix) / "bin")
    env["PATH"] = os.pathsep.join(
        entry for entry in env.get("PATH", "").split(os.pathsep) if entry != venv_bin
    )
    return env


@pytest.mark.timeout(900)
def test_readme_quick_start_demo_on_a_fresh_checkout(tmp_path: Path) -> None:
    assert COMMAND in (ROOT / "README.md").read_text(encoding="utf-8")
    checkout = tmp_path / "acadio-webhooks"
    _fresh_copy(checkout)
    assert not (checkout / ".venv").exists()
    env = _clean_environment()
    python3 = shutil.which("python3", path=env["PATH"]) or sys.executable
    result = subprocess.run(
        [python3, *COMMAND.split()[1:]],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=840,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    assert (checkout / ".venv").is_dir()
    assert_demo_output(result.stdout)
