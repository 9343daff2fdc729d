"""The delivery metrics and the store's backlog in Prometheus's exposition format.

Needs the ``prometheus`` extra (``prometheus-client``)::

    from prometheus_client import REGISTRY
    from acadio_webhooks.observability.prometheus import WebhooksCollector

    REGISTRY.register(WebhooksCollector(dispatcher.metrics, dispatcher.store))

or ``acadio-webhooks worker --metrics-port 9464``, which serves ``/metrics`` on loopback.

Series (``docs/observability.md`` has the queries and alerts built on them):

* ``acadio_webhooks_attempts_total{outcome, status_class}`` — attempts made; ``outcome`` is
  ``delivered``, ``retrying`` or ``failed`` (given up), ``status_class`` ``2xx`` … ``5xx`` or
  ``error`` (no HTTP answer);
* ``acadio_webhooks_attempt_duration_seconds`` — histogram of how long receivers took;
* ``acadio_webhooks_delivery_latency_seconds`` — histogram from the emit (or resend) to the
  attempt that delivered;
* ``acadio_webhooks_notices_total{result}`` — failure e-mails ``sent`` or ``failed``;
* read from the store at each scrape, labelled ``store`` (``sqlite``, ``postgresql``,
  ``mysql``, ``memory``): ``acadio_webhooks_deliveries_pending``, ``..._deliveries_due`` (waiting
  for a worker), ``..._deliveries_in_flight``, ``acadio_webhooks_oldest_due_age_seconds``,
  ``acadio_webhooks_subscriptions{state}`` and ``acadio_webhooks_backlog_up`` (0 when the
  store could not be read; the other store series are then left out).

Counts are this process's since it started (Prometheus's ``rate()`` and ``sum()`` across
workers do the rest); the store series are the whole store's, the same from every worker.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from prometheus_client import start_http_server
from prometheus_client.core import (
    CollectorRegistry,
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from acadio_webhooks.errors import AcadioWebhooksError
from acadio_webhooks.observability._metrics import (
    OUTCOMES,
    STATUS_CLASSES,
    AttemptKey,
    DeliveryMetrics,
    HistogramSnapshot,
    MetricsSnapshot,
    store_name,
)
from acadio_webhooks.ports.clock import Clock, SystemClock
from acadio_webhooks.ports.storage import BacklogView

__all__ = ["PREFIX", "WebhooksCollector", "MetricsServer", "serve_metrics"]

_log = logging.getLogger("acadio_webhooks.metrics")

PREFIX = "acadio_webhooks"


class WebhooksCollector(Collector):
    """A ``prometheus_client`` collector of ``metrics`` (a dispatcher's or a worker's
    :class:`~acadio_webhooks.observability.DeliveryMetrics`) and, when given, ``store``'s
    backlog, read at each scrape."""

    def __init__(
        self,
        metrics: DeliveryMetrics,
        store: object | None = None,
        *,
        clock: Clock | None = None,
    ) -> None:
        self.metrics = metrics
        self.store = store if isinstance(store, BacklogView) else None
        self.clock: Clock = clock or SystemClock()
        self._store_label = store_name(store) if self.store is not None else ""

    def describe(self) -> Iterable[Metric]:
        # Without describe(), registering would call collect(), reading the store.
        return []

    def collect(self) -> Iterator[Metric]:
        snapshot = self.metrics.snapshot()
        yield self._attempts(snapshot)
        yield from self._durations(snapshot)
        notices = CounterMetricFamily(
            f"{PREFIX}_notices", "Failure e-mails by result (sent, failed).", labels=["result"]
        )
        notices.add_metric(["sent"], snapshot.notices_sent)
        notices.add_metric(["failed"], snapshot.notices_failed)
        yield notices
        if self.store is not None:
            yield from self._backlog(self.store)

    def _attempts(self, snapshot: MetricsSnapshot) -> Metric:
        labelled = self.metrics.endpoint_host_label
        names = ["outcome", "status_class", *(["endpoint_host"] if labelled else [])]
        family = CounterMetricFamily(
            f"{PREFIX}_attempts",
            "Delivery attempts by outcome (delivered, retrying, failed) and status class.",
            labels=names,
        )
        counts = dict(snapshot.attempts_by)
        if not labelled:
            # Every series from the start, so rate() sees the first attempt of each.
            for outcome in OUTCOMES:
                for status_class in STATUS_CLASSES:
                    counts.setdefault(AttemptKey(outcome, status_class), 0)
        for key, count in sorted(counts.items(), key=lambda item: _order(item[0])):
            values = [key.outcome, key.status_class]
            family.add_metric([*values, key.endpoint_host] if labelled else values, count)
        return family

    def _durations(self, snapshot: MetricsSnapshot) -> Iterator[Metric]:
        labelled = self.metrics.endpoint_host_label
        attempts = HistogramMetricFamily(
            f"{PREFIX}_attempt_duration_seconds",
            "How long receivers took to answer an attempt.",
            labels=["endpoint_host"] if labelled else None,
        )
        for host, histogram in sorted(snapshot.attempt_seconds.items()):
            attempts.add_metric([host] if labelled else [], *_buckets(histogram))
        yield attempts
        latency = HistogramMetricFamily(
            f"{PREFIX}_delivery_latency_seconds",
            "From the emit (or resend) to the record of the attempt that delivered.",
        )
        latency.add_metric([], *_buckets(snapshot.delivery_seconds))
        yield latency

    def _backlog(self, store: BacklogView) -> Iterator[Metric]:
        label = [self._store_label]
        up = GaugeMetricFamily(
            f"{PREFIX}_backlog_up",
            "1 when the store's backlog could be read at this scrape, else 0.",
            labels=["store"],
        )
        now = self.clock.now()
        try:
            backlog = store.backlog(now=now)
        except AcadioWebhooksError as exc:
            _log.warning("the backlog gauges are left out of this scrape: %s", exc)
            up.add_metric(label, 0)
            yield up
            return
        up.add_metric(label, 1)
        yield up
        for name, value, text in (
            ("deliveries_pending", backlog.pending, "Deliveries not yet final."),
            (
                "deliveries_due",
                backlog.due,
                "Pending deliveries whose time has come, waiting for a worker.",
            ),
            ("deliveries_in_flight", backlog.in_flight, "Pending deliveries a worker holds."),
            (
                "oldest_due_age_seconds",
                backlog.oldest_due_seconds(now),
                "How long the longest-waiting due delivery has waited (0 when none).",
            ),
        ):
            gauge = GaugeMetricFamily(f"{PREFIX}_{name}", text, labels=["store"])
            gauge.add_metric(label, value)
            yield gauge
        states = GaugeMetricFamily(
            f"{PREFIX}_subscriptions",
            "Subscriptions by state (healthy, failing, paused, disabled, deactivated).",
            labels=["store", "state"],
        )
        for state, count in backlog.subscriptions.items():
            states.add_metric([*label, state], count)
        yield states


def _order(key: AttemptKey) -> tuple[int, int, str]:
    return OUTCOMES.index(key.outcome), STATUS_CLASSES.index(key.status_class), key.endpoint_host


def _buckets(histogram: HistogramSnapshot) -> tuple[list[tuple[str, float]], float]:
    buckets = [
        ("+Inf" if bound == float("inf") else repr(bound), float(count))
        for bound, count in histogram.cumulative()
    ]
    return buckets, histogram.sum


@dataclass
class MetricsServer:
    """``/metrics`` served from a thread; :meth:`close` stops it."""

    host: str
    port: int
    _server: object

    @property
    def url(self) -> str:
        """Where to scrape."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        """Stop serving and free the port."""
        server = self._server
        server.shutdown()  # type: ignore[attr-defined]
        server.server_close()  # type: ignore[attr-defined]


def serve_metrics(
    collector: WebhooksCollector, *, port: int, host: str = "127.0.0.1"
) -> MetricsServer:
    """Serve ``collector`` (only it: a registry of its own) on ``http://host:port/metrics``.
    Loopback by default: put the port behind what your Prometheus reaches, or pass
    ``host="0.0.0.0"`` knowingly. ``port=0`` picks a free port (see ``.port``)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    server, _thread = start_http_server(port, addr=host, registry=registry)
    bound_host, bound_port = server.server_address[:2]
    return MetricsServer(str(bound_host), int(bound_port), server)
