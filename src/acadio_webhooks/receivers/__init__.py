"""Receiver helpers for web frameworks: verify a delivery before your view runs.

Each helper reads the raw body (the signed bytes, never re-serialised JSON), calls
:func:`~acadio_webhooks.domain.verification.verify`, and either hands your view the
:class:`~acadio_webhooks.domain.verification.ReceivedEvent` or answers for it:

* ``400 {"error": "<reason>", "detail": "<message>"}`` when the request fails verification
  (``reason`` as in the table of :mod:`acadio_webhooks.domain.verification`);
* ``500 {"error": "receiver_misconfigured"}``, logged as an error, when the receiver's own
  secret is empty or unusable, so Acadio retries once the configuration is fixed.

One module per framework, each importing its framework only when imported itself:

* :mod:`acadio_webhooks.receivers.django`: ``webhook_view``, a view decorator;
* :mod:`acadio_webhooks.receivers.flask`: ``verified_event`` and ``verify_webhook``;
* :mod:`acadio_webhooks.receivers.starlette`: ``verified_event``, ``verify_webhook`` and
  ``rejection_response``;
* :mod:`acadio_webhooks.receivers.fastapi`: ``WebhookVerifier``, a dependency.

This package itself imports no framework.
"""

from __future__ import annotations

from acadio_webhooks.receivers._common import SecretSource, VerifyOptions

__all__ = ["SecretSource", "VerifyOptions"]
