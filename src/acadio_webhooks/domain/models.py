"""The records a host and the stores exchange: integration, subscription, event, delivery, attempt.

These are pydantic models so that bad input fails with field-named errors. They check *shape*
(grammar of patterns, absolute http(s) URLs, lengths, e-mail syntax); whether an endpoint is
safe to call is the business of :mod:`acadio_webhooks.domain.endpoints`, applied by the
integration service at registration and by the transport at connection time.
"""

from __future__ import annotations

from datetime import datetime, timezone
from enum import Enum
from functools import lru_cache
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    SecretStr,
    field_validator,
)

from acadio_webhooks.domain.headers import endpoint_header_problems
from acadio_webhooks.domain.ids import new_id
from acadio_webhooks.domain.rate_limit import check_rate_limit
from acadio_webhooks.errors import listed_problems

__all__ = [
    "MIN_SECRET_LENGTH",
    "MAX_SECRET_LENGTH",
    "MAX_URL_LENGTH",
    "MAX_TENANT_LENGTH",
    "MAX_DEDUP_KEY_LENGTH",
    "MAX_SUBJECT_LENGTH",
    "DeliveryStatus",
    "SigningSecret",
    "Integration",
    "signing_keys",
    "Subscription",
    "Event",
    "Delivery",
    "Attempt",
    "utcnow",
]

MIN_SECRET_LENGTH = 16
"""A signing secret shorter than this is refused: HMAC keys need entropy to resist guessing."""
MAX_SECRET_LENGTH = 256
MAX_URL_LENGTH = 2048
MAX_TENANT_LENGTH = 255
MAX_DEDUP_KEY_LENGTH = 512
"""The longest stored de-duplication key (see :func:`acadio_webhooks.domain.core.dedup_scope`)."""
MAX_SUBJECT_LENGTH = 255
"""The longest subject key an event may carry (``emit(..., subject=...)``)."""

MAX_TRACE_CONTEXT_LENGTH = 1024
"""The longest stored trace context: a W3C ``traceparent`` (55 characters), a newline and a
``tracestate`` (at most 512)."""


def utcnow() -> datetime:
    """The current time as an aware UTC datetime (only for defaults; code takes a clock)."""
    return datetime.now(timezone.utc)


def _aware_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("datetime must be timezone-aware (UTC)")
    try:
        return value.astimezone(timezone.utc)
    except OverflowError:
        # Within a day of datetime.min or max, in a zone whose UTC moment lies past them.
        raise ValueError(f"datetime {value.isoformat()} is out of range in UTC") from None


UtcDatetime = Annotated[datetime, AfterValidator(_aware_utc)]


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http"):
        raise ValueError("must be an absolute https:// URL")
    if not parts.hostname:
        raise ValueError("must name a host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not carry credentials (user:password@) in the URL")
    if parts.fragment:
        raise ValueError("must not have a #fragment")
    try:
        _ = parts.port
    except ValueError as exc:
        raise ValueError("has an invalid port") from exc
    return value


EndpointUrl = Annotated[
    str, Field(min_length=1, max_length=MAX_URL_LENGTH), AfterValidator(_http_url)
]
Tenant = Annotated[str, Field(min_length=1, max_length=MAX_TENANT_LENGTH)]


def _pattern_text(value: str) -> str:
    from acadio_webhooks.domain.patterns import Pattern

    return Pattern(value).text


class DeliveryStatus(str, Enum):
    """A delivery is ``pending`` until ``delivered``, ``failed`` or ``cancelled``."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
    CANCELLED = "cancelled"


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=False)


class SigningSecret(_Record):
    """One signing secret of an integration; during rotation the previous one keeps signing
    until ``expires_at`` so receivers can switch without dropping deliveries."""

    value: SecretStr
    created_at: UtcDatetime = Field(default_factory=utcnow)
    expires_at: UtcDatetime | None = None

    @field_validator("value")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        length = len(value.get_secret_value())
        if not MIN_SECRET_LENGTH <= length <= MAX_SECRET_LENGTH:
            raise ValueError(
                f"must be {MIN_SECRET_LENGTH} to {MAX_SECRET_LENGTH} characters, not {length}"
            )
        return value

    def key(self) -> bytes:
        """The HMAC key: the secret's UTF-8 bytes."""
        return self.value.get_secret_value().encode("utf-8")


class Integration(_Record):
    """One tenant's installed webhooks integration (the customer page's "Install" step)."""

    id: str = Field(default_factory=lambda: new_id("int"))
    tenant: Tenant
    secrets: tuple[SigningSecret, ...] = Field(min_length=1)
    notification_email: EmailStr | None = None
    active: bool = True
    created_at: UtcDatetime = Field(default_factory=utcnow)
    updated_at: UtcDatetime = Field(default_factory=utcnow)

    def signing_keys(self, now: datetime) -> tuple[bytes, ...]:
        """Keys that sign a request made at ``now``, newest first (expired ones dropped)."""
        return signing_keys(self.secrets, now)


