"""OpenTelemetry: a span per emit and per attempt, in one trace, the W3C trace context sent
with every delivery, and the delivery metrics through the OpenTelemetry metrics API.

Needs the ``otel`` extra (``opentelemetry-api``); the SDK, its exporters and sampling are the
host's, configured as usual before :func:`instrument` is called::

    from acadio_webhooks.observability.otel import instrument, observe_backlog

    instrument()  # the global providers; or instrument(tracer_provider=..., meter_provider=...)
    observe_backlog(dispatcher.store)  # the backlog gauges, read at each collection

Traces:

* ``acadio_webhooks emit`` (kind PRODUCER), a child of the span current at the emit (the
  host's request, say): ``acadio_webhooks.topic``, ``acadio_webhooks.tenant``,
  ``acadio_webhooks.events`` and, once stored, ``acadio_webhooks.events_stored`` (fewer when
  deduplicated) and ``acadio_webhooks.deliveries``. Never the data, never a secret.
* The emit's trace context is stored with each event, so each attempt — made later, by any
  worker of the fleet, Celery's included — is a span **of the emit's trace**:
  ``acadio_webhooks attempt`` (kind CLIENT) with ``http.request.method``,
  ``server.address`` and ``server.port`` (the endpoint's host and port, never its path or
  query), ``http.response.status_code``, ``error.type`` when it failed (the status code, or
  ``transport_error``), ``acadio_webhooks.attempt`` (1 for the first),
  ``acadio_webhooks.outcome`` (``delivered``, ``retrying`` or ``failed``),
  ``acadio_webhooks.event_id`` and ``acadio_webhooks.delivery_id``.
* Each attempt sends ``traceparent`` (and ``tracestate``) naming its span, so a receiver
  that traces continues the same trace. The headers are signed over nothing: receivers must
  not trust them for anything but tracing.

Metrics (meter ``acadio_webhooks``), the same figures the Prometheus collector serves
(:mod:`acadio_webhooks.observability.prometheus`), by the same bounded labels:

* ``acadio_webhooks.attempts`` (counter; ``outcome``, ``status_class``, and
  ``endpoint_host`` when the worker's ``DeliveryMetrics`` labels by it);
* ``acadio_webhooks.attempt.duration`` and ``acadio_webhooks.delivery.latency`` (histograms,
  seconds);
* ``acadio_webhooks.notices`` (counter; ``result``: ``sent`` or ``failed``);
* with :func:`observe_backlog`: ``acadio_webhooks.deliveries.pending``, ``.due``,
  ``.in_flight``, ``acadio_webhooks.deliveries.oldest_due_age`` (seconds) and
  ``acadio_webhooks.subscriptions`` (``state``), all with ``store``.

Off — :func:`instrument` not called, or :func:`uninstrument` — costs one check per emit, per
attempt and per batch of counts (``benchmarks/bench_overhead.py`` counts it).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import metrics as otel_metrics
from opentelemetry import trace
from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from acadio_webhooks._version import __version__
from acadio_webhooks.domain.backlog import Backlog
from acadio_webhooks.domain.messages import Settlement, WorkItem
from acadio_webhooks.domain.models import MAX_TRACE_CONTEXT_LENGTH
from acadio_webhooks.errors import AcadioWebhooksError
from acadio_webhooks.observability import _hooks
from acadio_webhooks.observability._metrics import (
    ATTEMPT_SECONDS_BUCKETS,
    DELIVERY_SECONDS_BUCKETS,
    delivery_seconds,
    endpoint_host,
    outcome_of,
    status_class,
    store_name,
)
from acadio_webhooks.ports.clock import Clock, SystemClock
from acadio_webhooks.ports.storage import BacklogView

__all__ = ["instrument", "uninstrument", "is_instrumented", "observe_backlog"]

_log = logging.getLogger("acadio_webhooks.metrics")

_SCOPE = "acadio_webhooks"
_PROPAGATOR = TraceContextTextMapPropagator()


def instrument(
    *,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    traces: bool = True,
    metrics: bool = True,
) -> None:
    """Trace every emit and attempt of this process from now on, and record its delivery
    metrics, with ``tracer_provider`` and ``meter_provider`` (default: the global ones).
    ``traces=False`` or ``metrics=False`` leaves that half off. Calling it again replaces
    the providers."""
    _hooks.tracer = _hooks.meter = None
    if traces:
        tracer = trace.get_tracer(_SCOPE, __version__, tracer_provider=tracer_provider)
        _hooks.tracer = _OtelTracer(tracer)
    if metrics:
        _hooks.meter = _OtelMeter(
            otel_metrics.get_meter(_SCOPE, __version__, meter_provider=meter_provider)
        )


def uninstrument() -> None:
    """Stop tracing and recording (spans already open end as usual)."""
    _hooks.tracer = _hooks.meter = None


def is_instrumented() -> bool:
    """Whether :func:`instrument` is in effect (traces or metrics)."""
    return isinstance(_hooks.tracer, _OtelTracer) or isinstance(_hooks.meter, _OtelMeter)


def observe_backlog(
    store: BacklogView, *, meter_provider: MeterProvider | None = None, clock: Clock | None = None
) -> None:
    """Report ``store``'s backlog as observable gauges, read once per collection (two
    queries: see :meth:`~acadio_webhooks.ports.storage.BacklogView.backlog`). A collection
    whose read fails reports no backlog and logs a WARNING."""
    if not isinstance(store, BacklogView):
        raise TypeError(f"{type(store).__name__} cannot report a backlog (no backlog())")
    meter = otel_metrics.get_meter(_SCOPE, __version__, meter_provider=meter_provider)
    reader = _BacklogReader(store, clock or SystemClock(), store_name(store))
    for name, unit, text, read in (
        ("deliveries.pending", "{delivery}", "Deliveries not yet final.", _pending),
        ("deliveries.due", "{delivery}", "Pending deliveries waiting for a worker.", _due),
        ("deliveries.in_flight", "{delivery}", "Pending deliveries a worker holds.", _held),
        ("deliveries.oldest_due_age", "s", "How long the oldest due one waited.", _age),
    ):
        meter.create_observable_gauge(
            f"acadio_webhooks.{name}", [reader.gauge(name, read)], unit=unit, description=text
        )
    meter.create_observable_gauge(
        "acadio_webhooks.subscriptions",
        [reader.states],
        unit="{subscription}",
        description="Subscriptions by state (healthy, failing, paused, disabled, deactivated).",
    )


def encode_context(carrier: Mapping[str, str]) -> str | None:
    """The stored form of a trace context: ``traceparent``, then ``tracestate`` after a
    newline when there is one; None without a ``traceparent`` or when too long to store."""
    parent = carrier.get("traceparent")
    if not parent:
        return None
    state = carrier.get("tracestate")
    encoded = f"{parent}\n{state}" if state else parent
    return encoded if len(encoded) <= MAX_TRACE_CONTEXT_LENGTH else parent


def decode_context(stored: str | None) -> dict[str, str]:
    """The carrier of :func:`encode_context`'s ``stored`` form (empty for None)."""
    if not stored:
        return {}
    parent, _, state = stored.partition("\n")
    return {"traceparent": parent, "tracestate": state} if state else {"traceparent": parent}


