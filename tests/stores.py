"""Stores to run a test against: memory, a SQLite file, PostgreSQL and MariaDB (services),
wiped."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from acadio_webhooks.adapters.storage.memory import MemoryStore
from acadio_webhooks.adapters.storage.sql import SqlStore
from acadio_webhooks.ports.storage import Store
from tests.adapters.sql_helpers import wipe

STORE_KINDS = [
    "memory",
    "sqlite",
    pytest.param("postgresql", marks=pytest.mark.services),
    pytest.param("mariadb", marks=pytest.mark.services),
]
"""``params`` for a fixture that opens each kind with :func:`open_store`."""


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Each kind of store in turn, fresh and empty, closed afterwards (a plugin of the
    suite: any test may ask for it by name)."""
    made = open_store(request.param, request, tmp_path)
    yield made
    made.close()


def open_store(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """A fresh, empty store of ``kind`` (one of :data:`STORE_KINDS`); the caller closes it."""
    if kind == "memory":
        return MemoryStore()
    if kind == "sqlite":
        return SqlStore(tmp_path / "store.db")
    if kind == "mariadb":
        return wiped_store(request, "mariadb_url")
    return wiped_postgres_store(request)


def wiped_postgres_store(request: pytest.FixtureRequest) -> SqlStore:
    """A store on the session's PostgreSQL database, every table emptied."""
    return wiped_store(request, "postgres_url")


def wiped_store(request: pytest.FixtureRequest, url_fixture: str) -> SqlStore:
    """A store on the session's database of ``url_fixture``, every table emptied."""
    made = SqlStore(request.getfixturevalue(url_fixture))
    wipe(made)
    return made
