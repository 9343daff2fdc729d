"""Fixtures for the command-line tests: run ``main()`` in-process and capture its output."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from acadio_webhooks.cli import main


@dataclass(frozen=True)
class Result:
    """What one in-process run of the command line produced."""

    code: int
    out: str
    err: str


Run = Callable[..., Result]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    """``run("topics", "--json")`` -> Result(code, out, err)."""

    def invoke(*argv: str) -> Result:
        capsys.readouterr()
        code = main(list(argv))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return invoke
