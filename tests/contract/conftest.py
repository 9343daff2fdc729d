"""The store every contract test runs against: memory, SQLite, and PostgreSQL (a service)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from acadio_webhooks.ports.storage import Store
from tests.stores import STORE_KINDS, open_store


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    made = open_store(request.param, request, tmp_path)
    yield made
    made.close()
