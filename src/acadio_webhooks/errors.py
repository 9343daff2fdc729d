"""Every exception acadio-webhooks raises, under one root.

Each leaf also inherits the builtin a caller would naturally catch, so ``except ValueError``
keeps working for code that does not know this library::

    AcadioWebhooksError
    ├── InvalidTopic (ValueError)            a topic string breaks the grammar
    ├── InvalidPattern (ValueError)          a pattern string breaks the grammar
    ├── UnknownTopic (LookupError)           a well-formed topic that is not in the catalog
    ├── TopicConflict (ValueError)           a topic registered again with different details
    ├── FrozenCatalog (TypeError)            register() on the read-only default catalog
    ├── PatternMatchesNothing (ValueError)   typo guard: a pattern no catalog topic matches
    ├── InvalidEndpoint (ValueError)         an endpoint URL that is not https/public
    ├── InvalidPayload (ValueError)          emit data that is not JSON or too large
    │   └── PayloadMismatch                  data that does not fit its topic's schema
    ├── InvalidPayloadSchema (ValueError)    a topic schema that is not a usable JSON Schema
    ├── InvalidInput (ValueError)            a field of an integration or subscription is invalid
    ├── SigningError (ValueError)            the sender cannot sign: empty secret, unsafe header
    ├── NotFound (LookupError)               an id unknown to the store
    ├── StorageError (RuntimeError)          the store failed; the driver's error is ``__cause__``
    │   └── UnreadableRecord                 a stored record no longer validates (not retryable)
    ├── ResolutionError (OSError)            an endpoint host name did not resolve
    ├── NotificationError (RuntimeError)     a failure notice could not be handed to the mail server
    ├── IntegrationInactive (RuntimeError)   an operation on a deactivated integration
    └── VerificationError (ValueError)       a received webhook failed ``verify()``; see ``.reason``
        ├── MissingHeader                    reason ``missing_header``
        ├── MalformedHeader                  reason ``malformed_header``
        ├── BadSignature                     reason ``bad_signature``
        ├── StaleTimestamp                   reason ``stale``
        ├── FutureTimestamp                  reason ``future``
        ├── MalformedBody                    reason ``bad_body``
        ├── DataMismatch                     reason ``bad_data`` (authentic, but not the model)
        ├── ReplayedMessage                  reason ``replayed``
        └── InvalidSecret                    reason ``bad_secret`` (receiver misconfigured)

Messages name what is wrong and where; they never contain secrets or signatures.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

__all__ = [
    "AcadioWebhooksError",
    "InvalidTopic",
    "InvalidPattern",
    "UnknownTopic",
    "TopicConflict",
    "FrozenCatalog",
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
    "IntegrationInactive",
    "ResolutionError",
    "NotificationError",
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
    "listed_problems",
]


def listed_problems(problems: Mapping[str, str]) -> str:
    """``{"data['x']": "Field required"}`` as one line of a message: ``data['x']: Field
    required; ...``, in the mapping's order."""
    return "; ".join(f"{where}: {what}" for where, what in problems.items())


class AcadioWebhooksError(Exception):
    """Root of every exception this library raises on purpose."""


class _GrammarError(AcadioWebhooksError, ValueError):
    """A topic or pattern string that breaks the grammar, with the offending position."""

    kind: ClassVar[str] = "text"

    def __init__(self, text: str, problem: str, position: int | None = None) -> None:
        self.text = text
        self.problem = problem
        self.position = position
        where = f" at position {position}" if position is not None else ""
        shown = text if len(text) <= 80 else text[:77] + "..."
        super().__init__(f"invalid {self.kind} {shown!r}{where}: {problem}")


class InvalidTopic(_GrammarError):
    """A topic string breaks the grammar (``area/entity/action`` of ``[a-z0-9_-]+`` segments)."""

    kind = "topic"


class InvalidPattern(_GrammarError):
    """A pattern string breaks the grammar; ``.position`` points at the problem."""

    kind = "pattern"


class UnknownTopic(AcadioWebhooksError, LookupError):
    """A well-formed topic that is not registered in the catalog."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        super().__init__(
            f"unknown topic {topic!r}: register it with TopicCatalog.register() before emitting"
        )


class TopicConflict(AcadioWebhooksError, ValueError):
    """A topic name registered again with a different title, description or schedule."""

    def __init__(self, topic: str, difference: str) -> None:
        self.topic = topic
        super().__init__(f"topic {topic!r} is already registered with {difference}")


class FrozenCatalog(AcadioWebhooksError, TypeError):
    """``register()`` on a read-only catalog such as the default ``TOPICS``."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        super().__init__(
            f"cannot register {topic!r}: this catalog is read-only; "
            "register on a copy (TOPICS.copy()) and pass that catalog on"
        )


class PatternMatchesNothing(AcadioWebhooksError, ValueError):
    """A valid pattern that matches no topic of the catalog (the ``cource/*`` typo guard)."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        super().__init__(
            f"pattern {pattern!r} matches no known topic; check for a typo, or pass "
            "allow_future_topics=True if it is meant for topics added later"
        )


class InvalidEndpoint(AcadioWebhooksError, ValueError):
    """An endpoint URL that is not ``https://`` or not publicly routable."""

    def __init__(self, url: str, problem: str) -> None:
        self.url = url
        self.problem = problem
        super().__init__(f"endpoint {url!r} refused: {problem}")