@dataclass
class _EmitSpan:
    span: Span
    context: str | None

    def stored(self, *, events: int, deliveries: int) -> None:
        self.span.set_attribute("acadio_webhooks.events_stored", events)
        self.span.set_attribute("acadio_webhooks.deliveries", deliveries)


@dataclass
class _AttemptSpan:
    span: Span
    headers: dict[str, str] = field(default_factory=dict)

    def end(self, settlement: Settlement) -> None:
        attempt, span = settlement.attempt, self.span
        span.set_attribute("acadio_webhooks.outcome", outcome_of(settlement))
        if attempt.status_code is not None:
            span.set_attribute("http.response.status_code", attempt.status_code)
        if not attempt.succeeded:
            # Semantic conventions: the status code as text, else a low-cardinality kind.
            code = attempt.status_code
            span.set_attribute("error.type", str(code) if code is not None else "transport_error")
            span.set_status(Status(StatusCode.ERROR, attempt.summary[:200]))
        span.end()


class _OtelMeter:
    def __init__(self, meter: otel_metrics.Meter) -> None:
        self._attempts = meter.create_counter(
            "acadio_webhooks.attempts",
            unit="{attempt}",
            description="Delivery attempts by outcome and status class.",
        )
        self._durations = meter.create_histogram(
            "acadio_webhooks.attempt.duration",
            unit="s",
            description="How long receivers took to answer an attempt.",
            explicit_bucket_boundaries_advisory=list(ATTEMPT_SECONDS_BUCKETS),
        )
        self._latency = meter.create_histogram(
            "acadio_webhooks.delivery.latency",
            unit="s",
            description="From the emit (or resend) to the record of the attempt that delivered.",
            explicit_bucket_boundaries_advisory=list(DELIVERY_SECONDS_BUCKETS),
        )
        self._notices = meter.create_counter(
            "acadio_webhooks.notices", unit="{notice}", description="Failure e-mails by result."
        )

    def record_many(self, settlements: Sequence[Settlement], *, endpoint_hosts: bool) -> None:
        recorded = time.time()
        for settlement in settlements:
            attempt = settlement.attempt
            labels = {
                "outcome": outcome_of(settlement),
                "status_class": status_class(attempt.status_code),
            }
            if endpoint_hosts:
                labels["endpoint_host"] = endpoint_host(settlement.item.endpoint)
            self._attempts.add(1, labels)
            host = {"endpoint_host": labels["endpoint_host"]} if endpoint_hosts else None
            self._durations.record(attempt.duration_ms / 1000, host)
            latency = delivery_seconds(settlement, recorded)
            if latency is not None:
                self._latency.record(latency)

    def record_notice(self, *, sent: bool) -> None:
        self._notices.add(1, {"result": "sent" if sent else "failed"})


