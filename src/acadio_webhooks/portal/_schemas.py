"""The JSON API's request and response bodies, as pydantic models.

The same models validate requests, shape responses and generate the OpenAPI document
(:mod:`._openapi`), so the document cannot drift from what the code accepts and returns.
Response models are built field by field from the library's records: an integration's secret
values are never copied into one, only when each secret was set and until when it signs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, EmailStr, Field

from acadio_webhooks.domain.models import (
    MAX_SECRET_LENGTH,
    MAX_URL_LENGTH,
    MIN_SECRET_LENGTH,
    Attempt,
    Delivery,
    DeliveryStatus,
    Integration,
    Subscription,
)
from acadio_webhooks.domain.rate_limit import MAX_RATE_LIMIT, MIN_RATE_LIMIT
from acadio_webhooks.domain.topics import Topic

__all__ = [
    "MAX_PAGE_SIZE",
    "MAX_ROTATION_OVERLAP_SECONDS",
    "InstallIn",
    "IntegrationPatch",
    "SecretIn",
    "SubscriptionIn",
    "SubscriptionPatch",
    "TestEventIn",
    "ResendFailedIn",
    "EmptyIn",
    "DeliveryFilters",
    "TopicFilter",
    "SecretInfo",
    "IntegrationOut",
    "IntegrationList",
    "SubscriptionOut",
    "SubscriptionList",
    "AttemptOut",
    "DeliveryOut",
    "DeliveryPage",
    "TopicOut",
    "TopicList",
    "QueuedEvent",
    "QueuedCount",
    "ErrorOut",
    "ValidationErrorOut",
]

MAX_PAGE_SIZE = 100
MAX_ROTATION_OVERLAP_SECONDS = 7 * 24 * 3600
MAX_PATTERN_LENGTH = 255

_SECRET_HELP = (
    f"The signing secret key, {MIN_SECRET_LENGTH}-{MAX_SECRET_LENGTH} characters. Write-only: "
    "no endpoint ever returns it."
)

# The secret of an install or a rotation; the OpenAPI document marks it write-only.
_SecretText = Annotated[
    str,
    Field(
        min_length=MIN_SECRET_LENGTH,
        max_length=MAX_SECRET_LENGTH,
        description=_SECRET_HELP,
        json_schema_extra={"writeOnly": True},
    ),
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InstallIn(_Body):
    """Install the webhooks integration (customer page steps 3, 4 and 7)."""

    secret: _SecretText
    notification_email: EmailStr | None = Field(
        default=None, description="Who is told when deliveries keep failing."
    )


class IntegrationPatch(_Body):
    """Change the integration's notification e-mail (null clears it)."""

    notification_email: EmailStr | None


class SecretIn(_Body):
    """Set a new signing secret; the previous one keeps signing for ``overlap_seconds``."""

    secret: _SecretText
    overlap_seconds: int = Field(
        default=24 * 3600,
        ge=0,
        le=MAX_ROTATION_OVERLAP_SECONDS,
        description="How long the previous secret keeps signing too; 0 replaces it at once.",
    )


_HEADERS_IN = (
    "Custom headers sent on every delivery (an API gateway's Authorization). Write-only: "
    "values are never shown again, responses list header_names."
)


_RATE_LIMIT_IN = (
    "Deliveries per second the endpoint receives at most (a burst of one second's worth), "
    "from 0.01 to 10000; null for no limit."
)


def _rate_limit_field() -> Any:
    return Field(
        default=None,
        ge=MIN_RATE_LIMIT,
        le=MAX_RATE_LIMIT,
        allow_inf_nan=False,
        description=_RATE_LIMIT_IN,
        examples=[5.0],
    )


class SubscriptionIn(_Body):
    """A pattern and the endpoint that receives every topic it matches (step 5)."""

    pattern: str = Field(
        min_length=1, max_length=MAX_PATTERN_LENGTH, examples=["course/*", "*/*/create"]
    )
    endpoint: str = Field(
        min_length=1, max_length=MAX_URL_LENGTH, examples=["https://hooks.example.com/acadio"]
    )
    allow_future_topics: bool = Field(
        default=False,
        description="Accept a pattern that matches no topic yet (otherwise refused as a typo).",
    )
    headers: dict[str, str] | None = Field(default=None, description=_HEADERS_IN)
    rate_limit: float | None = _rate_limit_field()


class SubscriptionPatch(_Body):
    """Change a subscription; fields left out stay as they are."""

    pattern: str | None = Field(default=None, min_length=1, max_length=MAX_PATTERN_LENGTH)
    endpoint: str | None = Field(default=None, min_length=1, max_length=MAX_URL_LENGTH)
    active: bool | None = Field(
        default=None, description="false pauses deliveries; true re-enables a disabled one."
    )
    allow_future_topics: bool = False
    headers: dict[str, str] | None = Field(
        default=None, description=_HEADERS_IN + " Replaces them all; {} removes them."
    )
    rate_limit: float | None = _rate_limit_field()
    """Left out, the limit stays; null lifts it."""


class TestEventIn(_Body):
    """Send a test event to one subscription, of ``topic`` or the first topic it matches."""

    __test__ = False  # not a pytest test class, despite the name

    topic: str | None = Field(default=None, max_length=MAX_PATTERN_LENGTH)


class ResendFailedIn(_Body):
    """Resend every failed delivery of the integration created at or after ``since``."""

    since: AwareDatetime


