"""Fixtures of the SQL adapter tests: each test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from acadio_webhooks.adapters.storage.sql import SqlStore
from tests.adapters.sql_helpers import wipe


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL: a fresh SQLite file, or the session's PostgreSQL database wiped."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    url: str = request.getfixturevalue("postgres_url")
    store = SqlStore(url)
    wipe(store)
    store.close()
    return url


@pytest.fixture
def store(target: str) -> Iterator[SqlStore]:
    made = SqlStore(target)
    yield made
    made.close()
