"""OpenTelemetry tracing, read from the SDK's in-memory exporter: an emit's span and its
attempts' spans form one trace across the store, and the receiver gets that trace's context."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from acadio_webhooks import AsyncDispatcher, Dispatcher, NewEvent
from acadio_webhooks.domain.endpoints import EndpointPolicy
from acadio_webhooks.errors import InvalidPayload
from acadio_webhooks.observability.otel import (
    decode_context,
    encode_context,
    instrument,
    is_instrumented,
    uninstrument,
)
from acadio_webhooks.ports.storage import Store
from tests.loopback import LoopbackReceiver, loopback_receiver, wait_until

SECRET = "a-secret-of-16+-chars-tracing"
TOPIC = "course/completion/create"
INSECURE = EndpointPolicy(allow_insecure=True)


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on, into memory, for the test; off again afterwards."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrument(tracer_provider=provider)
    try:
        yield exporter
    finally:
        uninstrument()
        provider.shutdown()


@pytest.fixture
def receiver() -> Iterator[LoopbackReceiver]:
    with loopback_receiver(SECRET) as started:
        yield started


def subscribed(dispatcher: Dispatcher | AsyncDispatcher, receiver: LoopbackReceiver) -> None:
    hooks = dispatcher.integrations
    integration = hooks.install("school-1", secret=SECRET)
    hooks.subscribe(integration.id, "course/*", receiver.url("/hooks"))


def named(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.name == name]


def test_an_emit_and_its_attempt_are_one_trace_that_reaches_the_receiver(
    spans: InMemorySpanExporter, store: Store, receiver: LoopbackReceiver
) -> None:
    dispatcher = Dispatcher(store, endpoint_policy=INSECURE)
    subscribed(dispatcher, receiver)
    host = trace.get_tracer("lms", tracer_provider=_provider(spans))
    with host.start_as_current_span("POST /completions") as request_span:
        event_id = dispatcher.emit(TOPIC, {"student": "ada-secret-data"}, tenant="school-1")
    # Delivered later, by a worker that knows nothing of the request: through the store.
    assert dispatcher.drain().delivered == 1

    [emit] = named(spans, "acadio_webhooks emit")
    [attempt] = named(spans, "acadio_webhooks attempt")
    trace_id = request_span.get_span_context().trace_id
    assert emit.context.trace_id == attempt.context.trace_id == trace_id
    assert emit.parent is not None
    assert emit.parent.span_id == request_span.get_span_context().span_id
    assert attempt.parent is not None
    assert attempt.parent.span_id == emit.context.span_id
    assert (emit.kind, attempt.kind) == (SpanKind.PRODUCER, SpanKind.CLIENT)
    assert dict(emit.attributes or {}) == {
        "acadio_webhooks.events": 1,
        "acadio_webhooks.topic": TOPIC,
        "acadio_webhooks.tenant": "school-1",
        "acadio_webhooks.events_stored": 1,
        "acadio_webhooks.deliveries": 1,
    }
    shown = dict(attempt.attributes or {})
    assert shown["http.response.status_code"] == 200
    assert shown["acadio_webhooks.outcome"] == "delivered"
    assert shown["acadio_webhooks.attempt"] == 1
    assert shown["acadio_webhooks.event_id"] == event_id
    assert shown["server.address"] == "127.0.0.1"
    assert attempt.status.status_code is StatusCode.UNSET
    everything = str([dict(s.attributes or {}) for s in spans.get_finished_spans()])
    assert "ada-secret-data" not in everything  # never the data
    assert SECRET not in everything  # nor secrets
    assert "/hooks" not in everything  # nor the endpoint's path
    # The receiver continues the same trace, under the attempt's span.
    [received] = receiver.received
    assert received.verified
    version, traced, parent, flags = received.headers["traceparent"].split("-")
    assert int(traced, 16) == trace_id
    assert int(parent, 16) == attempt.context.span_id
    assert version == "00"
    assert int(flags, 16) & 1  # sampled


def test_a_failed_attempt_is_an_error_span_and_its_retry_joins_the_same_trace(
    spans: InMemorySpanExporter, tmp_path: Path, receiver: LoopbackReceiver
) -> None:
    from acadio_webhooks.adapters.storage.sql import SqlStore

    dispatcher = Dispatcher(SqlStore(tmp_path / "s.db"), endpoint_policy=INSECURE)
    subscribed(dispatcher, receiver)
    receiver.answers["/hooks"] = (503, {"Retry-After": "1"})  # the retry a second later
    dispatcher.emit(TOPIC, {"n": 1}, tenant="school-1")
    assert dispatcher.drain().attempts == 1
    del receiver.answers["/hooks"]
    delivered: list[int] = []
    wait_until(lambda: delivered.append(dispatcher.drain().delivered) or sum(delivered) == 1)
    dispatcher.close()

    [emit] = named(spans, "acadio_webhooks emit")
    failed, retried = named(spans, "acadio_webhooks attempt")
    assert failed.status.status_code is StatusCode.ERROR
    assert (failed.attributes or {})["error.type"] == "503"
    assert (failed.attributes or {})["acadio_webhooks.outcome"] == "retrying"
    assert (retried.attributes or {})["acadio_webhooks.attempt"] == 2
    assert {failed.context.trace_id, retried.context.trace_id} == {emit.context.trace_id}


def test_emit_many_is_one_span_whose_events_share_its_trace(
    spans: InMemorySpanExporter, receiver: LoopbackReceiver
) -> None:
    from acadio_webhooks.adapters.storage.memory import MemoryStore

    dispatcher = Dispatcher(MemoryStore(), endpoint_policy=INSECURE)
    subscribed(dispatcher, receiver)
    dispatcher.emit_many(
        [NewEvent(TOPIC, {"n": n}, tenant="school-1", dedup_key=f"k{n % 2}") for n in range(3)]
    )
    assert dispatcher.drain().delivered == 2  # the third was a duplicate of the first

    [emit] = named(spans, "acadio_webhooks emit")
    assert (emit.attributes or {})["acadio_webhooks.events"] == 3
    assert (emit.attributes or {})["acadio_webhooks.events_stored"] == 2
    assert (emit.attributes or {})["acadio_webhooks.deliveries"] == 2
    attempts = named(spans, "acadio_webhooks attempt")
    assert len(attempts) == 2
    assert {a.parent.span_id for a in attempts if a.parent} == {emit.context.span_id}


def test_a_refused_emit_is_an_error_span(spans: InMemorySpanExporter) -> None:
    from acadio_webhooks.adapters.storage.memory import MemoryStore

    dispatcher = Dispatcher(MemoryStore())
    with pytest.raises(InvalidPayload):
        dispatcher.emit(TOPIC, {"score": float("nan")}, tenant="school-1")
    [emit] = named(spans, "acadio_webhooks emit")
    assert emit.status.status_code is StatusCode.ERROR
    assert [event.name for event in emit.events] == ["exception"]


def test_the_async_worker_traces_too(
    spans: InMemorySpanExporter, receiver: LoopbackReceiver
) -> None:
    from acadio_webhooks.adapters.storage.memory import MemoryStore

    async def scenario() -> None:
        async with AsyncDispatcher(MemoryStore(), endpoint_policy=INSECURE) as dispatcher:
            subscribed(dispatcher, receiver)  # the admin flow is synchronous
            await dispatcher.emit(TOPIC, {"n": 1}, tenant="school-1")
            assert (await dispatcher.drain()).delivered == 1

    anyio.run(scenario)
    [emit] = named(spans, "acadio_webhooks emit")
    [attempt] = named(spans, "acadio_webhooks attempt")
    assert attempt.context.trace_id == emit.context.trace_id


def test_with_tracing_off_nothing_is_traced_or_sent(receiver: LoopbackReceiver) -> None:
    from acadio_webhooks.adapters.storage.memory import MemoryStore

    assert not is_instrumented()
    store = MemoryStore()
    dispatcher = Dispatcher(store, endpoint_policy=INSECURE)
    subscribed(dispatcher, receiver)
    event_id = dispatcher.emit(TOPIC, {"n": 1}, tenant="school-1")
    assert event_id is not None
    assert dispatcher.drain().delivered == 1
    assert store.get_event(event_id).trace_context is None
    [received] = receiver.received
    assert "traceparent" not in received.headers


def test_the_stored_form_of_a_trace_context_round_trips() -> None:
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    assert decode_context(encode_context({"traceparent": parent})) == {"traceparent": parent}
    both = {"traceparent": parent, "tracestate": "congo=t61rcWkgMzE"}
    assert decode_context(encode_context(both)) == both
    assert encode_context({}) is None
    assert decode_context(None) == {}
    # A tracestate too long to store is dropped; the trace itself is kept.
    assert encode_context({"traceparent": parent, "tracestate": "x" * 2000}) == parent


def _provider(exporter: InMemorySpanExporter) -> TracerProvider:
    """A provider of the host's own, exporting to the same place."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


