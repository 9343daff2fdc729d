"""Emitting from Django: on the project's own database connection, in the caller's transaction.

``emit`` runs inside ``transaction.atomic(using=...)``: nested in the caller's atomic block it
is a savepoint of the caller's transaction — the event and its deliveries commit or roll back
with the caller's own rows (a true outbox, not ``on_commit``) — and outside one it is a
transaction of its own. The statements run on a cursor of Django's DB-API connection
(:class:`~acadio_webhooks.adapters.storage.sql.JoinedCursor`); the store's engine — workers,
the admin's actions — has connections of its own to the same database.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from django.db import connections, models, transaction
from django.db.models.signals import post_save
from django.utils.module_loading import import_string
from sqlalchemy.pool import NullPool

from acadio_webhooks.adapters.storage.secret_box import secret_box_from_env
from acadio_webhooks.adapters.storage.sql import JoinedCursor, SqlStore
from acadio_webhooks.contrib.django._conf import WebhookSettings, load_settings, store_url
from acadio_webhooks.dispatcher import Dispatcher, NewEvent
from acadio_webhooks.domain.endpoints import EndpointPolicy
from acadio_webhooks.domain.payloads import EventData
from acadio_webhooks.domain.planning import DEFAULT_MAX_PAYLOAD_BYTES
from acadio_webhooks.domain.topics import TopicCatalog

__all__ = ["webhooks", "emit", "emit_many", "emit_on_save"]

_dispatchers: dict[tuple[object, ...], tuple[Dispatcher, SqlStore]] = {}
_lock = threading.Lock()


def webhooks() -> Dispatcher:
    """The project's :class:`~acadio_webhooks.Dispatcher`, on the database of
    ``ACADIO_WEBHOOKS['DATABASE']``: for the admin flow (``webhooks().integrations``),
    resends and reads. One per process and database (the test database gets its own);
    closing it is allowed: the next call opens a new one."""
    config = load_settings()
    return _dispatcher(config, config.database)


def _dispatcher(config: WebhookSettings, alias: str) -> Dispatcher:
    """The dispatcher on the database of Django's connection ``alias``."""
    database = connections[alias].settings_dict
    # What names the database now (the test runner renames it): cheaper than its URL. The
    # settings too: `override_settings` in a project's tests gets a dispatcher of its own.
    key = (
        config,
        *(str(database.get(part)) for part in ("ENGINE", "NAME", "HOST", "PORT", "USER")),
    )
    with _lock:
        found = _dispatchers.get(key)
        if found is None or found[1].closed:
            # Tables come from `manage.py migrate` (the app's post_migrate), not from here.
            # No pool: emits use Django's connection, and the admin's reads and actions are
            # rare; idle connections held here would outlive Django's own (and keep
            # `manage.py test` from dropping its test database).
            store = SqlStore(
                store_url(alias),
                create=False,
                secret_box=secret_box_from_env(),
                engine_options={"poolclass": NullPool},
            )
            catalog: TopicCatalog | None = None
            if config.catalog is not None:
                catalog = import_string(config.catalog)
            dispatcher = Dispatcher(
                store,
                catalog=catalog,
                endpoint_policy=EndpointPolicy(allow_insecure=config.allow_insecure_endpoints),
                max_payload_bytes=config.max_payload_bytes or DEFAULT_MAX_PAYLOAD_BYTES,
            )
            found = _dispatchers[key] = (dispatcher, store)
    return found[0]


def emit(
    topic: str,
    data: EventData,
    *,
    tenant: str,
    dedup_key: str | None = None,
    occurred_at: datetime | None = None,
    subject: str | None = None,
    using: str | None = None,
) -> str | None:
    """Store an event and its deliveries in the current transaction of Django's connection
    ``using`` (default: the app's ``DATABASE``); return the event id, or None when
    ``dedup_key`` was stored before. Arguments as for :meth:`Dispatcher.emit`."""
    config = load_settings()
    alias = using or config.database
    with _joined(alias) as cursor:
        return _dispatcher(config, alias).emit(
            topic,
            data,
            tenant=tenant,
            dedup_key=dedup_key,
            occurred_at=occurred_at,
            subject=subject,
            connection=cursor,
        )


def emit_many(events: Iterable[NewEvent], *, using: str | None = None) -> list[str | None]:
    """:meth:`Dispatcher.emit_many` in the current transaction of Django's connection
    ``using``, as :func:`emit` does for one event."""
    config = load_settings()
    alias = using or config.database
    with _joined(alias) as cursor:
        return _dispatcher(config, alias).emit_many(events, connection=cursor)


@contextmanager
def _joined(alias: str) -> Iterator[JoinedCursor]:
    """A :class:`JoinedCursor` on Django's connection ``alias``, inside
    ``transaction.atomic``: a savepoint of the caller's transaction, or one of its own."""
    with transaction.atomic(using=alias):
        connection = connections[alias]
        connection.ensure_connection()
        # The driver's own cursor: Django's wrapper would rewrite the parameter markers of
        # the store's statements, which are prepared for the driver itself.
        cursor = connection.connection.cursor()
        try:
            yield JoinedCursor(cursor)
        finally:
            cursor.close()


def emit_on_save(
    model: type[models.Model],
    *,
    created: str | None,
    updated: str | None = None,
    data: Callable[[Any], Mapping[str, Any]],
    tenant: Callable[[Any], str],
    subject: Callable[[Any], str | None] | None = None,
    dedup_key: Callable[[Any], str | None] | None = None,
) -> Callable[..., None]:
    """Emit ``created`` (and ``updated``, when given) from ``model``'s ``post_save``, with
    ``data(instance)`` for ``tenant(instance)``, on the database the instance was saved to;
    ``subject`` and ``dedup_key``, when given, are read from the instance the same way.

    The event joins the save's transaction when the save runs inside ``transaction.atomic``
    (or ``ATOMIC_REQUESTS``); a save in autocommit mode has committed before ``post_save``,
    so its event is then stored by a transaction of its own, right after. Returns the
    receiver (``post_save.disconnect(receiver, sender=model)`` removes it).
    """

    def on_save(sender: Any, instance: Any, using: str, **signal: Any) -> None:
        topic = created if signal["created"] else updated
        if topic is None:
            return
        emit(
            topic,
            data(instance),
            tenant=tenant(instance),
            subject=subject(instance) if subject is not None else None,
            dedup_key=dedup_key(instance) if dedup_key is not None else None,
            using=using,
        )

    post_save.connect(on_save, sender=model, weak=False)
    return on_save