class EmptyIn(_Body):
    """An action that takes no input: send ``{}`` as ``application/json``."""


class DeliveryFilters(BaseModel):
    """Query parameters of the delivery log (all optional)."""

    model_config = ConfigDict(extra="ignore")

    integration_id: str | None = None
    subscription_id: str | None = None
    status: DeliveryStatus | None = None
    topic: str | None = Field(default=None, max_length=MAX_PATTERN_LENGTH)
    since: AwareDatetime | None = Field(default=None, description="Created at or after.")
    until: AwareDatetime | None = Field(default=None, description="Created before.")
    cursor: str | None = Field(
        default=None, max_length=512, description="``next_cursor`` of the previous page."
    )
    limit: int = Field(default=50, ge=1, le=MAX_PAGE_SIZE)


class TopicFilter(BaseModel):
    """Query parameters of the topic catalog."""

    model_config = ConfigDict(extra="ignore")

    pattern: str | None = Field(
        default=None,
        max_length=MAX_PATTERN_LENGTH,
        description="Only the topics a subscription to this pattern would receive.",
    )


# -- responses ------------------------------------------------------------------------------


class SecretInfo(BaseModel):
    """When a signing secret was set and, for a replaced one, until when it still signs."""

    created_at: datetime
    expires_at: datetime | None


class IntegrationOut(BaseModel):
    """An installed webhooks integration. Secret values are never included."""

    id: str
    tenant: str
    active: bool
    notification_email: str | None
    secret_set_at: datetime = Field(description="When the current signing secret was set.")
    previous_secrets: list[SecretInfo] = Field(
        description="Replaced secrets that still sign beside the current one until expires_at."
    )
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, integration: Integration) -> IntegrationOut:
        """The public view of ``integration``."""
        current, *previous = integration.secrets
        return cls(
            id=integration.id,
            tenant=integration.tenant,
            active=integration.active,
            notification_email=integration.notification_email,
            secret_set_at=current.created_at,
            previous_secrets=[
                SecretInfo(created_at=old.created_at, expires_at=old.expires_at) for old in previous
            ],
            created_at=integration.created_at,
            updated_at=integration.updated_at,
        )


class IntegrationList(BaseModel):
    """The tenant's integrations (at most one is installed through the portal)."""

    items: list[IntegrationOut]


class SubscriptionOut(BaseModel):
    """A subscription and its endpoint's health."""

    id: str
    integration_id: str
    pattern: str
    endpoint: str
    active: bool
    disabled_reason: str | None
    consecutive_failures: int
    failing_since: datetime | None
    created_at: datetime
    header_names: list[str] = Field(
        description="Names of the custom headers; their values are never shown."
    )
    rate_limit: float | None = Field(
        default=None, description="Deliveries per second at most; null for no limit."
    )

    @classmethod
    def of(cls, subscription: Subscription) -> SubscriptionOut:
        """The public view of ``subscription`` (header names, never their values)."""
        fields = subscription.model_dump(exclude={"headers", "paused_until"})
        return cls(**fields, header_names=subscription.header_names)


class SubscriptionList(BaseModel):
    """Subscriptions of one integration, oldest first."""

    items: list[SubscriptionOut]


class AttemptOut(BaseModel):
    """One HTTP POST of a delivery."""

    number: int
    started_at: datetime
    duration_ms: float
    status_code: int | None
    error: str | None
    response_excerpt: str
    succeeded: bool

    @classmethod
    def of(cls, attempt: Attempt) -> AttemptOut:
        """The public view of ``attempt``."""
        return cls(**attempt.model_dump(exclude={"delivery_id"}))


class DeliveryOut(BaseModel):
    """One event going to one endpoint, with every attempt made so far."""

    id: str
    event_id: str
    subscription_id: str
    integration_id: str
    topic: str
    status: DeliveryStatus
    attempt_count: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    attempts: list[AttemptOut]

    @classmethod
    def of(cls, delivery: Delivery, attempts: list[Attempt]) -> DeliveryOut:
        """The public view of ``delivery`` and its ``attempts``."""
        fields = delivery.model_dump(exclude={"tenant", "attempts"})
        return cls(
            **fields,
            attempt_count=delivery.attempts,
            attempts=[AttemptOut.of(attempt) for attempt in attempts],
        )


class DeliveryPage(BaseModel):
    """One page of the delivery log, newest first; pass ``next_cursor`` for the next."""

    items: list[DeliveryOut]
    next_cursor: str | None


class TopicOut(BaseModel):
    """A topic of the catalog."""

    name: str
    title: str
    description: str
    once_per_day: bool
    note: str | None

    @classmethod
    def of(cls, topic: Topic) -> TopicOut:
        """The public view of ``topic``."""
        return cls(
            name=topic.name,
            title=topic.title,
            description=topic.description,
            once_per_day=topic.once_per_day,
            note=topic.note,
        )


class TopicList(BaseModel):
    """The catalog, or the part of it a pattern receives."""

    pattern: str | None
    topics: list[TopicOut]


class QueuedEvent(BaseModel):
    """A test event was stored and its delivery queued."""

    event_id: str


class QueuedCount(BaseModel):
    """How many deliveries were queued again."""

    queued: int


class ErrorOut(BaseModel):
    """A refusal that is not about one field: not found, conflict, wrong content type."""

    error: str


class ValidationErrorOut(BaseModel):
    """Bad input: what is wrong with each field."""

    errors: dict[str, str]
