"""What every worker of a dispatcher counts: attempts by outcome and status class, how long
attempts and deliveries take, failure e-mails sent and failed.

:class:`DeliveryMetrics` is the one record of them in the process; the Prometheus collector
(:mod:`acadio_webhooks.observability.prometheus`) and the OpenTelemetry instruments read it.
Labels are bounded: three outcomes, five status classes and, only when asked for, the
endpoint's host — never an event, delivery or tenant.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from urllib.parse import urlsplit

from acadio_webhooks.domain.ids import id_time
from acadio_webhooks.domain.messages import Settlement
from acadio_webhooks.domain.models import DeliveryStatus
from acadio_webhooks.observability import _hooks

__all__ = [
    "store_name",
    "outcome_of",
    "delivery_seconds",
    "endpoint_host",
    "ATTEMPT_SECONDS_BUCKETS",
    "DELIVERY_SECONDS_BUCKETS",
    "OUTCOMES",
    "STATUS_CLASSES",
    "AttemptKey",
    "DeliveryMetrics",
    "HistogramSnapshot",
    "MetricsSnapshot",
    "status_class",
]

OUTCOMES = ("delivered", "retrying", "failed")
"""What an attempt led to: its delivery delivered, to be retried, or given up."""

STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx", "error")
"""The class of an attempt's HTTP status; ``error`` when no status came back (a timeout, a
refused connection, a blocked address)."""

ATTEMPT_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
"""Upper bounds of the attempt duration histogram: a receiver's answer time, up to the
default 30 s timeout."""

DELIVERY_SECONDS_BUCKETS = (
    *(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
    *(300.0, 900.0, 3600.0, 4 * 3600.0, 12 * 3600.0, 24 * 3600.0, 72 * 3600.0),
)
"""Upper bounds of the delivery latency histogram, from the emit (or resend) to the attempt
that delivered: seconds when all is well, up to the retry schedule's three days."""

_OUTCOME_OF = {
    DeliveryStatus.DELIVERED: "delivered",
    DeliveryStatus.FAILED: "failed",
    DeliveryStatus.PENDING: "retrying",
}


def outcome_of(settlement: Settlement) -> str:
    """The :data:`OUTCOMES` entry of a settled attempt."""
    return _OUTCOME_OF[settlement.status]


_CLASS_OF: dict[int | None, str] = {c: STATUS_CLASSES[c // 100 - 2] for c in range(200, 600)}


def status_class(status_code: int | None) -> str:
    """``2xx`` … ``5xx`` for an HTTP status, ``error`` for none (or one out of range)."""
    return _CLASS_OF.get(status_code, "error")


@dataclass(frozen=True)
class AttemptKey:
    """The labels of one attempt count."""

    outcome: str
    status_class: str
    endpoint_host: str = ""
    """The endpoint's host, when :class:`DeliveryMetrics` was asked to label by it."""


@dataclass(frozen=True)
class HistogramSnapshot:
    """A histogram's values: ``counts[i]`` observations at most ``buckets[i]`` (and above the
    bound before it); the last count is above every bound."""

    buckets: tuple[float, ...]
    counts: tuple[int, ...]
    sum: float

    @property
    def count(self) -> int:
        """How many observations."""
        return sum(self.counts)

    def cumulative(self) -> list[tuple[float, int]]:
        """``(upper bound, observations at most it)`` per bucket, ``inf`` last: Prometheus's
        ``le`` buckets."""
        running, found = 0, []
        for bound, count in zip((*self.buckets, float("inf")), self.counts, strict=True):
            running += count
            found.append((bound, running))
        return found


class _Histogram:
    """Counts per bucket; not thread-safe (used under :class:`DeliveryMetrics`'s lock)."""

    __slots__ = ("buckets", "counts", "sum")

    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.buckets, value)] += 1
        self.sum += value

    def snapshot(self) -> HistogramSnapshot:
        return HistogramSnapshot(self.buckets, tuple(self.counts), self.sum)


@dataclass(frozen=True)
class MetricsSnapshot:
    """Values at one moment, counted since the metrics object was created."""

    attempts: int
    delivered: int
    failed: int
    retried: int
    latency_ms_sum: float
    """Attempt durations added up, in milliseconds."""
    latency_ms_max: float
    attempts_by: Mapping[AttemptKey, int]
    """Attempts by outcome, status class (and endpoint host, when labelled so)."""
    attempt_seconds: Mapping[str, HistogramSnapshot]
    """Attempt durations in seconds, by endpoint host when labelled so, else one entry
    under ``""``."""
    delivery_seconds: HistogramSnapshot
    """Emit (or resend) to delivered, in seconds, one observation per delivered delivery."""
    notices_sent: int
    """Failure e-mails the notifier accepted."""
    notices_failed: int
    """Failure e-mails the notifier refused or could not send (they stay queued)."""

    @property
    def latency_ms_mean(self) -> float:
        """Mean attempt duration in milliseconds (0 with no attempts)."""
        return self.latency_ms_sum / self.attempts if self.attempts else 0.0


