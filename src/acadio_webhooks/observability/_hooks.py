"""Where OpenTelemetry plugs into the emit and attempt paths and the delivery metrics,
without any of them importing it: :data:`tracer` and :data:`meter` are None (off: each path
pays one check) until :func:`acadio_webhooks.observability.otel.instrument` sets them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Protocol

from acadio_webhooks.domain.messages import Settlement, WorkItem

__all__ = ["EmitTrace", "AttemptTrace", "Tracer", "Meter", "tracer", "meter"]


class EmitTrace(Protocol):
    """The span of one ``emit`` or ``emit_many``, open while the events are stored."""

    @property
    def context(self) -> str | None:
        """The trace context to store with the events (``Event.trace_context``)."""
        ...

    def stored(self, *, events: int, deliveries: int) -> None:
        """Record what the store kept: events (not deduplicated away) and deliveries."""
        ...


class AttemptTrace(Protocol):
    """The span of one attempt, from its start to its verdict."""

    @property
    def headers(self) -> Mapping[str, str]:
        """The trace context headers (``traceparent``, ``tracestate``) to send."""
        ...

    def end(self, settlement: Settlement) -> None:
        """Record the attempt's outcome and end the span."""
        ...


class Tracer(Protocol):
    """What the emitter and the workers call while tracing is on."""

    def emitting(
        self, *, topic: str | None, tenant: str | None, events: int
    ) -> AbstractContextManager[EmitTrace]:
        """A span around storing ``events`` events (one topic and tenant, or None for a
        batch of several)."""
        ...

    def attempting(self, item: WorkItem) -> AttemptTrace:
        """A span for the attempt about to be made of ``item``, in its emit's trace."""
        ...


class Meter(Protocol):
    """What :class:`~acadio_webhooks.observability.DeliveryMetrics` passes on as it counts."""

    def record_many(self, settlements: Sequence[Settlement], *, endpoint_hosts: bool) -> None:
        """Record settled attempts (labelled by endpoint host when ``endpoint_hosts``)."""
        ...

    def record_notice(self, *, sent: bool) -> None:
        """Record one failure e-mail."""
        ...


tracer: Tracer | None = None
meter: Meter | None = None
