"""The receiving side: check that a request came from acadio-webhooks, unaltered and on time.

:func:`verify` is all a receiver needs. It reads the raw body and the headers of the request,
checks the signature against the receiver's secret(s) in constant time, checks the timestamp
against a tolerance, decodes the event, and either returns a :class:`ReceivedEvent` or raises
one exception of the :class:`~acadio_webhooks.errors.VerificationError` family, whose
``reason`` says what failed::

    reason            exception          meaning
    missing_header    MissingHeader      a required header is absent
    malformed_header  MalformedHeader    a header cannot be parsed, or X-Acadio-Topic
                                         disagrees with the signed body
    bad_signature     BadSignature       no signature matches any of the secrets
    stale             StaleTimestamp     authentic, but signed longer ago than the tolerance
    future            FutureTimestamp    authentic, but signed further ahead than the tolerance
    bad_body          MalformedBody      not a JSON event object, or its id is not webhook-id
    bad_data          DataMismatch       authentic, but ``data`` does not fit ``model=``
    replayed          ReplayedMessage    the replay guard has already accepted this message
    bad_secret        InvalidSecret      the receiver's secret is empty or not str/bytes

This module imports no HTTP client, database driver or pydantic: receivers pay only for
``hmac``, ``json`` and friends (pydantic is imported when ``model=`` is first used).
"""

from __future__ import annotations

import hmac
import json
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeAlias, overload

from typing_extensions import TypeVar

from acadio_webhooks.domain._header_checks import (
    STANDARD_HEADERS,
    HeaderTable,
    any_match,
    check_window,
    documented_digest,
    hmac_of,
    parse_timestamp,
    standard_candidates,
)
from acadio_webhooks.domain.replay import ReplayGuard
from acadio_webhooks.domain.signing import (
    HMAC_HEADER,
    ID_HEADER,
    SIGNATURE_HEADER,
    TOPIC_HEADER,
    Secret,
    signing_keys,
)
from acadio_webhooks.errors import (
    BadSignature,
    DataMismatch,
    InvalidSecret,
    MalformedBody,
    MalformedHeader,
    ReplayedMessage,
    SigningError,
)

if TYPE_CHECKING:
    import pydantic

__all__ = ["DEFAULT_TOLERANCE", "HeaderItems", "Now", "ReceivedEvent", "verify", "verify_event"]

DataT = TypeVar("DataT", default=dict[str, Any])
"""What :attr:`ReceivedEvent.data` holds: the JSON object, or the ``model=`` it was parsed into."""
M = TypeVar("M")

DEFAULT_TOLERANCE = 300.0
"""Seconds a ``webhook-timestamp`` may be away from the receiver's clock, either way."""

Now: TypeAlias = datetime | float | Callable[[], float | datetime]
"""The receiver's current time: an aware datetime, unix seconds, or a function returning one."""


class HeaderItems(Protocol):
    """Anything with ``items()`` giving (name, value) pairs: a dict, Flask/Werkzeug
    ``Headers``, Django ``HttpHeaders``, Starlette ``Headers``."""

    def items(self) -> Iterable[tuple[str, str]]:
        """Every header as a (name, value) pair; repeated names may appear repeatedly."""
        ...


_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:\.([0-9]+))?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


@dataclass(frozen=True)
class ReceivedEvent(Generic[DataT]):
    """An event that passed :func:`verify`: the decoded wire body.

    ``data`` is the JSON object, or an instance of the model passed as ``verify(model=)``.
    ``raw`` is the exact body that was signed, for receivers that store or forward it.
    """

    id: str
    topic: str
    created_at: datetime
    tenant: str
    data: DataT
    raw: bytes = field(repr=False)


@overload
def verify(
    body: bytes | str,
    headers: Mapping[str, str] | HeaderItems,
    secret: Secret | Iterable[Secret],
    *,
    tolerance: float | timedelta = ...,
    now: Now | None = ...,
    require_timestamp: bool = ...,
    replay_guard: ReplayGuard | None = ...,
    model: None = None,
) -> ReceivedEvent[dict[str, Any]]: ...


@overload
def verify(
    body: bytes | str,
    headers: Mapping[str, str] | HeaderItems,
    secret: Secret | Iterable[Secret],
    *,
    tolerance: float | timedelta = ...,
    now: Now | None = ...,
    require_timestamp: bool = ...,
    replay_guard: ReplayGuard | None = ...,
    model: type[M],
) -> ReceivedEvent[M]: ...


@overload
def verify(
    body: bytes | str,
    headers: Mapping[str, str] | HeaderItems,
    secret: Secret | Iterable[Secret],
    *,
    tolerance: float | timedelta = ...,
    now: Now | None = ...,
    require_timestamp: bool = ...,
    replay_guard: ReplayGuard | None = ...,
    model: type[Any] | None = ...,
) -> ReceivedEvent[Any]: ...