class DeliveryMetrics:
    """Thread-safe counts fed by every worker of a dispatcher (and its notice flusher).

    Read them with :meth:`snapshot`, serve them to Prometheus
    (:mod:`acadio_webhooks.observability.prometheus`, or ``acadio-webhooks worker
    --metrics-port``) or through OpenTelemetry. ``endpoint_host_label=True`` adds each
    endpoint's host to the attempt counts and durations: as many series as endpoint hosts,
    so only where those are few.
    """

    def __init__(self, *, endpoint_host_label: bool = False) -> None:
        self.endpoint_host_label = endpoint_host_label
        self._lock = threading.Lock()
        self._attempts_by: dict[tuple[str, str, str], int] = {}
        self._attempt_seconds: dict[str, _Histogram] = (
            {} if endpoint_host_label else {"": _Histogram(ATTEMPT_SECONDS_BUCKETS)}
        )
        self._delivery_seconds = _Histogram(DELIVERY_SECONDS_BUCKETS)
        self._latency_max = 0.0
        self._notices = [0, 0]  # sent, failed
        self._hosts: dict[str, str] = {}

    def record(self, settlement: Settlement) -> None:
        """Count one settled attempt."""
        self.record_many((settlement,))

    def record_many(self, settlements: Iterable[Settlement]) -> None:
        """Count a batch of settled attempts (one lock round for all of them)."""
        meter = _hooks.meter
        if meter is not None:
            settlements = list(settlements)
            meter.record_many(settlements, endpoint_hosts=self.endpoint_host_label)
        labelled, counts, hosts = self.endpoint_host_label, self._attempts_by, self._attempt_seconds
        observe_latency = self._delivery_seconds.observe
        # Deliveries are recorded as soon as their verdicts are stored: the time of recording
        # ends their latency, on the same wall clock their ids were made by.
        recorded = time.time()
        with self._lock:
            longest = self._latency_max
            for settlement in settlements:
                attempt = settlement.attempt
                host = self._host(settlement.item.endpoint) if labelled else ""
                # A plain tuple: a frozen dataclass per attempt would cost more than the rest.
                key = (
                    _OUTCOME_OF[settlement.status],
                    _CLASS_OF.get(attempt.status_code, "error"),
                    host,
                )
                counts[key] = counts.get(key, 0) + 1
                durations = hosts.get(host)
                if durations is None:
                    durations = hosts[host] = _Histogram(ATTEMPT_SECONDS_BUCKETS)
                milliseconds = attempt.duration_ms
                durations.observe(milliseconds / 1000)
                longest = max(longest, milliseconds)
                latency = delivery_seconds(settlement, recorded)
                if latency is not None:
                    observe_latency(latency)
            self._latency_max = longest

    def record_notice(self, *, sent: bool) -> None:
        """Count one failure e-mail: accepted by the notifier, or not."""
        meter = _hooks.meter
        if meter is not None:
            meter.record_notice(sent=sent)
        with self._lock:
            self._notices[0 if sent else 1] += 1

    def snapshot(self) -> MetricsSnapshot:
        """The current values."""
        with self._lock:
            by = {AttemptKey(*key): count for key, count in self._attempts_by.items()}
            durations = {host: h.snapshot() for host, h in self._attempt_seconds.items()}
            delivery = self._delivery_seconds.snapshot()
            latency_max, (sent, failed) = self._latency_max, self._notices
        outcomes = dict.fromkeys(OUTCOMES, 0)
        for key, count in by.items():
            outcomes[key.outcome] += count
        return MetricsSnapshot(
            attempts=sum(outcomes.values()),
            delivered=outcomes["delivered"],
            failed=outcomes["failed"],
            retried=outcomes["retrying"],
            latency_ms_sum=sum(h.sum for h in durations.values()) * 1000,
            latency_ms_max=latency_max,
            attempts_by=MappingProxyType(by),
            attempt_seconds=MappingProxyType(durations),
            delivery_seconds=delivery,
            notices_sent=sent,
            notices_failed=failed,
        )

    def _host(self, endpoint: str) -> str:
        host = self._hosts.get(endpoint)
        if host is None:
            host = self._hosts[endpoint] = endpoint_host(endpoint)
        return host


def endpoint_host(endpoint: str) -> str:
    """The host of an endpoint URL, the only part of it a label may show ("" if none)."""
    try:
        return urlsplit(endpoint).hostname or ""
    except ValueError:
        return ""


def delivery_seconds(settlement: Settlement, recorded: float) -> float | None:
    """From the delivery's making (its emit, or its resend) to ``recorded`` (``time.time()``
    when its delivering attempt was recorded); None when it was not delivered (or its id does
    not say when it was made)."""
    if settlement.status is not DeliveryStatus.DELIVERED:
        return None
    made = id_time(settlement.item.delivery_id)
    return None if made is None else max(0.0, recorded - made)


def store_name(store: object) -> str:
    """The ``store`` label of a store: its SQL database's family (``sqlite``, ``postgresql``,
    ``mysql``), ``memory``, or the class name of a store of the host's own."""
    # Imported here: only the exporters name stores, and they run beside a store already.
    from acadio_webhooks.adapters.storage.memory import MemoryStore
    from acadio_webhooks.adapters.storage.sql import SqlStore
    from acadio_webhooks.adapters.storage.sql._dialect import family

    if isinstance(store, SqlStore):
        return family(store.engine.dialect)
    return "memory" if isinstance(store, MemoryStore) else type(store).__name__.lower()
