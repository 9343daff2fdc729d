"""Fixtures shared by every test module; keep them small and generic."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from tests.services import mariadb_database, postgres_database
from tests.skip_report import SkipReport

pytest_plugins = ["pytester", "tests.stores"]  # tests.stores: the `store` fixture, every kind

# -- Hypothesis profiles --------------------------------------------------------------------
# A property test must fail because the library is wrong, never because the machine is busy:
# every profile drops the per-example deadline and the "input generation is slow" health check
# (both measure wall-clock time). The other health checks (filtering too much, data too large,
# a function-scoped fixture) say something about the test itself and stay on. Tests that set
# max_examples keep theirs; `python3 dev.py test` sets dev, `.ci/run` sets ci.
PROFILE_VARIABLE = "ACADIO_WEBHOOKS_HYPOTHESIS_PROFILE"
PROFILES = ("dev", "ci", "thorough")
_ON_ANY_MACHINE = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])

# dev: new random examples each run; failing ones are kept in .hypothesis/ (Hypothesis's
# default database) and replayed first on the next run while a developer fixes the bug.
settings.register_profile("dev", _ON_ANY_MACHINE)
# ci: a clean clone has no database to keep; a failure prints the `@reproduce_failure` blob
# that replays it anywhere. Examples stay random so that CI keeps exploring.
settings.register_profile("ci", _ON_ANY_MACHINE, database=None, print_blob=True)
# thorough: ten times the default examples, for a nightly run or before a release.
settings.register_profile("thorough", _ON_ANY_MACHINE, max_examples=1000)


def pytest_configure(config: pytest.Config) -> None:
    # Runs before any test module is collected, so module-level `settings(...)` inherit it.
    profile = _chosen_profile()
    if profile not in PROFILES:
        raise pytest.UsageError(
            f"{PROFILE_VARIABLE}={profile!r} names no Hypothesis profile; "
            f"use one of {', '.join(PROFILES)}"
        )
    settings.load_profile(profile)
    config.pluginmanager.register(SkipReport(), "acadio-skip-report")


def pytest_report_header() -> str:
    return f"hypothesis profile: {_chosen_profile()} ({PROFILE_VARIABLE}: {', '.join(PROFILES)})"


def _chosen_profile() -> str:
    return os.environ.get(PROFILE_VARIABLE, "dev")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session (skips when PostgreSQL is down)."""
    with postgres_database() as url:
        yield url


@pytest.fixture(scope="session")
def mariadb_url() -> Iterator[str]:
    """A fresh MariaDB database for this test session (skips when MariaDB is down)."""
    with mariadb_database() as url:
        yield url
