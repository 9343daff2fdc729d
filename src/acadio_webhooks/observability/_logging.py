"""The structured log lines of the delivery path.

Logger ``acadio_webhooks.delivery`` logs each attempt at DEBUG, each given-up delivery at
WARNING, with ``extra`` fields (``delivery_id``, ``event_id``, ``topic``, ``endpoint`` without
query string, ``attempt``, ``status_code``, ``error``, ``duration_ms``) for JSON log handlers.
Secrets and signatures are never logged.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from acadio_webhooks.domain.messages import Settlement
from acadio_webhooks.domain.models import DeliveryStatus

__all__ = ["log_settlement", "redact_url"]

logger = logging.getLogger("acadio_webhooks.delivery")


def redact_url(url: str) -> str:
    """``scheme://host[:port]`` — all a log line needs to say where a delivery went.

    The rest may be a capability: a Slack- or Zapier-style URL carries its secret in the
    path, others in the query or the userinfo. The full URL stays where the integration's
    owner sees it (portal, CLI), never in logs.

    Never raises: it runs while a settled attempt is being logged, where a malformed stored
    URL must not stop the worker.

    >>> redact_url("https://user:pw@hooks.example.com:8443/in?token=abc")
    'https://hooks.example.com:8443'
    >>> redact_url("https://hooks.slack.com/services/T0/B0/XXXXSECRET")
    'https://hooks.slack.com'
    >>> redact_url("https://hooks.example.com:443:443/x")
    'https://hooks.example.com'
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(unparsable URL)"
    netloc = parts.netloc.rpartition("@")[2]  # drop any userinfo
    try:
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # a malformed port: keep the host, drop what follows it
        host, port = netloc.split(":", 1)[0].lower(), ""
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}{port}"


def log_settlement(settlement: Settlement) -> None:
    """Log one settled attempt with structured extras."""
    failed = settlement.status is DeliveryStatus.FAILED
    # Checked first: building the extras costs more than the rest of recording an attempt.
    if not logger.isEnabledFor(logging.WARNING if failed else logging.DEBUG):
        return
    item, attempt = settlement.item, settlement.attempt
    extra = {
        "delivery_id": item.delivery_id,
        "event_id": item.event_id,
        "topic": item.topic,
        "endpoint": redact_url(item.endpoint),
        "attempt": attempt.number,
        "status_code": attempt.status_code,
        "error": attempt.error,
        "duration_ms": attempt.duration_ms,
        "delivery_status": settlement.status.value,
    }
    if failed:
        logger.warning(
            "delivery %s to %s failed after %d attempts: %s",
            item.delivery_id,
            extra["endpoint"],
            attempt.number,
            attempt.summary,
            extra=extra,
        )
    else:
        logger.debug(
            "attempt %d of %s: %s", attempt.number, item.delivery_id, attempt.summary, extra=extra
        )