class _BacklogReader:
    """One backlog read per collection, shared by the gauges that collection calls: a read
    serves each gauge once, and the first gauge to come back for more reads again."""

    def __init__(self, store: BacklogView, clock: Clock, name: str) -> None:
        self._store, self._clock, self._labels = store, clock, {"store": name}
        self._lock = threading.Lock()
        self._read: tuple[Backlog, datetime] | None = None
        self._served: set[str] = set()

    def _backlog(self, gauge: str) -> tuple[Backlog, datetime] | None:
        with self._lock:
            if self._read is None or gauge in self._served:
                now = self._clock.now()
                try:
                    self._read = (self._store.backlog(now=now), now)
                except AcadioWebhooksError as exc:
                    _log.warning("the backlog gauges are left out of this collection: %s", exc)
                    self._read = None
                self._served = set()
            self._served.add(gauge)
            return self._read

    def gauge(
        self, name: str, read: Callable[[Backlog, datetime], float]
    ) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(_options: CallbackOptions) -> Iterable[Observation]:
            found = self._backlog(name)
            return [] if found is None else [Observation(read(*found), self._labels)]

        return observe

    def states(self, _options: CallbackOptions) -> Iterable[Observation]:
        found = self._backlog("subscriptions")
        if found is None:
            return []
        return [
            Observation(count, {**self._labels, "state": state})
            for state, count in found[0].subscriptions.items()
        ]


def _pending(backlog: Backlog, _now: datetime) -> float:
    return backlog.pending


def _due(backlog: Backlog, _now: datetime) -> float:
    return backlog.due


def _held(backlog: Backlog, _now: datetime) -> float:
    return backlog.in_flight


def _age(backlog: Backlog, now: datetime) -> float:
    return backlog.oldest_due_seconds(now)


class _OtelTracer:
    def __init__(self, tracer: trace.Tracer) -> None:
        self._tracer = tracer

    @contextmanager
    def emitting(
        self, *, topic: str | None, tenant: str | None, events: int
    ) -> Iterator[_hooks.EmitTrace]:
        attributes: dict[str, Any] = {"acadio_webhooks.events": events}
        if topic is not None:
            attributes["acadio_webhooks.topic"] = topic
        if tenant is not None:
            attributes["acadio_webhooks.tenant"] = tenant
        with self._tracer.start_as_current_span(
            "acadio_webhooks emit", kind=SpanKind.PRODUCER, attributes=attributes
        ) as span:
            carrier: dict[str, str] = {}
            if span.get_span_context().is_valid:
                _PROPAGATOR.inject(carrier)
            yield _EmitSpan(span, encode_context(carrier))

    def attempting(self, item: WorkItem) -> _hooks.AttemptTrace:
        parent = _PROPAGATOR.extract(decode_context(item.trace_context))
        attributes: dict[str, Any] = {
            "http.request.method": "POST",
            "acadio_webhooks.attempt": item.attempt_number,
            "acadio_webhooks.event_id": item.event_id,
            "acadio_webhooks.delivery_id": item.delivery_id,
            "acadio_webhooks.topic": item.topic,
        }
        try:
            where = urlsplit(item.endpoint)
            attributes["server.address"] = where.hostname or ""
            attributes["server.port"] = where.port or (443 if where.scheme == "https" else 80)
        except ValueError:
            pass  # a malformed stored URL: the attempt itself will say so
        span = self._tracer.start_span(
            "acadio_webhooks attempt", context=parent, kind=SpanKind.CLIENT, attributes=attributes
        )
        headers: dict[str, str] = {}
        _PROPAGATOR.inject(headers, context=trace.set_span_in_context(span))
        return _AttemptSpan(span, headers)
