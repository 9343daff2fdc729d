"""Watching delivery: counts and histograms every worker records (:class:`DeliveryMetrics`),
their Prometheus exposition (:mod:`acadio_webhooks.observability.prometheus`), and the
structured log lines of the delivery path (logger ``acadio_webhooks.delivery``).
"""

from acadio_webhooks.observability._logging import log_settlement, redact_url
from acadio_webhooks.observability._metrics import (
    ATTEMPT_SECONDS_BUCKETS,
    DELIVERY_SECONDS_BUCKETS,
    OUTCOMES,
    STATUS_CLASSES,
    AttemptKey,
    DeliveryMetrics,
    HistogramSnapshot,
    MetricsSnapshot,
    status_class,
)

__all__ = [
    "DeliveryMetrics",
    "MetricsSnapshot",
    "HistogramSnapshot",
    "AttemptKey",
    "OUTCOMES",
    "STATUS_CLASSES",
    "ATTEMPT_SECONDS_BUCKETS",
    "DELIVERY_SECONDS_BUCKETS",
    "status_class",
    "log_settlement",
    "redact_url",
]
