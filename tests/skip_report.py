"""A pytest plugin: at the end of a run, what was skipped, why, and how to run it.

A skipped test is a check that did not happen; the reader of a green run should see which
ones and what would turn them on, without rerunning with ``-rs``. With
``ACADIO_WEBHOOKS_REQUIRE_SERVICES=1`` (CI) a run that skipped anything fails: CI has every
service and tool the suite uses, so a skip there hides a broken check.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest

from tests.services import REQUIRE_SERVICES_ENV, services_required

__all__ = ["SkipReport", "how_to_run", "skip_reason"]

SECTION = "skipped tests and how to run them"

# What turns a kind of skip into a run, for reasons that do not already say it themselves.
_HOW_TO_RUN: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"not reachable at 127\.0\.0\.1:(5432|3306|6379|5672)"),
        "start the service on loopback (docs/development.md lists each one, its port and user)",
    ),
    (
        re.compile(r"could not import|No module named|is a dev dependency|extra"),
        "install the development extra: `python3 dev.py test` does it in .venv, "
        "elsewhere `pip install -e '.[dev]'`",
    ),
    (
        re.compile(r"Chromium|Playwright"),
        "`apt-get install chromium` (Debian's browser; `.ci/run` installs it)",
    ),
    (re.compile(r"openssl"), "`apt-get install openssl`"),
    (re.compile(r"node is not installed"), "`apt-get install nodejs`"),
    (re.compile(r"git checkout"), "run the suite from a git clone of the repository"),
)


def skip_reason(report: pytest.TestReport) -> str:
    """The reason a skipped ``report`` gives, without pytest's ``Skipped:`` prefix."""
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return reason.removeprefix("Skipped: ")


def how_to_run(reason: str) -> str | None:
    """What would run a test skipped for ``reason``, when the project knows."""
    for pattern, advice in _HOW_TO_RUN:
        if pattern.search(reason):
            return advice
    return None


class SkipReport:
    """Counts skips by reason; prints them with advice; fails a run that must not skip."""

    def __init__(self) -> None:
        self.reasons: Counter[str] = Counter()

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.skipped and not hasattr(report, "wasxfail"):
            self.reasons[skip_reason(report)] += 1

    @pytest.hookimpl
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.reasons and services_required() and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    @pytest.hookimpl
    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.reasons:
            return
        strict = services_required()
        terminalreporter.section(SECTION, sep="=", red=strict, yellow=not strict)
        for reason, count in sorted(self.reasons.items(), key=lambda item: (-item[1], item[0])):
            terminalreporter.line(f"{count:5d} skipped: {reason}")
            advice = how_to_run(reason)
            if advice is not None:
                terminalreporter.line(f"{'':5s}  to run: {advice}")
        if strict:
            terminalreporter.line(
                f"{REQUIRE_SERVICES_ENV}=1 allows no skips: this run fails", red=True
            )
