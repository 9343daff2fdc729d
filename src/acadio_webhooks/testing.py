"""Fakes and helpers for your own tests of code that sends or receives acadio webhooks.

The library's test suite uses these same helpers, so they behave like the real thing: a
request built here is signed exactly as a delivery worker signs it.

Receiving (your webhook view)
    :func:`signed_request` builds the body and headers of a delivery, :func:`sign_headers`
    signs a body you built yourself; post them to your view with your framework's test client.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from acadio_webhooks.domain.ids import new_id
from acadio_webhooks.domain.signing import Secret, encode_event_body, sign

__all__ = ["DEFAULT_TEST_TOPIC", "sign_headers", "signed_request"]


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
