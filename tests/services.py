"""Real services the tests use (PostgreSQL, Redis, RabbitMQ on loopback), and the rule for
when one is missing: skip with the reason, unless ``ACADIO_WEBHOOKS_REQUIRE_SERVICES=1``
(CI sets it), where a missing service fails the test instead of hiding it."""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import pytest

__all__ = [
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


@contextmanager
def postgres_database(prefix: str = "acadio_test") -> Iterator[str]:
    """Create a fresh, uniquely named database; yield its URL; drop it afterwards."""
    require_tcp_service("PostgreSQL", POSTGRES_HOST, POSTGRES_PORT)
    import sqlalchemy as sa

    name = f"{prefix}_{secrets.token_hex(6)}"
    admin = sa.create_engine(_admin_url(POSTGRES_ADMIN_DB), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield _admin_url(name)
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


def _mariadb_url(database: str) -> str:
    return f"mysql+pymysql://{MARIADB_USER}@{MARIADB_HOST}:{MARIADB_PORT}/{database}"


@contextmanager
def mariadb_database(prefix: str = "acadio_test") -> Iterator[str]:
    """Create a fresh, uniquely named MariaDB (or MySQL) database with the server's default
    character set and collation, as a host's would be; yield its URL; drop it afterwards."""
    require_tcp_service("MariaDB", MARIADB_HOST, MARIADB_PORT)
    import sqlalchemy as sa

    name = f"{prefix}_{secrets.token_hex(6)}"
    admin = sa.create_engine(_mariadb_url(MARIADB_ADMIN_DB), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE `{name}`")
        try:
            yield _mariadb_url(name)
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        admin.dispose()
