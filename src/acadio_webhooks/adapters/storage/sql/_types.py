"""Column types and table options that keep MySQL / MariaDB as exact as the other databases.

SQLAlchemy's generic types map to MySQL types that lose data the store keeps: ``DateTime``
to ``DATETIME`` (whole seconds: a retry schedule and the claim order need microseconds),
``LargeBinary`` to ``BLOB`` (64 KiB, below the default payload limit of 256 KiB) and
``Float`` to single precision. The variants below apply on MySQL and MariaDB only, so the
schema and its migrations stay what they were on SQLite and PostgreSQL.

MySQL compares text by the table's collation, which is the database's by default and usually
case- and accent-insensitive (``utf8mb4_general_ci``): two tenants or dedup keys differing
in case would be one. The store's tables are created binary and without padding instead.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import DateTime, Dialect, Float, LargeBinary
from sqlalchemy.dialects import mysql

from acadio_webhooks.adapters.storage.sql._dialect import MYSQL, family

__all__ = ["TIMESTAMP", "PAYLOAD", "DOUBLE", "MYSQL_DATETIME", "table_options"]

# Variants are chosen by dialect name; SQLAlchemy names MariaDB's dialect apart.
_MYSQL = ("mysql", "mariadb")

MYSQL_DATETIME = mysql.DATETIME(fsp=6)
"""What a timestamp is on MySQL: naive UTC to the microsecond."""

TIMESTAMP = DateTime(timezone=True).with_variant(MYSQL_DATETIME, *_MYSQL)
PAYLOAD = LargeBinary().with_variant(mysql.LONGBLOB(), *_MYSQL)
DOUBLE = Float().with_variant(mysql.DOUBLE(), *_MYSQL)


def table_options(dialect: Dialect) -> dict[str, Any]:
    """Options for a new table of the store in ``dialect`` (none but on MySQL):
    InnoDB, ``utf8mb4`` and a binary collation that does not ignore trailing spaces —
    ``utf8mb4_nopad_bin`` on MariaDB, ``utf8mb4_0900_bin`` on MySQL 8."""
    if family(dialect) != MYSQL:
        return {}
    collation = "utf8mb4_nopad_bin" if getattr(dialect, "is_mariadb", False) else "utf8mb4_0900_bin"
    return {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": collation}
