"""What every receiver helper shares, free of any web framework.

A :class:`Verifier` holds the receiver's secret (or a function returning it) and the options
of :func:`~acadio_webhooks.domain.verification.verify`; :func:`rejection_for` turns a failure
into the status and JSON body every helper answers with, so Flask, Django and Starlette/FastAPI
refuse a request in the same words.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeAlias

from typing_extensions import TypedDict

from acadio_webhooks.domain.replay import ReplayGuard
from acadio_webhooks.domain.signing import Secret
from acadio_webhooks.domain.verification import HeaderItems, Now, ReceivedEvent, verify
from acadio_webhooks.errors import DataMismatch, InvalidSecret, VerificationError

__all__ = [
    "MISCONFIGURED",
    "Rejection",
    "SecretSource",
    "Verifier",
    "VerifyOptions",
    "logger",
    "rejection_for",
]

logger = logging.getLogger("acadio_webhooks.receivers")

SecretSource: TypeAlias = Secret | Iterable[Secret] | Callable[[], Secret | Iterable[Secret]]
"""The receiver's secret: a ``str``/``bytes``, a list of them during a rotation, or a function
of no arguments returning either, called on every request (read from settings or a vault, so a
rotation needs no restart)."""

MISCONFIGURED = "receiver_misconfigured"
"""The ``error`` of the 500 answer given when the receiver's own secret is unusable."""


class VerifyOptions(TypedDict, total=False):
    """The keyword options of ``verify()`` that every helper passes through unchanged."""

    tolerance: float | timedelta
    now: Now | None
    require_timestamp: bool
    replay_guard: ReplayGuard | None
    model: type[Any] | None


_OPTION_NAMES = frozenset(VerifyOptions.__annotations__)


class Verifier:
    """``verify()`` bound to a secret source and options, checked once when a helper is built.

    ``may_block`` says whether verifying can wait on I/O: a replay guard may be a Redis or SQL
    store, which async helpers must not call on the event loop.
    """

    def __init__(self, secret: SecretSource, options: VerifyOptions) -> None:
        unknown = sorted(set(options) - _OPTION_NAMES)
        if unknown:
            raise TypeError(
                f"unknown verify() option(s) {', '.join(unknown)}; "
                f"expected some of {', '.join(sorted(_OPTION_NAMES))}"
            )
        self._secret = secret
        self._options = options

    @property
    def may_block(self) -> bool:
        """Whether :meth:`verify` may do I/O (a replay guard was given)."""
        return self._options.get("replay_guard") is not None

    def verify(self, body: bytes, headers: Mapping[str, str] | HeaderItems) -> ReceivedEvent[Any]:
        """Verify one request; raises only :class:`~acadio_webhooks.errors.VerificationError`
        (and whatever a secret function or replay guard raises, unchanged)."""
        secret = self._secret() if callable(self._secret) else self._secret
        return verify(body, headers, secret, **self._options)


@dataclass(frozen=True)
class Rejection:
    """How a helper answers a request that failed verification."""

    status_code: int
    body: dict[str, str]


def rejection_for(error: VerificationError) -> Rejection:
    """The answer to ``error``: 400 ``{"error": reason, "detail": message}`` for a request
    that failed verification, and 500 ``{"error": "receiver_misconfigured"}`` (logged as an
    error) when the receiver's own secret is unusable, so Acadio retries once it is fixed."""
    if isinstance(error, InvalidSecret):
        logger.error(
            "refused an acadio webhook because this receiver's secret is unusable "
            "(answered 500, so Acadio retries once the configuration is fixed): %s",
            error,
        )
        return Rejection(500, {"error": MISCONFIGURED})
    # Messages name what failed, never the secret or a signature: safe to send back.
    logger.info("refused an acadio webhook (%s): %s", error.reason, error)
    # Authentic data that does not fit the receiver's model is not a bad request: 422 says
    # "understood, cannot process", and the sender's retries give a fixed receiver its chance.
    status = 422 if isinstance(error, DataMismatch) else 400
    return Rejection(status, {"error": error.reason, "detail": str(error)})
