"""Counters a host can export, and the structured log lines of the delivery path.

Logger ``acadio_webhooks.delivery`` logs each attempt at DEBUG, each given-up delivery at
WARNING, with ``extra`` fields (``delivery_id``, ``event_id``, ``topic``, ``endpoint`` without
query string, ``attempt``, ``status_code``, ``error``, ``duration_ms``) for JSON log handlers.
Secrets and signatures are never logged.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from acadio_webhooks.domain.messages import Settlement
from acadio_webhooks.domain.models import DeliveryStatus

__all__ = ["DeliveryMetrics", "MetricsSnapshot", "log_settlement", "redact_url"]

logger = logging.getLogger("acadio_webhooks.delivery")


@dataclass(frozen=True)
class MetricsSnapshot:
    """Counter values at one moment (monotonic since the metrics object was created)."""

    attempts: int
    delivered: int
    failed: int
    retried: int
    latency_ms_sum: float
    latency_ms_max: float

    @property
    def latency_ms_mean(self) -> float:
        """Mean attempt duration in milliseconds (0 with no attempts)."""
        return self.latency_ms_sum / self.attempts if self.attempts else 0.0


class DeliveryMetrics:
    """Thread-safe counters fed by every worker of a dispatcher.

    Export them with your metrics library, e.g. a Prometheus collector reading
    :meth:`snapshot` on scrape.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._attempts = 0
        self._delivered = 0
        self._failed = 0
        self._retried = 0
        self._latency_sum = 0.0
        self._latency_max = 0.0

    def record(self, settlement: Settlement) -> None:
        """Count one settled attempt."""
        self.record_many((settlement,))

    def record_many(self, settlements: Iterable[Settlement]) -> None:
        """Count a batch of settled attempts (one lock round for all of them)."""
        with self._lock:
            for settlement in settlements:
                duration = settlement.attempt.duration_ms
                self._attempts += 1
                self._latency_sum += duration
                self._latency_max = max(self._latency_max, duration)
                if settlement.status is DeliveryStatus.DELIVERED:
                    self._delivered += 1
                elif settlement.status is DeliveryStatus.FAILED:
                    self._failed += 1
                else:
                    self._retried += 1

    def snapshot(self) -> MetricsSnapshot:
        """The current values."""
        with self._lock:
            return MetricsSnapshot(
                attempts=self._attempts,
                delivered=self._delivered,
                failed=self._failed,
                retried=self._retried,
                latency_ms_sum=self._latency_sum,
                latency_ms_max=self._latency_max,
            )


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