class InvalidPayload(AcadioWebhooksError, ValueError):
    """Event data that cannot be sent: not JSON-serialisable, non-finite numbers, too large."""


class PayloadMismatch(InvalidPayload):
    """Event data that does not fit the schema its topic declares.

    ``topic`` is the topic's name; ``problems`` maps each offending place
    (``data['score']``, ``data['scores'][2]``, ``data`` for the object itself) to what is
    wrong there, in the order the schema found them.
    """

    def __init__(self, topic: str, schema: str, problems: dict[str, str]) -> None:
        self.topic = topic
        self.problems = problems
        super().__init__(
            f"data does not fit topic {topic!r} ({schema}): {listed_problems(problems)}"
        )


class InvalidPayloadSchema(AcadioWebhooksError, ValueError):
    """A JSON Schema (or model) given for a topic's data that cannot describe a JSON object."""

    def __init__(self, topic: str, problem: str) -> None:
        self.topic = topic
        self.problem = problem
        super().__init__(f"schema for topic {topic!r} refused: {problem}")


class InvalidInput(AcadioWebhooksError, ValueError):
    """Input for an integration or subscription failed validation.

    ``problems`` maps each offending field (``notification_email``, ``secrets.0.value``) to
    what is wrong with it. The submitted values are never echoed: one of them may be a secret.
    """

    def __init__(self, what: str, problems: dict[str, str]) -> None:
        self.what = what
        self.problems = problems
        super().__init__(f"invalid {what}: {listed_problems(problems)}")


class SigningError(AcadioWebhooksError, ValueError):
    """The sending side cannot sign a request: an empty secret or one that is neither text nor
    bytes, or an event id, topic or timestamp that cannot travel in an HTTP header.

    This is the sender's configuration or programming error; a receiver's ``verify()`` never
    raises it (a bad receiver-side secret is :class:`InvalidSecret`).
    """


class NotFound(AcadioWebhooksError, LookupError):
    """An id the store does not know."""

    def __init__(self, kind: str, ident: str, *, hint: str = "") -> None:
        self.kind = kind
        self.ident = ident
        super().__init__(f"{kind} {ident!r} not found{hint}")


class StorageError(AcadioWebhooksError, RuntimeError):
    """The store failed; the driver's own exception is chained as ``__cause__``."""


class UnreadableRecord(StorageError):
    """A stored record that no longer reads back as a valid object: edited by hand, written by
    a newer version, or refused by a stricter rule since. Retrying does not help; the record
    must be corrected or deleted (or read by the version that wrote it).

    ``kind`` (``"integration"``, ``"subscription"``, ``"delivery"``...), ``record_id``,
    ``table`` and ``fields`` (the failing ones, ``secrets.0.value``-style) say which record
    and what is wrong with it. Stored values never appear, here or in a chained exception:
    one may be a signing secret.
    """

    def __init__(
        self, message: str, *, kind: str, record_id: str, table: str, fields: tuple[str, ...]
    ) -> None:
        self.kind = kind
        self.record_id = record_id
        self.table = table
        self.fields = fields
        super().__init__(message)


class ResolutionError(AcadioWebhooksError, OSError):
    """An endpoint host name did not resolve to any address."""


class NotificationError(AcadioWebhooksError, RuntimeError):
    """A failure notice could not be handed over; it stays queued and is retried."""


class IntegrationInactive(AcadioWebhooksError, RuntimeError):
    """An operation that needs an active integration met a deactivated one."""


class VerificationError(AcadioWebhooksError, ValueError):
    """A received webhook failed verification.

    ``reason`` is a stable machine-readable code (``missing_header``, ``malformed_header``,
    ``bad_signature``, ``stale``, ``future``, ``bad_body``, ``replayed``, ``bad_secret``);
    the message is for humans and never contains the secret or the signature.
    """

    reason: ClassVar[str] = "invalid"

    def __init__(self, message: str) -> None:
        super().__init__(message)


class MissingHeader(VerificationError):
    """A required header is absent."""

    reason = "missing_header"


class MalformedHeader(VerificationError):
    """A header is present but cannot be parsed."""

    reason = "malformed_header"


class BadSignature(VerificationError):
    """No signature matches any of the given secrets."""

    reason = "bad_signature"


class StaleTimestamp(VerificationError):
    """``webhook-timestamp`` is older than the tolerance allows (possible replay)."""

    reason = "stale"


class FutureTimestamp(VerificationError):
    """``webhook-timestamp`` is further in the future than the tolerance allows."""

    reason = "future"


class MalformedBody(VerificationError):
    """The body is not a JSON object of the documented event shape."""

    reason = "bad_body"


class DataMismatch(VerificationError):
    """An authentic event whose ``data`` does not fit the model the receiver asked for.

    The signature and timestamp were good: the sender and this receiver disagree about the
    topic's schema. ``problems`` maps each offending place (``data['score']``) to what is wrong.
    """

    reason = "bad_data"

    def __init__(self, message: str, problems: dict[str, str]) -> None:
        super().__init__(f"{message}: {listed_problems(problems)}")
        self.problems = dict(problems)


class ReplayedMessage(VerificationError):
    """The replay guard has already seen this ``webhook-id``."""

    reason = "replayed"


class InvalidSecret(VerificationError):
    """The secret(s) given to ``verify()`` are empty or of the wrong type."""

    reason = "bad_secret"
