"""The store every contract test runs against: memory, SQLite, and PostgreSQL (a service)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from acadio_webhooks.adapters.storage.memory import MemoryStore
from acadio_webhooks.ports.storage import Store


@pytest.fixture(
    params=[
        "memory",
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.services),
    ]
)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "memory":
        made: Store = MemoryStore()
    elif request.param == "sqlite":
        from acadio_webhooks.adapters.storage.sql import SqlStore

        made = SqlStore(tmp_path / "store.db")
    else:
        from acadio_webhooks.adapters.storage.sql import SqlStore
        from tests.adapters.sql_helpers import wipe

        url = request.getfixturevalue("postgres_url")
        made = SqlStore(url)
        wipe(made)
    yield made
    made.close()
