"""The sending side of the wire format: the event body and the headers that sign it.

One delivery attempt carries the body built by :func:`encode_event_body` and the headers built
by :meth:`Signer.headers`::

    Content-Type:          application/json
    User-Agent:            acadio-webhooks/<version>
    X-Acadio-Topic:        course/completion/create
    X-Acadio-Hmac-Sha256:  base64(HMAC-SHA256(secret, body))              the documented header
    webhook-id:            evt_...                   the event id, the same on every retry
    webhook-timestamp:     1767225600                unix seconds of this attempt
    webhook-signature:     v1,<base64(HMAC-SHA256(secret, f"{id}.{timestamp}.".encode() + body))>

The HMAC key is the secret's bytes (a secret typed into the portal is text; its UTF-8 bytes
are the key), so a receiver using any Standard Webhooks library verifies with ``base64(secret)``
as its key. During a rotation the signer holds several secrets, newest first:
``webhook-signature`` then carries one ``v1,`` entry per secret (a receiver holding either the
old or the new secret verifies), while ``X-Acadio-Hmac-Sha256`` is made with the newest.

Every HMAC is fed the caller's bytes directly; the body is never copied or concatenated.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import json
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from typing import Any, TypeAlias

from acadio_webhooks._version import __version__
from acadio_webhooks.errors import InvalidPayload, SigningError

__all__ = [
    "HMAC_HEADER",
    "TOPIC_HEADER",
    "ID_HEADER",
    "TIMESTAMP_HEADER",
    "SIGNATURE_HEADER",
    "CONTENT_TYPE",
    "USER_AGENT",
    "SIGNATURE_VERSION",
    "Secret",
    "Signer",
    "sign",
    "signing_keys",
    "encode_event_body",
    "format_timestamp",
]

HMAC_HEADER = "X-Acadio-Hmac-Sha256"
"""The documented signature: base64 of HMAC-SHA256(secret, raw body)."""
TOPIC_HEADER = "X-Acadio-Topic"
"""The event's topic (not signed: trust the topic of the verified body instead)."""
ID_HEADER = "webhook-id"
"""Standard Webhooks: the event id, stable across retries (de-duplicate on it)."""
TIMESTAMP_HEADER = "webhook-timestamp"
"""Standard Webhooks: unix seconds at which this attempt was signed."""
SIGNATURE_HEADER = "webhook-signature"
"""Standard Webhooks: space-separated ``v1,<base64>`` signatures over ``id.timestamp.body``."""
CONTENT_TYPE = "application/json"
USER_AGENT = f"acadio-webhooks/{__version__}"
SIGNATURE_VERSION = "v1"

Secret: TypeAlias = str | bytes
"""A signing secret: text (its UTF-8 bytes are the HMAC key) or the key bytes themselves."""

# json.dumps builds a new encoder for every call with options; this one is built once.
_BODY_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
# How that encoder writes a string: quoted and escaped, non-ASCII kept as is.
_json_string: Callable[[str], str] = json.encoder.encode_basestring


def _key(secret: object) -> bytes:
    if isinstance(secret, str):
        try:
            key = secret.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise SigningError("a signing secret is text that is not valid Unicode") from exc
    elif isinstance(secret, (bytes, bytearray, memoryview)):
        key = bytes(secret)
    else:
        raise SigningError(f"a signing secret must be str or bytes, not {type(secret).__name__}")
    if not key:
        raise SigningError("a signing secret is empty")
    return key


def signing_keys(secrets: Secret | Iterable[Secret]) -> tuple[bytes, ...]:
    """The HMAC keys for ``secrets`` (one secret or several, newest first), in the same order.

    Raises :class:`~acadio_webhooks.errors.SigningError` for no secret, an empty one, or one
    that is neither text nor bytes; the message names the type, never the value.
    """
    if isinstance(secrets, (str, bytes, bytearray, memoryview)):
        return (_key(secrets),)
    if not isinstance(secrets, Iterable):
        raise SigningError(
            f"secrets must be str, bytes or a list of them, not {type(secrets).__name__}"
        )
    keys = tuple(_key(secret) for secret in secrets)
    if not keys:
        raise SigningError("no signing secret given")
    return keys


