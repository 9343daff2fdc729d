"""Secrets never leave where they belong, and rotating them works end to end.

A whole run (install, subscribe, emit, deliver to good and hostile endpoints, retry, fail,
mail the failure notice, rotate, refuse bad input) is made with canary secrets, every library
logger at DEBUG. Then every place a secret could leak is searched for the canaries in every
encoding a leak would take (as given, base64, hex): log records and tracebacks, reprs,
exception messages, stored records, the database files, the mail, what receivers were sent,
and the command line's output.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import signal
import subprocess
import sys
import traceback
from collections.abc import Iterable, Iterator
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import anyio
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from acadio_webhooks.adapters.clock import FakeClock
from acadio_webhooks.adapters.notifier.smtp import SmtpNotifier
from acadio_webhooks.adapters.storage.secret_box import FernetSecretBox
from acadio_webhooks.adapters.storage.sql import SqlStore
from acadio_webhooks.adapters.storage.sql.schema import metadata
from acadio_webhooks.cli import main as cli_main
from acadio_webhooks.dispatcher import Dispatcher
from acadio_webhooks.domain.core import DeliveryPolicy, prepare, settle
from acadio_webhooks.domain.messages import TransportResult
from acadio_webhooks.domain.models import DeliveryStatus
from acadio_webhooks.domain.retry import RetryPolicy
from acadio_webhooks.domain.signing import Signer
from acadio_webhooks.domain.verification import verify
from acadio_webhooks.errors import AcadioWebhooksError, BadSignature
from acadio_webhooks.worker import AsyncWorker, SyncWorker, WorkerSettings
from tests.loopback import wait_until
from tests.mail import MailCollector, free_port
from tests.reliability.hostile import HostileServer, answer, fails_first
from tests.reliability.worlds import (
    ASYNC_TRANSPORTS,
    INSECURE,
    Figures,
    all_deliveries,
    async_transport,
    ledger,
    loopback_names,
    sync_transport,
    timeouts,
)

CANARY = "Canary-Signing-Secret-7f1e9a2b"
ROTATED = "Canary-Rotated-Secret-0a9b8c7d"
SHORT = "Canary-short"  # 12 characters: refused, and must not be echoed
LONG = "Canary-long-" * 30  # 360 characters: refused, and must not be echoed
QUERY_TOKEN = "Canary-Query-Token-c0ffee"  # a receiver's token in its endpoint URL
PATH_TOKEN = "pathcanary7c1e"  # a Slack/Zapier-style capability in the path
SECRETS = [CANARY, ROTATED, SHORT, LONG]


def encodings(secret: str) -> list[str]:
    """The spellings a leaked secret would take."""
    raw = secret.encode()
    return [
        secret,
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        raw.hex(),
    ]


class Haystack:
    """Every text the run produced, labelled, searched for every needle."""

    def __init__(self, needles: Iterable[str]) -> None:
        self.needles = [n for secret in needles for n in encodings(secret)]
        self.places: dict[str, int] = {}
        self.leaks: list[str] = []

    def search(self, place: str, text: str | bytes) -> None:
        data = text if isinstance(text, bytes) else text.encode("utf-8", "replace")
        self.places[place] = self.places.get(place, 0) + 1
        for needle in self.needles:
            if needle.encode() in data:
                self.leaks.append(f"{needle[:16]}... found in {place}")

    def search_error(self, place: str, error: BaseException) -> None:
        self.search(place, str(error))
        self.search(place, repr(error))
        self.search(place, "".join(traceback.format_exception(error)))

    def search_logs(self, records: Iterable[logging.LogRecord]) -> None:
        formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
        for record in records:
            self.search("log line", formatter.format(record))  # traceback included
            self.search("log record fields", repr(vars(record)))


def raised(call: Any) -> BaseException:
    try:
        call()
    except Exception as error:  # the test looks at whatever was raised
        return error
    raise AssertionError("expected an error")


@pytest.fixture
def smtp() -> Iterator[tuple[MailCollector, int]]:
    collector = MailCollector()
    controller = Controller(collector, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield collector, controller.port
    controller.stop()


def test_no_secret_leaks_from_a_whole_run(
    hostile_server: HostileServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    smtp: tuple[MailCollector, int],
    figures: Figures,
) -> None:
    haystack = Haystack([*SECRETS, QUERY_TOKEN])
    server = hostile_server
    for name in ("ok", "status-500", "hang", "not-http", "endless-headers", "redirect-public"):
        server.add(name)
    echo = server.add("echo", answer(200))  # keeps what it was sent, to search it
    box_key = FernetSecretBox.new_key()
    box = FernetSecretBox(box_key)
    haystack.needles.append(box_key)  # the encryption key must not leak either
    store = SqlStore(tmp_path / "secrets.db", secret_box=box)
    clock = FakeClock()
    mail, smtp_port = smtp
    notifier = SmtpNotifier("127.0.0.1", smtp_port, sender="webhooks@lms.example.com")
    names = [f"{name}.hooks.test" for name in server.listeners]
    resolver = loopback_names(names)
    transport = sync_transport(policy=INSECURE, resolver=resolver, timeouts=timeouts(1.0))
    dispatcher = Dispatcher(
        store,
        clock=clock,
        endpoint_policy=INSECURE,
        resolver=resolver,
        transport=transport,
        notifier=notifier,
        policy=DeliveryPolicy(retry=RetryPolicy(max_retries=1)),
        settings=WorkerSettings(notice_window=timedelta(0), notice_grace=timedelta(0)),
    )
    errors: list[BaseException] = []

    with caplog.at_level(logging.DEBUG):
        integration = dispatcher.integrations.install(
            "acme", secret=CANARY, notification_email="ops@acme.example.com"
        )
        for name, listener in server.listeners.items():
            url = listener.url(f"/{name}?token={QUERY_TOKEN}", host=f"{name}.hooks.test")
            dispatcher.integrations.subscribe(integration.id, "course/*", url)
        for number in range(3):
            dispatcher.emit("course/completion/create", {"n": number}, tenant="acme")
        dispatcher.drain()
        dispatcher.integrations.rotate_secret(integration.id, ROTATED)
        dispatcher.emit("course/completion/create", {"n": 3}, tenant="acme")
        clock.advance(hours=1)
        dispatcher.drain()
        clock.advance(hours=1)
        dispatcher.drain()

        # Bad input and misuse, each an error that must not carry a secret.
        errors.append(raised(lambda: dispatcher.integrations.install("acme", secret=SHORT)))
        errors.append(raised(lambda: dispatcher.integrations.install("acme", secret=LONG)))
        errors.append(raised(lambda: dispatcher.integrations.rotate_secret(integration.id, SHORT)))
        errors.append(raised(lambda: store.add_integration(store.get_integration(integration.id))))
        errors.append(
            raised(lambda: read_with_a_wrong_key(tmp_path / "secrets.db", integration.id))
        )
        body = echo.bodies[-1]
        headers = echo.headers[-1]
        errors.append(raised(lambda: verify(body, headers, "Canary-wrong-secret-000", now=0)))
        errors.append(raised(lambda: verify(body, headers, [SHORT, LONG], now=0)))
        errors.append(raised(lambda: Signer(b"")))

    deliveries = all_deliveries(store)
    assert ledger(store, deliveries).unfinished == 0
    assert mail.received, "the failure notice went out"
    assert all(isinstance(error, AcadioWebhooksError) for error in errors), errors

    haystack.search_logs(caplog.records)
    for error in errors:
        haystack.search_error(f"{type(error).__name__} raised", error)
    for delivery in deliveries:
        haystack.search("delivery record", delivery.model_dump_json())
        for attempt in store.list_attempts(delivery.id):
            haystack.search("attempt record", attempt.model_dump_json())
            haystack.search("attempt repr", repr(attempt))
    for notification in store.unsent_notifications() or []:
        haystack.search("queued notification", repr(notification))
    for received in mail.received:
        haystack.search("notice e-mail", received.message.as_bytes())
    for listener in server.listeners.values():
        for body, headers in zip(listener.bodies, listener.headers):
            haystack.search(f"request sent to {listener.name}", body + repr(headers).encode())
    # The query token is the receiver's own: it may travel to the receiver and stay in the
    # subscription, but nowhere else. The signing secrets may go nowhere at all.
    haystack.needles = [n for secret in SECRETS for n in encodings(secret)] + [box_key]
    reprs = {
        "integration": store.get_integration(integration.id),
        "secrets": store.get_integration(integration.id).secrets,
        "store": store,
        "dispatcher": dispatcher,
        "transport": transport,
        "notifier": notifier,
        "box": box,
    }
    dispatcher.emit("course/completion/create", {"n": 4}, tenant="acme")
    [item] = store.claim(now=clock.now(), limit=1, owner="probe", lease=timedelta(minutes=1))
    request = prepare(item, now=clock.now())
    verdict = settle(
        item,
        TransportResult(status_code=500, duration=0.1),
        started_at=clock.now(),
        now=clock.now(),
        policy=DeliveryPolicy(),
    )
    reprs.update(work_item=item, request=request, settlement=verdict)
    for place, value in reprs.items():
        haystack.search(f"repr of {place}", repr(value))
        haystack.search(f"str of {place}", str(value))
    with store.engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(select(table)):
                haystack.search(f"row of {table.name}", repr(tuple(row)))
    store.close()
    for file in tmp_path.glob("secrets.db*"):  # the database, its WAL and shared memory
        haystack.search(f"file {file.name}", file.read_bytes())

    assert haystack.leaks == []
    transport.close()
    figures.add(
        "secrets",
        places_searched=sum(haystack.places.values()),
        log_records=len(caplog.records),
        errors_checked=len(errors),
        attempts_checked=ledger_attempts(deliveries, store_path=tmp_path / "secrets.db", box=box),
        leaks=0,
    )


def ledger_attempts(deliveries: list[Any], *, store_path: Path, box: FernetSecretBox) -> int:
    store = SqlStore(store_path, secret_box=box)
    try:
        return sum(len(store.list_attempts(d.id)) for d in deliveries)
    finally:
        store.close()


@pytest.mark.parametrize("kind", ["httpx", *ASYNC_TRANSPORTS])
def test_endpoint_tokens_stay_out_of_attempt_errors_and_logs(
    hostile_server: HostileServer,
    kind: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    figures: Figures,
) -> None:
    # Clients quote the request URL in their errors (aiohttp does); a receiver's token in
    # its endpoint's path, query string or userinfo must not follow it into records and
    # logs (the give-up WARNING names scheme, host and port only).
    if kind in ("aiohttp", "httptools"):
        pytest.importorskip(kind)
    server = hostile_server
    hostile = [server.add(name) for name in ("endless-headers", "not-http", "reset-mid-body")]
    store = SqlStore(tmp_path / "tokens.db")
    clock = FakeClock()
    dispatcher = Dispatcher(store, clock=clock, endpoint_policy=INSECURE)
    integration = dispatcher.integrations.install("acme", secret=CANARY)
    for listener in hostile:
        dispatcher.integrations.subscribe(
            integration.id, "course/*", listener.url(f"/in/{PATH_TOKEN}?token={QUERY_TOKEN}")
        )
    dispatcher.emit("course/completion/create", {"n": 1}, tenant="acme")
    options: dict[str, Any] = {"policy": INSECURE, "timeouts": timeouts(2.0)}
    policy = DeliveryPolicy(retry=RetryPolicy(max_retries=0))  # fail and log at once

    with caplog.at_level(logging.DEBUG):
        if kind == "httpx":
            with sync_transport(**options) as transport:
                SyncWorker(store, transport, clock=clock, policy=policy).drain()
        else:

            async def drain() -> None:
                worker = AsyncWorker(
                    store, async_transport(kind, **options), clock=clock, policy=policy
                )
                await worker.drain()
                await worker.aclose()

            anyio.run(drain)

    haystack = Haystack([QUERY_TOKEN, PATH_TOKEN])
    logged = [r for r in caplog.records if r.name.startswith("acadio_webhooks")]
    assert sum("failed after 1 attempts" in r.getMessage() for r in logged) == len(hostile)
    haystack.search_logs(logged)
    errors = []
    for delivery in all_deliveries(store):
        for attempt in store.list_attempts(delivery.id):
            haystack.search("attempt record", attempt.model_dump_json())
            errors.append(attempt.error or "")
    assert len(errors) == len(hostile)
    assert all(error.startswith("protocol: ") for error in errors), errors
    assert haystack.leaks == []
    store.close()
    figures.add("secrets", places_searched=sum(haystack.places.values()), leaks=0)


def read_with_a_wrong_key(path: Path, integration_id: str) -> None:
    """Open the store with a key that did not seal its secrets and read an integration."""
    with closing(SqlStore(path, secret_box=FernetSecretBox(FernetSecretBox.new_key()))) as store:
        store.get_integration(integration_id)


# -- the command line --------------------------------------------------------------------------


def test_the_command_line_never_shows_a_secret(
    hostile_server: HostileServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    figures: Figures,
) -> None:
    haystack = Haystack([CANARY, ROTATED, SHORT])
    server = hostile_server
    ok = server.add("ok")
    failing = server.add("status-500")
    database = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("HOOK_SECRET", CANARY)
    monkeypatch.setenv("OTHER_SECRET", ROTATED)
    monkeypatch.setenv("SHORT_SECRET", SHORT)
    outputs: list[tuple[list[str], int]] = []

    def run(*argv: str) -> str:
        capsys.readouterr()
        code = cli_main(list(argv))
        captured = capsys.readouterr()
        haystack.search(f"acadio-webhooks {argv[0]} {argv[1]}", captured.out + captured.err)
        outputs.append((list(argv), code))
        return captured.out

    created = json.loads(
        run("integrations", "create", "--db", database, "--tenant", "acme",
            "--secret-env", "HOOK_SECRET", "--email", "ops@acme.example.com", "--json")
    )  # fmt: skip
    run("integrations", "create", "--db", database, "--tenant", "acme", "--secret-env",
        "SHORT_SECRET")  # fmt: skip
    for listener in (ok, failing):
        run("integrations", "subscribe", "--db", database, created["id"], "course/*",
            listener.url(), "--allow-insecure-endpoints")  # fmt: skip
    run("integrations", "list", "--db", database)
    run("integrations", "list", "--db", database, "--json")
    dispatcher = Dispatcher(database, endpoint_policy=INSECURE)
    for number in range(3):
        dispatcher.emit("course/completion/create", {"n": number}, tenant="acme")
    dispatcher.close()

    # The worker process, logging every attempt at DEBUG, stopped with SIGTERM.
    worker = subprocess.Popen(
        [sys.executable, "-m", "acadio_webhooks", "worker", "--db", database,
         "--allow-insecure-endpoints", "--poll-interval", "0.1", "--log-level", "DEBUG"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ},
    )  # fmt: skip
    try:
        wait_until(lambda: ok.requests >= 3 and failing.requests >= 3, timeout=60)
    finally:
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=60)
    haystack.search("acadio-webhooks worker (stdout)", out)
    haystack.search("acadio-webhooks worker (stderr)", err)
    assert b"DEBUG" in err, "the worker logged its attempts"

    listing = json.loads(run("deliveries", "list", "--db", database, "--json"))
    for delivery in listing:
        run("deliveries", "show", "--db", database, delivery["id"])
        run("deliveries", "show", "--db", database, delivery["id"], "--json")
    body = tmp_path / "event.json"
    body.write_bytes(ok.bodies[0])
    headers = run("sign", "--secret-env", "HOOK_SECRET", "--body", str(body))
    headers_file = tmp_path / "headers.txt"
    headers_file.write_text(headers)
    run("verify", "--secret-env", "HOOK_SECRET", "--body", str(body), "--headers-file",
        str(headers_file))  # fmt: skip
    run("verify", "--secret-env", "OTHER_SECRET", "--body", str(body), "--headers-file",
        str(headers_file))  # fmt: skip
    run("verify", "--secret", CANARY, "--secret-env", "OTHER_SECRET", "--body", str(body),
        "--headers-file", str(headers_file), "--json")  # fmt: skip

    assert haystack.leaks == []
    codes = [code for _, code in outputs]
    assert codes.count(0) >= len(codes) - 2  # the short secret and the wrong one fail
    figures.add(
        "secrets",
        cli_commands=len(outputs) + 1,
        places_searched=len(outputs) + 2,
        leaks=0,
    )


# -- rotation, end to end over the wire --------------------------------------------------------


def test_secret_rotation_window_end_to_end(
    hostile_server: HostileServer, tmp_path: Path, figures: Figures
) -> None:
    """The bytes that reached the receiver verify with exactly the secrets valid when each
    request was sent (ours and the Standard Webhooks library alike): the old one before the
    rotation, both during the overlap, the new one after. A retry is signed afresh: one
    whose first attempt went out before the rotation carries both signatures."""
    from standardwebhooks.webhooks import Webhook

    server = hostile_server
    receiver = server.add("first-fails", fails_first(503))  # every event is retried once
    box = FernetSecretBox(FernetSecretBox.new_key())
    store = SqlStore(tmp_path / "rotation.db", secret_box=box)
    clock = FakeClock()
    transport = sync_transport(policy=INSECURE)
    dispatcher = Dispatcher(store, clock=clock, endpoint_policy=INSECURE, transport=transport)
    integration = dispatcher.integrations.install("acme", secret=CANARY)
    dispatcher.integrations.subscribe(integration.id, "course/*", receiver.url())
    sent_at: list[int] = []

    def deliver() -> None:
        dispatcher.drain()
        sent_at.extend([int(clock.now().timestamp())] * (receiver.requests - len(sent_at)))

    def emit_and_retry(phase: str) -> None:
        dispatcher.emit("course/completion/create", {"phase": phase}, tenant="acme")
        deliver()  # first attempt: 503
        clock.advance(minutes=1)
        deliver()  # the retry: 200

    dispatcher.emit("course/completion/create", {"phase": "before"}, tenant="acme")
    deliver()  # signed with the old secret only, refused with 503
    clock.advance(minutes=1)
    rotated_at = int(clock.now().timestamp())
    dispatcher.integrations.rotate_secret(integration.id, ROTATED, overlap=timedelta(hours=24))
    clock.advance(minutes=1)
    deliver()  # the retry of "before", now signed with both
    emit_and_retry("during")
    clock.advance(hours=23, minutes=57)  # one minute of overlap left
    emit_and_retry("at the end of the overlap")  # first attempt inside, retry outside
    clock.advance(hours=1)
    emit_and_retry("after")

    def valid_secrets(moment: int) -> set[str]:
        if moment < rotated_at:
            return {CANARY}
        if moment < rotated_at + 24 * 3600:
            return {CANARY, ROTATED}
        return {ROTATED}

    assert receiver.requests == len(sent_at) == 8
    assert {len(valid_secrets(m)) for m in sent_at} == {1, 2}
    checked = 0
    for body, headers, moment in zip(receiver.bodies, receiver.headers, sent_at):
        for secret in (CANARY, ROTATED):
            expected = secret in valid_secrets(moment)
            try:
                verify(body, headers, secret, now=moment)
                ours = True
            except BadSignature:
                ours = False
            # The library checks timestamps against the real clock, so ask it for the
            # signature it expects and look for it among those sent.
            key = "whsec_" + base64.b64encode(secret.encode()).decode()
            stamp = datetime.fromtimestamp(int(headers["webhook-timestamp"]), tz=timezone.utc)
            wanted = Webhook(key).sign(headers["webhook-id"], stamp, body.decode())
            theirs = wanted in headers["webhook-signature"].split(" ")
            assert (ours, theirs) == (expected, expected), (json.loads(body)["data"], moment)
            checked += 1
    assert ledger(store).by_status == {DeliveryStatus.DELIVERED: 4}
    transport.close()
    store.close()
    figures.add("secrets", rotation_checks=checked)
