#!/usr/bin/env python3
"""Bootstrap and run the project's two quick-start commands on a machine with only Python 3.10+.

    python3 dev.py demo [ARGS...]   # the library's main job on SQLite (see README)
    python3 dev.py test [ARGS...]   # the test suite (pytest; ARGS go to pytest)
    python3 dev.py test --under-load [ARGS...]
                                    # the same, with one CPU-burning process per core beside it
    python3 dev.py lint             # ruff check, ruff format --check, mypy --strict src

Each command creates `.venv` beside this file when it is missing and (re)installs the package
into it whenever `pyproject.toml` changed, so nothing has to be installed by hand.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")

# What each command needs installed: the demo runs on the core package alone.
EXTRAS = {"demo": "", "test": "[dev]", "lint": "[dev]", "docs": "[dev]"}


# Django's own MySQL driver, tested beside PyMySQL when it can be built here: it has no wheel
# for Linux and compiles against the MariaDB / MySQL client headers (Debian: libmariadb-dev,
# which .ci/run installs). Without them its tests skip and say so.
MYSQLCLIENT = "mysqlclient>=2.2"


def _mysqlclient_buildable() -> bool:
    return any(shutil.which(tool) for tool in ("mariadb_config", "mysql_config"))


def _stamp_for(extras: str) -> str:
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    with_mysqlclient = extras == "[dev]" and _mysqlclient_buildable()
    return f"{extras}:{digest}" + ("+mysqlclient" if with_mysqlclient else "")


def ensure_environment(extras: str) -> None:
    """Create `.venv` and install the package with `extras`, unless already up to date."""
    if sys.version_info < (3, 10):  # noqa: UP036 - dev.py runs on whatever python3 is
        sys.exit(f"acadio-webhooks needs Python 3.10 or newer; this is {sys.version.split()[0]}")
    if not PYTHON.exists():
        print(f"dev.py: creating {VENV.relative_to(ROOT)} ...", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    stamp_file = VENV / ".acadio-installed"
    wanted = {_stamp_for(extras)} | ({_stamp_for("[dev]")} if extras == "" else set())
    installed = set(stamp_file.read_text().split()) if stamp_file.exists() else set()
    if installed & wanted:
        return
    print(f"dev.py: installing acadio-webhooks{extras} into .venv ...", flush=True)
    pip = [str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "-e", f"{ROOT}{extras}"], check=True, cwd=ROOT)
    if _stamp_for(extras).endswith("+mysqlclient"):
        subprocess.run([*pip, MYSQLCLIENT], check=True, cwd=ROOT)
    stamp_file.write_text(" ".join(sorted(installed | {_stamp_for(extras)})))


# A burner spins until its time is up or its parent (this script) is gone, whichever is first,
# so a killed test run never leaves one behind for more than a moment. The parent's pid is
# passed in, not read at start: the parent may already be gone by the time a burner starts.
BURNER = """
import os, sys, time
parent, ends = int(sys.argv[1]), time.monotonic() + float(sys.argv[2])
while os.getppid() == parent and time.monotonic() < ends:
    for _ in range(200_000):
        pass
"""
# Longer than any test run (CI allows 90 minutes): a bound, not a schedule.
BURN_SECONDS = 2 * 60 * 60


@contextmanager
def cpu_burners(
    count: int, seconds: float = BURN_SECONDS
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count`` processes that each keep one core busy, stopped when the block ends."""
    burners = [
        subprocess.Popen(
            [sys.executable, "-c", BURNER, str(os.getpid()), str(seconds)], stdin=subprocess.DEVNULL
        )
        for _ in range(count)
    ]
    try:
        yield burners
    finally:
        for burner in burners:
            burner.kill()  # a burner holds nothing that needs a graceful stop
        for burner in burners:
            burner.wait()


def run_tests(args: list[str], env: dict[str, str]) -> int:
    """pytest in .venv; ``--under-load`` among ``args`` runs it beside one burner per core."""
    # Hypothesis settings for a developer's machine unless the caller chose (CI sets "ci").
    env.setdefault("ACADIO_WEBHOOKS_HYPOTHESIS_PROFILE", "dev")
    command = [str(PYTHON), "-m", "pytest"]
    if "--under-load" not in args:
        return subprocess.call([*command, *args], env=env, cwd=ROOT)
    args = [arg for arg in args if arg != "--under-load"]
    cores = os.cpu_count() or 1
    with cpu_burners(cores) as burners:
        pids = ", ".join(str(burner.pid) for burner in burners)
        print(f"dev.py: under load: {cores} CPU burner(s) beside the tests (pids {pids})")
        code = subprocess.call([*command, *args], env=env, cwd=ROOT)
    print(f"dev.py: under load: the {cores} CPU burner(s) are stopped")
    return code


def run(argv: list[str]) -> int:
    """Run one command of the module docstring and return its exit code."""
    if not argv or argv[0] not in EXTRAS:
        print(__doc__)
        return 2
    command, rest = argv[0], argv[1:]
    ensure_environment(EXTRAS[command])
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    if command == "demo":
        return subprocess.call([str(PYTHON), "-m", "acadio_webhooks", "demo", *rest], env=env)
    if command == "test":
        return run_tests(rest, env)
    if command == "docs":
        docs_env = {**env, "NO_MKDOCS_2_WARNING": "1"}
        return subprocess.call(
            [str(PYTHON), "-m", "mkdocs", "build", "--strict", *rest], env=docs_env, cwd=ROOT
        )
    for step in (
        ["-m", "ruff", "check", "."],
        ["-m", "ruff", "format", "--check", "."],
        ["-m", "mypy", "--strict", "src"],
    ):
        code = subprocess.call([str(PYTHON), *step], env=env, cwd=ROOT)
        if code:
            return code
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