def verify(
    body: bytes | str,
    headers: Mapping[str, str] | HeaderItems,
    secret: Secret | Iterable[Secret],
    *,
    tolerance: float | timedelta = DEFAULT_TOLERANCE,
    now: Now | None = None,
    require_timestamp: bool = True,
    replay_guard: ReplayGuard | None = None,
    model: type[Any] | None = None,
) -> ReceivedEvent[Any]:
    """Check a received webhook request and return its event.

    ``body`` is the raw request body exactly as received (Flask ``request.get_data()``, Django
    ``request.body``, Starlette/FastAPI ``await request.body()``), never re-serialised JSON.
    ``headers`` is any mapping (Flask, Django and Starlette header objects, a plain dict);
    names are matched case-insensitively. ``secret`` is the integration's secret key, or
    several during a rotation (any one matching is enough).

    By default the Standard Webhooks headers are required: ``webhook-signature`` must match
    ``webhook-id.webhook-timestamp.body`` under one of the secrets, and ``webhook-timestamp``
    must be within ``tolerance`` of ``now`` (default: the system clock). ``X-Acadio-Hmac-Sha256``
    is then not consulted: during a rotation it is made with the newest secret only, while
    ``webhook-signature`` carries one signature per secret.

    With ``require_timestamp=False``, a request carrying only ``X-Acadio-Hmac-Sha256`` (base64,
    hex, or ``sha256=``-prefixed hex of HMAC-SHA256(secret, body)) is accepted too. Such a
    request can be replayed at any later time; if the Standard Webhooks headers are present
    they are still required to be complete and are checked as above.

    The signature is checked before the timestamp, so ``stale`` and ``future`` only ever
    describe authentic requests (a clock problem, or a replay). The body must be a JSON object
    with string ``id``, ``topic``, ``tenant``, an RFC 3339 ``created_at`` and an object ``data``
    (other keys are ignored), and its ``id`` must equal ``webhook-id``: both are signed, so a
    mismatch is a sender defect, reported as ``bad_body``. ``X-Acadio-Topic`` is not signed;
    when present it must equal the body's topic, so routing on it after ``verify()`` is safe.

    ``model`` (a pydantic model, or any type pydantic validates, e.g. a ``TypedDict`` or a
    union) parses ``data`` into it once the request is known to be authentic: the event's
    ``data`` is then an instance of ``model``, and data that does not fit raises
    :class:`~acadio_webhooks.errors.DataMismatch` (reason ``bad_data``) naming every field.

    ``replay_guard``, when given, is asked last, after every other check passed: a message it
    has seen before raises :class:`~acadio_webhooks.errors.ReplayedMessage`.

    Raises only :class:`~acadio_webhooks.errors.VerificationError` subclasses for anything
    about the request or the secret, and ``ValueError``/``TypeError`` for a negative
    ``tolerance`` or a naive/non-time ``now`` (programming errors, whatever the request).
    """
    window = _tolerance_seconds(tolerance)
    keys = _receiver_keys(secret)
    raw = _raw_body(body)
    table = HeaderTable.read(headers)

    replay_key: str | None = None
    expires_at: float | None = None
    message_id: str | None = None
    if require_timestamp or any(table.has(name) for name in STANDARD_HEADERS):
        message_id, timestamp_text, signature_text = table.required(
            *STANDARD_HEADERS, hint=not require_timestamp
        )
        timestamp = parse_timestamp(timestamp_text)
        candidates = standard_candidates(signature_text)
        prefix = f"{message_id}.{timestamp}.".encode("ascii")
        expected = [hmac_of(key, prefix, raw) for key in keys]
        if not any_match(expected, candidates):
            raise BadSignature(
                f"{SIGNATURE_HEADER} does not match {_count(keys)}: "
                "wrong secret, or the body or headers were altered"
            )
        check_window(timestamp, _current_time(now), window)
        replay_key, expires_at = f"{message_id}.{timestamp}", timestamp + window
    else:
        candidates = [documented_digest(table.required(HMAC_HEADER)[0])]
        expected = [hmac.digest(key, raw, "sha256") for key in keys]
        if not any_match(expected, candidates):
            raise BadSignature(
                f"{HMAC_HEADER} does not match {_count(keys)}: "
                "wrong secret, or the body was altered"
            )

    event = _decode_event(raw)
    if message_id is not None and event.id != message_id:
        raise MalformedBody(f"the body's id {event.id!r} differs from {ID_HEADER} {message_id!r}")
    topic_header = table.optional(TOPIC_HEADER)
    if topic_header is not None and topic_header != event.topic:
        raise MalformedHeader(
            f"{TOPIC_HEADER} {topic_header!r} differs from the signed body's topic {event.topic!r}"
        )
    if model is not None:
        event = replace(event, data=_parsed_data(event, model))
    if replay_guard is not None:
        if replay_key is None or expires_at is None:
            replay_key, expires_at = event.id, _current_time(now) + window
        if replay_guard.seen(replay_key, expires_at):
            raise ReplayedMessage(f"message {replay_key!r} was already accepted (a replay)")
    return event