class Signer:
    """Signs request bodies with one or more secrets, newest first. Immutable.

    >>> signer = Signer(["new-secret", "old-secret"])
    >>> signer
    Signer(<2 secrets>)
    >>> headers = signer.headers(b'{}', event_id="evt_1", topic="a/b/c", timestamp=1767225600)
    >>> len(headers["webhook-signature"].split(" "))
    2

    Raises :class:`~acadio_webhooks.errors.SigningError` for an empty secret, a secret that is
    neither text nor bytes, or no secret at all. The repr never shows a secret.
    """

    __slots__ = ("_keyed", "_keys")
    _keys: tuple[bytes, ...]
    _keyed: tuple[hmac.HMAC, ...]

    def __init__(self, secrets: Secret | Iterable[Secret]) -> None:
        keys = signing_keys(secrets)
        object.__setattr__(self, "_keys", keys)
        # HMAC states with each key already absorbed: copying one skips the key schedule on
        # every request, which matters for small bodies.
        object.__setattr__(
            self, "_keyed", tuple(hmac.new(key, None, hashlib.sha256) for key in keys)
        )

    @property
    def keys(self) -> tuple[bytes, ...]:
        """The HMAC keys, newest first: ``keys[0]`` makes ``X-Acadio-Hmac-Sha256``."""
        return self._keys

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Signer is immutable; create a new one to change secrets")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Signer is immutable")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Signer):
            return NotImplemented
        return len(self._keys) == len(other._keys) and all(
            hmac.compare_digest(mine, theirs)
            for mine, theirs in zip(self._keys, other._keys, strict=True)
        )

    __hash__ = None  # type: ignore[assignment]  # equal by secret; hashing would expose a digest of it

    def __reduce__(self) -> tuple[type[Signer], tuple[tuple[bytes, ...]]]:
        # copy and pickle go through __init__ because __setattr__ refuses assignments.
        return (Signer, (self._keys,))

    def __repr__(self) -> str:
        count = len(self._keys)
        return f"Signer(<{count} secret{'s' if count != 1 else ''}>)"

    def documented_signature(self, body: bytes) -> str:
        """``X-Acadio-Hmac-Sha256``: base64 of HMAC-SHA256(newest secret, ``body``)."""
        return self._documented(body)

    def _documented(self, body: bytes) -> str:
        # From the keyed state, as the standard signatures are: hmac.digest() runs the key
        # schedule (and looks the hash up) again on every call, a fifth of its time on 1 KiB.
        mac = self._keyed[0].copy()
        mac.update(body)
        return _base64(mac.digest())

    def standard_signatures(self, body: bytes, *, event_id: str, timestamp: int) -> str:
        """``webhook-signature``: one ``v1,<base64>`` per secret over ``id.timestamp.body``."""
        return self._standard_signatures(f"{event_id}.{timestamp}.".encode("ascii"), body)

    def _standard_signatures(self, prefix: bytes, body: bytes) -> str:
        entries = []
        for keyed in self._keyed:
            mac = keyed.copy()
            mac.update(prefix)
            mac.update(body)
            entries.append(f"{SIGNATURE_VERSION},{_base64(mac.digest())}")
        return " ".join(entries)

    def headers(self, body: bytes, *, event_id: str, topic: str, timestamp: int) -> dict[str, str]:
        """Every header of one delivery attempt of ``body`` (see the module docstring).

        ``timestamp`` is the attempt's unix time in whole seconds; ``event_id`` is the same on
        every retry of an event. Raises :class:`~acadio_webhooks.errors.SigningError` when
        ``event_id`` or ``topic`` is not visible ASCII without spaces, or ``timestamp`` is not a
        non-negative int.
        """
        _check_header_token("event_id", event_id)
        _check_header_token("topic", topic)
        _check_timestamp(timestamp)
        # Once per attempt on the worker's hot path: the timestamp is formatted once and the
        # public methods' per-call wrappers are skipped (same bytes, same HMACs).
        stamp = str(timestamp)
        prefix = f"{event_id}.{stamp}.".encode("ascii")
        return {
            "Content-Type": CONTENT_TYPE,
            "User-Agent": USER_AGENT,
            TOPIC_HEADER: topic,
            HMAC_HEADER: self._documented(body),
            ID_HEADER: event_id,
            TIMESTAMP_HEADER: stamp,
            SIGNATURE_HEADER: self._standard_signatures(prefix, body),
        }


