"""acadio-webhooks: signed, durable, retried webhooks for a learning-management system.

Receivers need only ``verify``; importing it loads no HTTP client, SQL driver or dispatcher,
because every public name except the exceptions is imported lazily on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from acadio_webhooks._lazy import lazy_attributes
from acadio_webhooks._version import __version__
from acadio_webhooks.errors import (
    AcadioWebhooksError,
    BadSignature,
    DataMismatch,
    FrozenCatalog,
    FutureTimestamp,
    IntegrationInactive,
    InvalidEndpoint,
    InvalidInput,
    InvalidPattern,
    InvalidPayload,
    InvalidPayloadSchema,
    InvalidSecret,
    InvalidTopic,
    MalformedBody,
    MalformedHeader,
    MissingHeader,
    NotFound,
    NotificationError,
    PatternMatchesNothing,
    PayloadMismatch,
    ReplayedMessage,
    ResolutionError,
    SigningError,
    StaleTimestamp,
    StorageError,
    TopicConflict,
    UnknownTopic,
    UnreadableRecord,
    VerificationError,
)

if TYPE_CHECKING:
    from acadio_webhooks.adapters.notifier.logging import (
        LoggingNotifier,
    )
    from acadio_webhooks.adapters.notifier.smtp import (
        SmtpNotifier,
    )
    from acadio_webhooks.adapters.resolver import (
        StaticResolver,
        SystemResolver,
    )
    from acadio_webhooks.adapters.storage.memory import (
        MemoryStore,
    )
    from acadio_webhooks.adapters.storage.secret_box import FernetSecretBox, SecretBox
    from acadio_webhooks.adapters.storage.sql import (
        SqlStore,
        open_store,
    )
    from acadio_webhooks.adapters.transport import TransportTimeouts
    from acadio_webhooks.adapters.transport.httpx import (
        AsyncHttpxTransport,
        HttpxTransport,
    )
    from acadio_webhooks.dispatcher import (
        AsyncDispatcher,
        Dispatcher,
        NewEvent,
    )
    from acadio_webhooks.domain.core import (
        DeliveryPolicy,
    )
    from acadio_webhooks.domain.endpoints import (
        EndpointPolicy,
    )
    from acadio_webhooks.domain.models import (
        Attempt,
        Delivery,
        DeliveryStatus,
        Event,
        Integration,
        SigningSecret,
        Subscription,
    )
    from acadio_webhooks.domain.patterns import (
        Pattern,
        PatternIndex,
    )
    from acadio_webhooks.domain.replay import (
        MemoryReplayGuard,
        ReplayGuard,
    )
    from acadio_webhooks.domain.retention import PruneReport
    from acadio_webhooks.domain.retry import (
        RetryPolicy,
    )
    from acadio_webhooks.domain.signing import (
        Signer,
        encode_event_body,
        sign,
    )
    from acadio_webhooks.domain.topics import (
        TOPICS,
        Topic,
        TopicCatalog,
        validate_topic,
    )
    from acadio_webhooks.domain.verification import (
        ReceivedEvent,
        verify,
    )
    from acadio_webhooks.domain.webhooks_openapi import webhooks_openapi
    from acadio_webhooks.integrations import (
        Integrations,
    )
    from acadio_webhooks.notify import NotificationFlusher
    from acadio_webhooks.observability import (
        DeliveryMetrics,
    )
    from acadio_webhooks.ports.storage import (
        DeliveryQuery,
        Page,
    )
    from acadio_webhooks.worker import (
        AsyncWorker,
        DrainReport,
        SyncWorker,
        WorkerSettings,
        WorkerThread,
    )

# Public name -> module that defines it, imported on first attribute access.
_LAZY: dict[str, str] = {
    "verify": "acadio_webhooks.domain.verification",
    "ReceivedEvent": "acadio_webhooks.domain.verification",
    "ReplayGuard": "acadio_webhooks.domain.replay",
    "MemoryReplayGuard": "acadio_webhooks.domain.replay",
    "sign": "acadio_webhooks.domain.signing",
    "Signer": "acadio_webhooks.domain.signing",
    "encode_event_body": "acadio_webhooks.domain.signing",
    "Dispatcher": "acadio_webhooks.dispatcher",
    "AsyncDispatcher": "acadio_webhooks.dispatcher",
    "NewEvent": "acadio_webhooks.dispatcher",
    "Integrations": "acadio_webhooks.integrations",
    "SyncWorker": "acadio_webhooks.worker",
    "AsyncWorker": "acadio_webhooks.worker",
    "WorkerThread": "acadio_webhooks.worker",
    "WorkerSettings": "acadio_webhooks.worker",
    "DrainReport": "acadio_webhooks.worker",
    "PruneReport": "acadio_webhooks.domain.retention",
    "DeliveryPolicy": "acadio_webhooks.domain.core",
    "RetryPolicy": "acadio_webhooks.domain.retry",
    "DeliveryMetrics": "acadio_webhooks.observability",
    "TOPICS": "acadio_webhooks.domain.topics",
    "Topic": "acadio_webhooks.domain.topics",
    "TopicCatalog": "acadio_webhooks.domain.topics",
    "validate_topic": "acadio_webhooks.domain.topics",
    "webhooks_openapi": "acadio_webhooks.domain.webhooks_openapi",
    "Pattern": "acadio_webhooks.domain.patterns",
    "PatternIndex": "acadio_webhooks.domain.patterns",
    "Integration": "acadio_webhooks.domain.models",
    "SigningSecret": "acadio_webhooks.domain.models",
    "Subscription": "acadio_webhooks.domain.models",
    "Event": "acadio_webhooks.domain.models",
    "Delivery": "acadio_webhooks.domain.models",
    "DeliveryStatus": "acadio_webhooks.domain.models",
    "Attempt": "acadio_webhooks.domain.models",
    "DeliveryQuery": "acadio_webhooks.ports.storage",
    "Page": "acadio_webhooks.ports.storage",
    "MemoryStore": "acadio_webhooks.adapters.storage.memory",
    "SqlStore": "acadio_webhooks.adapters.storage.sql",
    "SecretBox": "acadio_webhooks.adapters.storage.secret_box",
    "FernetSecretBox": "acadio_webhooks.adapters.storage.secret_box",
    "open_store": "acadio_webhooks.adapters.storage.sql",
    "EndpointPolicy": "acadio_webhooks.domain.endpoints",
    "SystemResolver": "acadio_webhooks.adapters.resolver",
    "StaticResolver": "acadio_webhooks.adapters.resolver",
    "HttpxTransport": "acadio_webhooks.adapters.transport.httpx",
    "AsyncHttpxTransport": "acadio_webhooks.adapters.transport.httpx",
    "TransportTimeouts": "acadio_webhooks.adapters.transport",
    "SmtpNotifier": "acadio_webhooks.adapters.notifier.smtp",
    "LoggingNotifier": "acadio_webhooks.adapters.notifier.logging",
    "NotificationFlusher": "acadio_webhooks.notify",
}

__all__ = [
    "__version__",
    "verify",
    "ReceivedEvent",
    "ReplayGuard",
    "MemoryReplayGuard",
    "sign",
    "Signer",
    "encode_event_body",
    "Dispatcher",
    "AsyncDispatcher",
    "NewEvent",
    "Integrations",
    "SyncWorker",
    "AsyncWorker",
    "WorkerThread",
    "WorkerSettings",
    "DrainReport",
    "PruneReport",
    "DeliveryPolicy",
    "RetryPolicy",
    "DeliveryMetrics",
    "TOPICS",
    "Topic",
    "TopicCatalog",
    "validate_topic",
    "webhooks_openapi",
    "Pattern",
    "PatternIndex",
    "Integration",
    "SigningSecret",
    "Subscription",
    "Event",
    "Delivery",
    "DeliveryStatus",
    "Attempt",
    "DeliveryQuery",
    "Page",
    "MemoryStore",
    "SqlStore",
    "open_store",
    "SecretBox",
    "FernetSecretBox",
    "EndpointPolicy",
    "SystemResolver",
    "StaticResolver",
    "HttpxTransport",
    "AsyncHttpxTransport",
    "TransportTimeouts",
    "SmtpNotifier",
    "LoggingNotifier",
    "NotificationFlusher",
    "AcadioWebhooksError",
    "InvalidTopic",
    "InvalidPattern",
    "UnknownTopic",
    "PatternMatchesNothing",
    "InvalidEndpoint",
    "InvalidPayload",
    "PayloadMismatch",
    "InvalidPayloadSchema",
    "InvalidInput",
    "SigningError",
    "NotFound",
    "StorageError",
    "UnreadableRecord",
    "ResolutionError",
    "NotificationError",
    "IntegrationInactive",
    "VerificationError",
    "MissingHeader",
    "MalformedHeader",
    "BadSignature",
    "StaleTimestamp",
    "FutureTimestamp",
    "MalformedBody",
    "DataMismatch",
    "ReplayedMessage",
    "InvalidSecret",
    "TopicConflict",
    "FrozenCatalog",
]


__getattr__ = lazy_attributes(__name__, globals(), _LAZY)


def __dir__() -> list[str]:
    return sorted(__all__)
