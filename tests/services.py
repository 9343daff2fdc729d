"""Real services the tests use (PostgreSQL, Redis, RabbitMQ on loopback), and the rule for
when one is missing: skip with the reason, unless ``ACADIO_WEBHOOKS_REQUIRE_SERVICES=1``
(CI sets it), where a missing service fails the test instead of hiding it."""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NoReturn

import pytest

__all__ = [
    "MARIADB_HOST",
    "MARIADB_PORT",
    "POSTGRES_HOST",
    "POSTGRES_PORT",
    "REQUIRE_SERVICES_ENV",
    "services_required",
    "tcp_problem",
    "unavailable",
    "require_tcp_service",
    "postgres_database",
    "mariadb_database",
]

POSTGRES_HOST = "127.0.0.1"
POSTGRES_PORT = 5432
POSTGRES_ADMIN_DB = "test"
POSTGRES_USER = "postgres"
MARIADB_HOST = "127.0.0.1"
MARIADB_PORT = 3306
MARIADB_ADMIN_DB = "test"
MARIADB_USER = "root"
REQUIRE_SERVICES_ENV = "ACADIO_WEBHOOKS_REQUIRE_SERVICES"


def services_required() -> bool:
    """Whether a missing service must fail the run rather than skip."""
    return os.environ.get(REQUIRE_SERVICES_ENV) == "1"


def tcp_problem(host: str, port: int, timeout: float = 1.0) -> str | None:
    """None when something accepts TCP connections at ``host:port``, else why not."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return str(exc) or type(exc).__name__


def require_tcp_service(name: str, host: str, port: int) -> None:
    """Skip (or fail, when services are required) the calling test if the service is down."""
    problem = tcp_problem(host, port)
    if problem is None:
        return
    unavailable(f"{name} not reachable at {host}:{port}: {problem}")


def unavailable(problem: str) -> NoReturn:
    """Skip the calling test for ``problem`` (a missing service or tool), or fail it when
    services are required."""
    if services_required():
        pytest.fail(f"{problem} ({REQUIRE_SERVICES_ENV}=1)")
    pytest.skip(problem)


def _admin_url(database: str) -> str:
    return f"postgresql+psycopg://{POSTGRES_USER}@{POSTGRES_HOST}:{POSTGRES_PORT}/{database}"


def _mariadb_url(database: str) -> str:
    return f"mysql+pymysql://{MARIADB_USER}@{MARIADB_HOST}:{MARIADB_PORT}/{database}"


@contextmanager
def postgres_database(prefix: str = "acadio_test") -> Iterator[str]:
    """Create a fresh, uniquely named database; yield its URL; drop it afterwards."""
    require_tcp_service("PostgreSQL", POSTGRES_HOST, POSTGRES_PORT)
    with _fresh_database(_admin_url, POSTGRES_ADMIN_DB, prefix) as url:
        yield url


@contextmanager
def mariadb_database(prefix: str = "acadio_test") -> Iterator[str]:
    """Create a fresh, uniquely named MariaDB (or MySQL) database with the server's default
    character set and collation, as a host's would be; yield its URL; drop it afterwards."""
    require_tcp_service("MariaDB", MARIADB_HOST, MARIADB_PORT)
    with _fresh_database(_mariadb_url, MARIADB_ADMIN_DB, prefix) as url:
        yield url


@contextmanager
def _fresh_database(url_of: Callable[[str], str], admin_db: str, prefix: str) -> Iterator[str]:
    import sqlalchemy as sa

    name = f"{prefix}_{secrets.token_hex(6)}"
    admin = sa.create_engine(url_of(admin_db), isolation_level="AUTOCOMMIT")
    postgres = admin.dialect.name == "postgresql"
    quoted = f'"{name}"' if postgres else f"`{name}`"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {quoted}")
        try:
            yield url_of(name)
        finally:
            with admin.connect() as conn:
                force = " WITH (FORCE)" if postgres else ""  # PostgreSQL: end its sessions
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {quoted}{force}")
    finally:
        admin.dispose()
