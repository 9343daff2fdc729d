"""Every benchmark in ``benchmarks/`` runs to its end in its ``--smoke`` mode.

A benchmark is run by hand, rarely; without this a refactor could break one (as the delivery
benchmark's report once crashed on a tuple) and nobody would notice until the next
measurement. The smoke run sends a handful of requests, so its figures mean nothing and
nothing here looks at them: it checks that the script exits 0 and prints what a reader needs
(the machine's load, its ratios, a verdict per target), never how fast anything was.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.services import (
    MARIADB_HOST,
    MARIADB_PORT,
    POSTGRES_HOST,
    POSTGRES_PORT,
    require_tcp_service,
    unavailable,
)

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = sorted((ROOT / "benchmarks").glob("bench_*.py"))
VERDICT = re.compile(
    r"^  (MET   |MISSED) .+: -?[\d,.]+ ?\S* \(target (<=|>=) [\d,.]+ ?\S*\)$", re.M
)
# What each benchmark needs beyond Python, and which of the suite's services.
NEEDS_POSTGRES = {
    "bench_celery",
    "bench_delivery",
    "bench_emit",
    "bench_history",
    "bench_prune",
    "bench_rate_limit",
    "bench_scale",
}
NEEDS_MARIADB = {"bench_emit", "bench_history"}
NEEDS_RABBITMQ = {"bench_celery", "bench_scale"}
NEEDS_VALGRIND = {"bench_overhead"}


def test_every_benchmark_is_covered() -> None:
    assert [path.stem for path in BENCHMARKS] == [
        "bench_celery",
        "bench_delivery",
        "bench_emit",
        "bench_history",
        "bench_matching",
        "bench_overhead",
        "bench_prune",
        "bench_rate_limit",
        "bench_scale",
        "bench_signing",
        "bench_transport",
        "bench_worker_gc",
    ]


def _require_tools(name: str) -> None:
    if name in NEEDS_POSTGRES:
        require_tcp_service("PostgreSQL", POSTGRES_HOST, POSTGRES_PORT)
    if name in NEEDS_MARIADB:
        require_tcp_service("MariaDB", MARIADB_HOST, MARIADB_PORT)
    if name in NEEDS_RABBITMQ:
        require_tcp_service("RabbitMQ", "127.0.0.1", 5672)
    if name in NEEDS_VALGRIND and shutil.which("valgrind") is None:
        unavailable("valgrind is not installed (apt-get install valgrind)")


@pytest.mark.timeout(600)
@pytest.mark.parametrize("script", BENCHMARKS, ids=[path.stem for path in BENCHMARKS])
def test_the_benchmark_runs_and_reports_its_targets(script: Path) -> None:
    _require_tools(script.stem)
    result = subprocess.run(
        [sys.executable, str(script), "--smoke"],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=540,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    output = result.stdout
    assert result.returncode == 0, f"{script.name} --smoke failed:\n{output}\n{result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr
    assert "SMOKE RUN" in output
    assert "load average" in output
    assert "\ntargets:\n" in output, output
    assert VERDICT.search(output), f"no MET/MISSED line in:\n{output}"
    # A part left out for a missing service would make the run prove less than it says.
    assert "skipped" not in output.lower(), output
