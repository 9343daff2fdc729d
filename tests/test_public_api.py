"""The package root's public surface: exactly the documented names, and cheap for receivers."""

from __future__ import annotations

import subprocess
import sys

import pytest

import acadio_webhooks

EXPECTED = {
    "__version__",
    # receiving
    "verify",
    "ReceivedEvent",
    "ReplayGuard",
    "MemoryReplayGuard",
    # sending
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
    # topics and patterns
    "TOPICS",
    "Topic",
    "TopicCatalog",
    "validate_topic",
    "webhooks_openapi",
    "Pattern",
    "PatternIndex",
    # models and queries
    "Integration",
    "SigningSecret",
    "Subscription",
    "Event",
    "Delivery",
    "DeliveryStatus",
    "Attempt",
    "DeliveryQuery",
    "Page",
    # adapters
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
    # errors
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
}


def test_root_exports_exactly_the_public_names() -> None:
    assert set(acadio_webhooks.__all__) == EXPECTED
    assert len(acadio_webhooks.__all__) == len(EXPECTED)


def test_every_public_name_resolves() -> None:
    for name in acadio_webhooks.__all__:
        assert getattr(acadio_webhooks, name) is not None, name


def test_unknown_names_raise_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NoSuchThing"):
        acadio_webhooks.NoSuchThing  # type: ignore[attr-defined]


def test_importing_verify_loads_no_http_client_database_or_dispatcher() -> None:
    code = (
        "import sys\n"
        "from acadio_webhooks import verify\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in "
        "('httpx', 'httpcore', 'sqlalchemy', 'psycopg', 'aiohttp', 'alembic', 'anyio', 'rich')"
        " or m in ('acadio_webhooks.dispatcher', 'acadio_webhooks.worker')]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_testing_module_ships_the_fakes_our_own_tests_use() -> None:
    import acadio_webhooks.testing as testing
    from acadio_webhooks.adapters.clock import FakeClock
    from acadio_webhooks.adapters.storage.memory import MemoryStore

    assert testing.MemoryStore is MemoryStore
    assert testing.FakeClock is FakeClock
    for name in testing.__all__:
        assert getattr(testing, name) is not None, name