def _base64(digest: bytes) -> str:
    # base64.b64encode without its Python wrapper (the same bytes, no newline).
    return binascii.b2a_base64(digest, newline=False).decode("ascii")


def _check_header_token(name: str, value: object) -> None:
    # isascii/isprintable minus the space is exactly [\x21-\x7e], without a regex run.
    if not (
        isinstance(value, str)
        and value
        and value.isascii()
        and value.isprintable()
        and " " not in value
    ):
        shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
        raise SigningError(
            f"{name} {shown} cannot be a header value: it must be visible ASCII without spaces"
        )


def _check_timestamp(timestamp: object) -> None:
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp < 0:
        raise SigningError(f"timestamp must be a non-negative int of seconds, not {timestamp!r}")


def sign(
    body: bytes,
    secret: Secret | Iterable[Secret],
    *,
    event_id: str,
    topic: str,
    timestamp: int,
) -> dict[str, str]:
    """The headers of one delivery attempt: ``Signer(secret).headers(body, ...)``.

    Build a :class:`Signer` once instead when signing many bodies with the same secrets.
    """
    return Signer(secret).headers(body, event_id=event_id, topic=topic, timestamp=timestamp)


def format_timestamp(moment: object) -> str:
    """RFC 3339 in UTC with microseconds and ``Z``: ``2026-03-03T09:30:00.000000Z``.

    Raises :class:`~acadio_webhooks.errors.InvalidPayload` for a naive datetime, whose zone
    would be a guess.
    """
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise InvalidPayload(f"created_at must be a timezone-aware datetime, not {moment!r}")
    if moment.tzinfo is not timezone.utc:  # the usual case (every clock's now) needs no shift
        moment = moment.astimezone(timezone.utc)
    # What isoformat(timespec="microseconds") writes, in half its time (every event has one).
    return "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ" % (  # noqa: UP031
        moment.year,
        moment.month,
        moment.day,
        moment.hour,
        moment.minute,
        moment.second,
        moment.microsecond,
    )


def encode_event_body(
    event_id: str,
    topic: str,
    created_at: datetime,
    tenant: str,
    data: Mapping[str, Any],
) -> bytes:
    """The wire body of an event, serialised once and sent unchanged on every attempt.

    Compact UTF-8 JSON (no spaces, non-ASCII kept as is) with the keys in this order:

    >>> from datetime import datetime, timezone
    >>> encode_event_body("evt_1", "course/completion/create",
    ...                   datetime(2026, 3, 3, 9, 30, tzinfo=timezone.utc), "acme", {"score": 0.9})
    b'{"id":"evt_1","topic":"course/completion/create","created_at":"2026-03-03T09:30:00.000000Z","tenant":"acme","data":{"score":0.9}}'

    Raises :class:`~acadio_webhooks.errors.InvalidPayload` when ``data`` is not a JSON object
    of JSON values (``NaN`` and infinities included: JSON has no spelling for them), or an
    envelope field has the wrong type.
    """
    fields: tuple[tuple[str, object], ...] = (
        ("event_id", event_id),
        ("topic", topic),
        ("tenant", tenant),
    )
    for name, value in fields:
        if not isinstance(value, str) or not value:
            raise InvalidPayload(f"{name} must be a non-empty string, not {value!r}")
    if not isinstance(data, Mapping):
        raise InvalidPayload(f"data must be a JSON object (a mapping), not {type(data).__name__}")
    stamp = format_timestamp(created_at)
    try:
        # The envelope's fields written around the encoded data: what encoding the envelope
        # as one object writes, without the encoder's walk over its five keys.
        return (
            f'{{"id":{_json_string(event_id)},"topic":{_json_string(topic)},'
            f'"created_at":"{stamp}","tenant":{_json_string(tenant)},'
            f'"data":{_BODY_ENCODER.encode(data if isinstance(data, dict) else dict(data))}}}'
        ).encode()
    except (TypeError, ValueError, RecursionError) as exc:
        # TypeError: a value json cannot encode; ValueError: NaN/inf or a circular reference;
        # UnicodeEncodeError (a ValueError): a lone surrogate; RecursionError: absurd nesting.
        raise InvalidPayload(f"data cannot be sent as JSON: {exc}") from exc
