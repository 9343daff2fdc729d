"""Schema migrations of the SQL store, driven through Alembic's command API.

The migration scripts ship inside the package (``migrations/``), and the Alembic
configuration is built here in code, so users need no ``alembic.ini``:
:meth:`SqlStore.migrate() <acadio_webhooks.adapters.storage.sql.SqlStore.migrate>` (or opening
a store with ``create=True``) upgrades the database to the newest revision.

Maintainers add a revision with :func:`new_revision` (see ``docs/storage.md``).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from acadio_webhooks.adapters.storage.sql.schema import VERSION_TABLE

__all__ = [
    "MIGRATIONS_DIR",
    "alembic_config",
    "upgrade",
    "head_revision",
    "current_revision",
    "new_revision",
]

MIGRATIONS_DIR = Path(__file__).resolve().with_name("migrations")


def alembic_config(connection: Connection | None = None, *, url: str | None = None) -> Config:
    """An Alembic ``Config`` for the shipped migrations, running on ``connection``.

    ``url`` serves offline (``sql=True``) rendering and autogeneration only.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    config.set_main_option("file_template", "rev_%%(rev)s_%%(slug)s")
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def upgrade(connection: Connection, revision: str = "head") -> None:
    """Upgrade the database behind ``connection`` to ``revision``, inside its transaction."""
    command.upgrade(alembic_config(connection), revision)


def head_revision() -> str | None:
    """The newest revision the package ships."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at, or None before the first migration."""
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def new_revision(connection: Connection, message: str, *, rev_id: str) -> None:
    """Write a new migration script: upgrade the (scratch) database behind ``connection`` to
    the current head, then autogenerate the difference to ``schema.metadata``. Review the
    script before committing it. For maintainers."""
    config = alembic_config(connection)
    command.upgrade(config, "head")
    command.revision(config, message=message, autogenerate=True, rev_id=rev_id)
