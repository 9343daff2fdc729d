"""The storage port: small roles, one per part of the system that uses the store.

============================  ==============================================================
role                          used by
============================  ==============================================================
:class:`Registry`             the admin flow (``Integrations``, portal, CLI) and routing
:class:`Outbox`               ``emit`` and ``emit_many``
:class:`DeliveryQueue`        the workers and the Celery tasks (claim, take, settle, release)
:class:`History`              the portal, the CLI and resends (events, deliveries, attempts)
:class:`NoticeQueue`          the failure-notice flusher
:class:`Retention`            prune and erase
:class:`Leases`               whatever a fleet must do once (notices, prune, the Celery pump)
============================  ==============================================================

:class:`Store` is all of them plus ``close()``: what a dispatcher needs, and what both
shipped adapters are: :class:`acadio_webhooks.adapters.storage.memory.MemoryStore` (tests,
quick starts) and :class:`acadio_webhooks.adapters.storage.sql.SqlStore` (SQLite, the embedded
default, PostgreSQL, MySQL and MariaDB). Each role has its own contract suite in
``tests/contract/`` that every store runs; a component asks only for the roles it uses.

Everything here is synchronous: SQL drivers are, and the async worker calls the store from a
worker thread in batches, so one interface serves sync and async hosts. A store whose calls
never wait on I/O may say so with a class attribute ``nonblocking = True`` (``MemoryStore``
does): the async worker then calls it on the event loop, skipping the thread hop. A store whose
calls wait only while another writer holds the database (SQLite) offers
:class:`WaitFreeCalls` instead: the worker tries each call on the event loop and hands it to a
thread only when it would wait.

Errors: ``NotFound`` for unknown ids; ``StorageError`` (driver error chained) for anything the
backend failed at. Nothing else escapes.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from acadio_webhooks.ports.storage.history import History
from acadio_webhooks.ports.storage.leases import Leases
from acadio_webhooks.ports.storage.notices import NoticeQueue
from acadio_webhooks.ports.storage.optional import BacklogView, WaitFreeCalls, WouldWait
from acadio_webhooks.ports.storage.outbox import Outbox
from acadio_webhooks.ports.storage.queue import DeliveryQueue
from acadio_webhooks.ports.storage.registry import Registry
from acadio_webhooks.ports.storage.retention import Retention
from acadio_webhooks.ports.storage.values import (
    DeliveryPlanner,
    DeliveryQuery,
    Page,
    Route,
    RoutingSnapshot,
    RoutingView,
)

__all__ = [
    "Route",
    "RoutingSnapshot",
    "RoutingView",
    "DeliveryPlanner",
    "DeliveryQuery",
    "Page",
    "Registry",
    "Outbox",
    "DeliveryQueue",
    "History",
    "NoticeQueue",
    "Retention",
    "Leases",
    "Store",
    "WaitFreeCalls",
    "WouldWait",
    "BacklogView",
]


@runtime_checkable
class Store(Registry, Outbox, DeliveryQueue, History, NoticeQueue, Retention, Leases, Protocol):
    """Durable state: every role of this port, and ``close()``.

    Thread-safe: one instance is shared by a host's request threads and its workers. The
    SQL adapter is also safe across processes sharing the database.
    """

    def close(self) -> None:
        """Release connections. Idempotent."""
        ...
