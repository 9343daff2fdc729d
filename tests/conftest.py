"""Fixtures shared by every test module; keep them small and generic."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.services import postgres_database


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session (skips when PostgreSQL is down)."""
    with postgres_database() as url:
        yield url