def signing_keys(secrets: tuple[SigningSecret, ...], now: datetime) -> tuple[bytes, ...]:
    """The keys of ``secrets`` (newest first) that sign a request made at ``now``: those not
    expired, or the newest if all are (what :meth:`Integration.signing_keys` returns)."""
    keys = tuple(s.key() for s in secrets if s.expires_at is None or s.expires_at > now)
    return keys or (secrets[0].key(),)


class Subscription(_Record):
    """A pattern and the endpoint that receives every matching event of its integration."""

    id: str = Field(default_factory=lambda: new_id("sub"))
    integration_id: str = Field(min_length=1)
    pattern: Annotated[str, AfterValidator(_pattern_text)]
    endpoint: EndpointUrl
    active: bool = True
    disabled_reason: str | None = Field(default=None, max_length=500)
    consecutive_failures: int = Field(default=0, ge=0)
    failing_since: UtcDatetime | None = None
    paused_until: UtcDatetime | None = None
    """Set by the circuit breaker: workers leave this endpoint's deliveries alone until then."""
    created_at: UtcDatetime = Field(default_factory=utcnow)
    headers: dict[str, str] = Field(default_factory=dict, repr=False)
    """Custom headers sent on every attempt (see :mod:`acadio_webhooks.domain.headers`).
    Their values are secrets: list :attr:`header_names` instead."""
    rate_limit: float | None = None
    """Deliveries per second this endpoint receives at most, with a burst of one second's
    worth (see :mod:`acadio_webhooks.domain.rate_limit`); None for no limit."""

    @field_validator("rate_limit", mode="before")
    @classmethod
    def _valid_rate_limit(cls, value: object) -> float | None:
        try:
            return check_rate_limit(value)
        except TypeError as exc:  # pydantic reports ValueErrors only
            raise ValueError(str(exc)) from None

    @field_validator("headers")
    @classmethod
    def _valid_headers(cls, value: dict[str, str]) -> dict[str, str]:
        problems = endpoint_header_problems(value)
        if problems:
            raise ValueError(listed_problems(problems))
        return value

    @property
    def header_names(self) -> list[str]:
        """The names of the custom headers, sorted (their values are secrets)."""
        return sorted(self.headers, key=str.lower)


class Event(_Record):
    """One occurrence: what ``emit`` stores, serialised once into ``payload`` (the wire body)."""

    id: str = Field(default_factory=lambda: new_id("evt"))
    topic: str
    tenant: Tenant
    created_at: UtcDatetime
    payload: bytes = Field(repr=False)
    dedup_key: str | None = Field(default=None, max_length=MAX_DEDUP_KEY_LENGTH)
    subject: str | None = Field(default=None, min_length=1, max_length=MAX_SUBJECT_LENGTH)
    """Whom the event is about (``student-3``), so that erasure can find it: see
    :meth:`acadio_webhooks.Dispatcher.erase`."""
    trace_context: str | None = Field(default=None, max_length=MAX_TRACE_CONTEXT_LENGTH)
    """The W3C trace context of the emit (``traceparent``, then ``tracestate`` after a
    newline) when it was traced: its attempts join that trace
    (:mod:`acadio_webhooks.observability.otel`)."""

    @field_validator("topic")
    @classmethod
    def _valid_topic(cls, value: str) -> str:
        return _checked_topic(value)


@lru_cache(maxsize=1024)
def _checked_topic(value: str) -> str:
    # Every emitted event is validated, always with one of a catalog's few topics: parse each
    # once. Only valid topics are cached (an invalid one raises, and lru_cache keeps nothing).
    from acadio_webhooks.domain.topics import validate_topic

    return validate_topic(value)


def _is_topic(value: str) -> bool:
    try:
        _checked_topic(value)
    except ValueError:
        return False
    return True


class Delivery(_Record):
    """One event going to one subscription's endpoint, with its queue state."""

    id: str = Field(default_factory=lambda: new_id("dlv"))
    event_id: str
    subscription_id: str
    integration_id: str
    tenant: Tenant
    topic: str
    status: DeliveryStatus = DeliveryStatus.PENDING
    attempts: int = Field(default=0, ge=0)
    next_attempt_at: UtcDatetime | None = None
    last_status_code: int | None = None
    last_error: str | None = None
    created_at: UtcDatetime
    updated_at: UtcDatetime


class Attempt(_Record):
    """One HTTP POST of a delivery: when, how long, what came back.

    ``id`` is unique per attempt: a store given the same attempt again (a settle retried after
    its commit went through but the acknowledgement was lost) records it once.
    """

    id: str = Field(default_factory=lambda: new_id("att"))
    delivery_id: str
    number: int = Field(ge=1)
    started_at: UtcDatetime
    duration_ms: float = Field(ge=0)
    status_code: int | None = None
    error: str | None = Field(default=None, max_length=1000)
    response_excerpt: str = Field(default="", max_length=4096)
    succeeded: bool

    @property
    def summary(self) -> str:
        """``200``, ``500``, or the error text, for logs and tables."""
        if self.status_code is not None:
            return str(self.status_code)
        return self.error or "unknown error"
