"""Alembic environment of the SQL store, run by :func:`..migrate.upgrade` (no alembic.ini).

Online, it uses the connection the caller put in ``config.attributes["connection"]``, inside
the caller's transaction, so a migration and the store's lock around it commit together.
Offline (``--sql``), it renders the SQL for ``sqlalchemy.url``'s dialect, for DBAs who apply
scripts by hand. Only ``acadio_*`` tables are compared, because the store may share the
host's database.
"""

from __future__ import annotations

from alembic import context

from acadio_webhooks.adapters.storage.sql.schema import TABLE_PREFIX, VERSION_TABLE, metadata


def _ours(name: str | None, type_: str, parent_names: object) -> bool:
    return type_ != "table" or (name is not None and name.startswith(TABLE_PREFIX))


def _configure(**where: object) -> None:
    context.configure(
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        include_name=_ours,
        compare_type=True,
        # SQLite cannot ALTER most things; batch mode rebuilds tables, harmless elsewhere.
        render_as_batch=True,
        **where,  # type: ignore[arg-type]
    )


if context.is_offline_mode():
    _configure(url=context.config.get_main_option("sqlalchemy.url"), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError(
            "run these migrations through SqlStore.migrate() or "
            "acadio_webhooks.adapters.storage.sql.migrate.upgrade(connection)"
        )
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()
