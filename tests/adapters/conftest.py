"""Fixtures of the SQL adapter tests: a database on each dialect (SQLite, PostgreSQL and
MariaDB), and a host's own engine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from acadio_webhooks.adapters.storage.sql import SqlStore
from tests.adapters.sql_helpers import wipe


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.services),
        pytest.param("mariadb", marks=pytest.mark.services),
    ]
)
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL: a fresh SQLite file, or the session's PostgreSQL or MariaDB database
    wiped."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    url: str = request.getfixturevalue(f"{request.param}_url".replace("postgresql", "postgres"))
    store = SqlStore(url)
    wipe(store)
    store.close()
    return url


@pytest.fixture
def store(target: str) -> Iterator[SqlStore]:
    made = SqlStore(target)
    yield made
    made.close()


@pytest.fixture
def host_engine(store: SqlStore, target: str) -> Iterator[sa.Engine]:
    """The host application's own engine on the store's database, with one table of its own."""
    engine = sa.create_engine(target.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS lms_grades")
        conn.exec_driver_sql("CREATE TABLE lms_grades (student VARCHAR(100) NOT NULL)")
    yield engine
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE lms_grades")
    engine.dispose()
