"""``open_store`` turns one configuration string into the right store."""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import Any

import pytest

from acadio_webhooks.adapters.storage import open_store
from acadio_webhooks.adapters.storage.memory import MemoryStore
from acadio_webhooks.adapters.storage.sql import SqlStore
from acadio_webhooks.adapters.storage.sql._engine import normalise_url


def test_memory_url_gives_a_memory_store() -> None:
    assert isinstance(open_store("memory://"), MemoryStore)


@pytest.mark.parametrize("form", ["path", "pathlike", "url"])
def test_sqlite_targets_open_the_same_file(tmp_path: Path, form: str) -> None:
    path = tmp_path / "hooks.db"
    target = {"path": str(path), "pathlike": path, "url": f"sqlite:///{path}"}[form]
    store = open_store(target)
    try:
        assert isinstance(store, SqlStore)
        assert store.dialect == "sqlite"
        assert Path(store.engine.url.database or "") == path
        assert path.exists()
    finally:
        store.close()


@pytest.mark.parametrize(
    "url",
    [
        "postgres://u@127.0.0.1/db",
        "postgresql://u@127.0.0.1/db",
        "postgresql+psycopg://u@127.0.0.1/db",
    ],
)
def test_postgresql_urls_use_psycopg(url: str) -> None:
    store = open_store(url, create=False)  # nothing connects before the first query
    try:
        assert isinstance(store, SqlStore)
        assert store.engine.url.drivername == "postgresql+psycopg"
    finally:
        store.close()


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("mysql://u@127.0.0.1/db", "mysql+pymysql"),
        ("mysql+pymysql://u@127.0.0.1/db", "mysql+pymysql"),
        ("mariadb://u@127.0.0.1/db", "mariadb+pymysql"),
    ],
)
def test_mysql_urls_use_pymysql_in_utf8mb4(url: str, driver: str) -> None:
    store = open_store(url, create=False)  # nothing connects before the first query
    try:
        assert isinstance(store, SqlStore)
        assert store.engine.url.drivername == driver
        assert store.engine.url.query["charset"] == "utf8mb4"
        assert store.dialect == "mysql"
    finally:
        store.close()


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("oracle://u@host/db", "unsupported database"),
        ("mysql+mysqldb://u@host/db", "unsupported database"),
        ("sqlite://", "in-memory SQLite"),
        ("sqlite:///:memory:", "in-memory SQLite"),
        ("postgresql+pg8000://u@h/db", "unsupported database"),
        ("sqlite+aiosqlite:///:memory:", "in-memory SQLite"),
    ],
)
def test_unsupported_urls_are_refused(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        open_store(url)


@pytest.mark.parametrize(
    ("url", "opened_as"),
    [
        ("postgresql+asyncpg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg_async://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite+aiosqlite:///lms.db", "sqlite:///lms.db"),
        ("mysql+aiomysql://u@h/db", "mysql+pymysql://u@h/db?charset=utf8mb4"),
        ("mariadb+asyncmy://u@h/db", "mariadb+pymysql://u@h/db?charset=utf8mb4"),
    ],
)
def test_an_async_engines_url_opens_the_same_database_through_the_sync_driver(
    url: str, opened_as: str
) -> None:
    assert normalise_url(url).render_as_string(hide_password=False) == opened_as


def test_memory_store_takes_no_options() -> None:
    with pytest.raises(TypeError, match="no options"):
        open_store("memory://", create=False)


def test_postgresql_without_psycopg_says_which_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def without_psycopg(name: str, *args: Any, **kwargs: Any) -> Any:
        level = args[3] if len(args) > 3 else kwargs.get("level", 0)
        if level == 0 and name.partition(".")[0] == "psycopg":
            raise ImportError("No module named 'psycopg'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_psycopg)
    with pytest.raises(ImportError, match=r"acadio-webhooks\[postgres\]"):
        open_store("postgresql://u@127.0.0.1/db", create=False)