_TRACED_WORKER = """
import sys
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

provider = TracerProvider()
one_line = lambda span: span.to_json(indent=None) + "\\n"  # noqa: E731
provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(formatter=one_line)))
trace.set_tracer_provider(provider)  # what the host's SDK set-up does
from acadio_webhooks.cli import main

sys.exit(main(sys.argv[1:]))
"""


def test_the_command_line_worker_traces_with_otel(
    tmp_path: Path, receiver: LoopbackReceiver
) -> None:
    import json
    import signal
    import subprocess
    import sys

    from acadio_webhooks.adapters.storage.sql import SqlStore

    url = f"sqlite:///{tmp_path / 'traced.db'}"
    dispatcher = Dispatcher(SqlStore(url), endpoint_policy=INSECURE)
    subscribed(dispatcher, receiver)
    dispatcher.emit(TOPIC, {"n": 1}, tenant="school-1")
    dispatcher.close()
    command = [sys.executable, "-c", _TRACED_WORKER, "worker", "--db", url, "--otel",
               "--allow-insecure-endpoints", "--poll-interval", "0.1"]  # fmt: skip
    worker = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: len(receiver.received) == 1, timeout=60, what="the traced attempt")
    finally:
        worker.send_signal(signal.SIGTERM)
        printed, logged = worker.communicate(timeout=60)
    assert worker.returncode == 0, logged
    assert "tracing and metrics through OpenTelemetry" in logged
    exported = [json.loads(line) for line in printed.splitlines() if line.startswith("{")]
    [attempt] = [span for span in exported if span["name"] == "acadio_webhooks attempt"]
    _, trace_id, span_id, _ = receiver.received[0].headers["traceparent"].split("-")
    assert attempt["context"]["trace_id"] == f"0x{trace_id}"
    assert attempt["context"]["span_id"] == f"0x{span_id}"
    assert attempt["attributes"]["acadio_webhooks.outcome"] == "delivered"


