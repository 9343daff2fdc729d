"""Fakes and helpers for your own tests of code that sends or receives acadio webhooks.

The library's test suite uses these same helpers, so they behave like the real thing: a
request built here is signed exactly as a delivery worker signs it.

Receiving (your webhook view)
    :func:`signed_request` builds the body and headers of a delivery, :func:`sign_headers`
    signs a body you built yourself; post them to your view with your framework's test client.

Sending (your LMS code that emits)
    :class:`MemoryStore` (a complete store in memory), :class:`RecordingTransport` and
    :class:`AsyncRecordingTransport` (a handler function decides each response; every request
    is kept), :class:`FakeClock` (time moves when you say, so a day of retries runs in a
    millisecond), :class:`CapturingNotifier` (keeps failure notices) and
    :class:`StaticResolver` (host names resolve to what you say, never through DNS)::

        clock = FakeClock()
        transport = RecordingTransport(lambda request: 500)
        dispatcher = Dispatcher(MemoryStore(), clock=clock, transport=transport,
                                resolver=StaticResolver({"hooks.example.com": ["93.184.216.34"]}))
        ...
        dispatcher.drain(); clock.advance(hours=30); dispatcher.drain()

    These are imported on first use, so receivers importing this module load no store.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from acadio_webhooks._lazy import lazy_attributes
from acadio_webhooks.domain.ids import new_id
from acadio_webhooks.domain.signing import Secret, encode_event_body, sign

__all__ = [
    "DEFAULT_TEST_TOPIC",
    "sign_headers",
    "signed_request",
    "MemoryStore",
    "RecordingTransport",
    "AsyncRecordingTransport",
    "FakeClock",
    "CapturingNotifier",
    "StaticResolver",
]

_FAKES = {
    "MemoryStore": "acadio_webhooks.adapters.storage.memory",
    "RecordingTransport": "acadio_webhooks.adapters.transport.recording",
    "AsyncRecordingTransport": "acadio_webhooks.adapters.transport.recording",
    "FakeClock": "acadio_webhooks.adapters.clock",
    "CapturingNotifier": "acadio_webhooks.adapters.notifier.capturing",
    "StaticResolver": "acadio_webhooks.adapters.resolver",
}

if TYPE_CHECKING:
    from acadio_webhooks.adapters.clock import FakeClock
    from acadio_webhooks.adapters.notifier.capturing import CapturingNotifier
    from acadio_webhooks.adapters.resolver import StaticResolver
    from acadio_webhooks.adapters.storage.memory import MemoryStore
    from acadio_webhooks.adapters.transport.recording import (
        AsyncRecordingTransport,
        RecordingTransport,
    )


__getattr__ = lazy_attributes(__name__, globals(), _FAKES)


# --- Receiving: correctly signed requests for the views that call verify() ------------------

DEFAULT_TEST_TOPIC = "course/completion/create"
"""The topic :func:`sign_headers` uses when neither the caller nor the body names one."""


def sign_headers(
    body: bytes,
    secret: Secret | Iterable[Secret],
    *,
    event_id: str | None = None,
    topic: str | None = None,
    timestamp: int | None = None,
) -> dict[str, str]:
    """The headers a delivery of ``body`` carries, signed with ``secret`` (or several).

    ``event_id`` and ``topic`` default to the body's own ``id`` and ``topic`` when the body is
    an event object (so ``verify()`` sees them agree), else to a fresh id and
    :data:`DEFAULT_TEST_TOPIC`; ``timestamp`` defaults to now. Pass a timestamp far from now
    to test how your view answers a stale request.
    """
    envelope = _envelope_of(body)
    if event_id is None:
        found = envelope.get("id")
        event_id = found if isinstance(found, str) else new_id("evt")
    if topic is None:
        found = envelope.get("topic")
        topic = found if isinstance(found, str) else DEFAULT_TEST_TOPIC
    return sign(
        body,
        secret,
        event_id=event_id,
        topic=topic,
        timestamp=int(time.time()) if timestamp is None else timestamp,
    )


def signed_request(
    data: Mapping[str, Any],
    secret: Secret | Iterable[Secret],
    *,
    topic: str,
    tenant: str,
    event_id: str | None = None,
    created_at: datetime | None = None,
    timestamp: int | None = None,
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one delivery of an event carrying ``data``.

    >>> body, headers = signed_request({"course_id": 7}, "s3cret-s3cret-s3cret",
    ...                                topic="course/completion/create", tenant="acme")
    >>> from acadio_webhooks.domain.verification import verify
    >>> verify(body, headers, "s3cret-s3cret-s3cret").data
    {'course_id': 7}
    """
    event_id = new_id("evt") if event_id is None else event_id
    moment = datetime.now(timezone.utc) if created_at is None else created_at
    body = encode_event_body(event_id, topic, moment, tenant, data)
    headers = sign_headers(body, secret, event_id=event_id, topic=topic, timestamp=timestamp)
    return body, headers


def _envelope_of(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return {}
    return document if isinstance(document, dict) else {}
