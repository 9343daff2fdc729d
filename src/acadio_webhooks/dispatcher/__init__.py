"""The host's entry point: ``Dispatcher`` (sync) and ``AsyncDispatcher`` (async), twins with
the same method names — awaited in the async one, as httpx's ``Client``/``AsyncClient``.

::

    dispatcher = Dispatcher("sqlite:///webhooks.db")
    integration = dispatcher.integrations.install("tenant-42", secret=key)
    dispatcher.integrations.subscribe(integration.id, "course/*", "https://example.com/hooks")
    dispatcher.emit("course/completion/create", {"course_id": 7}, tenant="tenant-42")
    dispatcher.start_worker()          # or a separate `acadio-webhooks worker` process

``emit`` stores the event and one delivery per matching active subscription before it
returns (with a SQL store it can join the host's own transaction: ``connection=``);
``emit_many`` stores a batch of :class:`NewEvent` the same way in one transaction. Workers
then deliver at least once, retrying on the policy's schedule.
"""

from __future__ import annotations

from acadio_webhooks._emitter import NewEvent
from acadio_webhooks.dispatcher._async import AsyncDispatcher
from acadio_webhooks.dispatcher._sync import Dispatcher

__all__ = ["Dispatcher", "AsyncDispatcher", "NewEvent"]