def test_a_bad_batch_is_refused_as_without_tracing(spans: InMemorySpanExporter) -> None:
    from acadio_webhooks.adapters.storage.memory import MemoryStore

    dispatcher = Dispatcher(MemoryStore())
    with pytest.raises(TypeError, match=r"events\[1\] must be a NewEvent, not dict"):
        dispatcher.emit_many([NewEvent(TOPIC, {}, tenant="t"), {"topic": ["unhashable"]}])  # type: ignore[list-item]
    [emit] = named(spans, "acadio_webhooks emit")
    assert emit.status.status_code is StatusCode.ERROR


def test_celery_attempts_join_the_emits_trace(spans: InMemorySpanExporter) -> None:
    from datetime import datetime, timedelta, timezone

    from celery import Celery

    from acadio_webhooks.adapters.resolver import StaticResolver
    from acadio_webhooks.adapters.storage.memory import MemoryStore
    from acadio_webhooks.adapters.transport.recording import RecordingTransport
    from acadio_webhooks.celery import CeleryDelivery

    store = MemoryStore()
    transport = RecordingTransport(lambda _request: 200)
    resolver = StaticResolver({"a.example.com": ["93.184.216.1"]})
    dispatcher = Dispatcher(store, resolver=resolver)
    integration = dispatcher.integrations.install("school-1", secret=SECRET)
    dispatcher.integrations.subscribe(integration.id, "course/*", "https://a.example.com/hook")
    webhooks = CeleryDelivery(
        Celery("traced", broker="memory://", set_as_current=False),
        store,
        transport=lambda: transport,
        schedule=False,
    )
    dispatcher.emit(TOPIC, {"n": 1}, tenant="school-1")
    # What a pump's round does before it sends the attempt task, then the task itself.
    leased = store.claim(
        now=datetime.now(timezone.utc), limit=1, owner="pump", lease=timedelta(minutes=5)
    )
    assert webhooks.attempt([item.delivery_id for item in leased], "pump", "task-1") == 1

    [emit] = named(spans, "acadio_webhooks emit")
    [attempt] = named(spans, "acadio_webhooks attempt")
    assert attempt.parent is not None
    assert attempt.parent.span_id == emit.context.span_id
    [request] = transport.requests
    assert f"{attempt.context.span_id:016x}" in request.headers["traceparent"]
