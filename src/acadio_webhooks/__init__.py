"""acadio-webhooks: signed, durable, retried webhooks for a learning-management system.

Receivers need only ``verify``; importing it loads no HTTP client, SQL driver or dispatcher,
because every public name below is imported lazily on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from acadio_webhooks._version import __version__
from acadio_webhooks.errors import (
    AcadioWebhooksError,
    BadSignature,
    FutureTimestamp,
    IntegrationInactive,
    InvalidEndpoint,
    InvalidPattern,
    InvalidPayload,
    InvalidSecret,
    InvalidTopic,
    MalformedBody,
    MalformedHeader,
    MissingHeader,
    NotFound,
    PatternMatchesNothing,
    ReplayedMessage,
    StaleTimestamp,
    StorageError,
    UnknownTopic,
    VerificationError,
)

# Public name -> module that defines it, imported on first attribute access.
_LAZY: dict[str, str] = {}

if TYPE_CHECKING:  # pragma: no cover - names for type checkers and IDEs
    pass

__all__ = [
    "__version__",
    # errors
    "AcadioWebhooksError",
    "InvalidTopic",
    "InvalidPattern",
    "UnknownTopic",
    "PatternMatchesNothing",
    "InvalidEndpoint",
    "InvalidPayload",
    "NotFound",
    "StorageError",
    "IntegrationInactive",
    "VerificationError",
    "MissingHeader",
    "MalformedHeader",
    "BadSignature",
    "StaleTimestamp",
    "FutureTimestamp",
    "MalformedBody",
    "ReplayedMessage",
    "InvalidSecret",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'acadio_webhooks' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