verify_event = verify
"""Another name of :func:`verify` (the same function and overloads)."""


def _parsed_data(event: ReceivedEvent[Any], model: type[Any]) -> Any:
    import pydantic

    from acadio_webhooks.domain.payloads import pydantic_problems

    try:
        return _adapter(model).validate_python(event.data)
    except pydantic.ValidationError as exc:
        name = getattr(model, "__name__", repr(model))
        raise DataMismatch(
            f"the data of {event.topic!r} event {event.id!r} does not fit {name}",
            pydantic_problems(exc),
        ) from None


_ADAPTERS: dict[object, pydantic.TypeAdapter[Any]] = {}


def _adapter(model: type[Any]) -> pydantic.TypeAdapter[Any]:
    """One adapter per model: building one costs far more than validating with it."""
    adapter = _ADAPTERS.get(model)
    if adapter is None:
        import pydantic

        adapter = _ADAPTERS.setdefault(model, pydantic.TypeAdapter(model))
    return adapter


def _count(keys: tuple[bytes, ...]) -> str:
    return "the secret" if len(keys) == 1 else f"any of the {len(keys)} secrets"


def _tolerance_seconds(tolerance: float | timedelta) -> float:
    seconds = tolerance.total_seconds() if isinstance(tolerance, timedelta) else tolerance
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"tolerance must be seconds or a timedelta, not {type(tolerance).__name__}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"tolerance must be finite and >= 0, not {tolerance!r}")
    return float(seconds)


def _current_time(now: Now | None) -> float:
    if now is None:
        return time.time()
    value: object = now() if callable(now) else now
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            raise ValueError("now must be timezone-aware: a naive datetime's zone is a guess")
        return value.timestamp()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TypeError(f"now must give unix seconds or an aware datetime, not {value!r}")
    return float(value)


def _receiver_keys(secret: object) -> tuple[bytes, ...]:
    try:
        return signing_keys(secret)  # type: ignore[arg-type]  # checked inside; any input here
    except SigningError as exc:
        raise InvalidSecret(f"verify() cannot use the secret it was given: {exc}") from None


def _raw_body(body: object) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, (bytearray, memoryview)):
        return bytes(body)
    if isinstance(body, str):
        try:
            return body.encode("utf-8")
        except UnicodeEncodeError:
            raise MalformedBody("the body is text that is not valid Unicode") from None
    raise MalformedBody(f"the body must be the raw request bytes, not {type(body).__name__}")


def _decode_event(raw: bytes) -> ReceivedEvent[dict[str, Any]]:
    try:
        document = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise MalformedBody("the body is not UTF-8") from None
    except (ValueError, RecursionError) as exc:
        raise MalformedBody(f"the body is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise MalformedBody(f"the body must be a JSON object, not {_json_type(document)}")
    for name in ("id", "topic", "tenant", "created_at"):
        if not isinstance(document.get(name), str) or not document[name]:
            raise MalformedBody(f"the body's {name!r} must be a non-empty string")
    if "data" not in document:
        raise MalformedBody("the body has no 'data'")
    data = document["data"]
    if not isinstance(data, dict):
        raise MalformedBody(f"the body's 'data' must be a JSON object, not {_json_type(data)}")
    return ReceivedEvent(
        id=document["id"],
        topic=document["topic"],
        created_at=_parse_rfc3339(document["created_at"]),
        tenant=document["tenant"],
        data=data,
        raw=raw,
    )


def _json_type(value: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    return "null" if value is None else names.get(type(value), "a number")


def _parse_rfc3339(text: str) -> datetime:
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise MalformedBody("the body's 'created_at' is not an RFC 3339 date-time")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        if zone in ("Z", "z"):
            tz = timezone.utc
        else:
            sign = -1 if zone[0] == "-" else 1
            offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
            tz = timezone(sign * offset)
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second),
            int((fraction or "0")[:6].ljust(6, "0")),
            tzinfo=tz,
        )
        return moment.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        raise MalformedBody("the body's 'created_at' is not a valid RFC 3339 date-time") from None


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")
