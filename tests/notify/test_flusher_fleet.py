"""Many flushers on one store mail each failure notice once: threads on every store, processes
on a SQLite file and on PostgreSQL, and a flusher SIGKILLed mid-send whose lease is taken over
once it expires. Real stores, a real SMTP server (aiosmtpd), real processes."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from acadio_webhooks.adapters.clock import FakeClock
from acadio_webhooks.adapters.notifier.smtp import SmtpNotifier
from acadio_webhooks.adapters.storage.sql import SqlStore
from acadio_webhooks.domain.models import DeliveryStatus
from acadio_webhooks.notify import NotificationFlusher
from acadio_webhooks.ports.storage import Store
from tests.contract.builders import (
    LEASE,
    delivery,
    event,
    integration,
    notification,
    settlement,
    subscription,
)
from tests.mail import MailCollector, smtp_server
from tests.stores import STORE_KINDS, open_store, wiped_postgres_store

SENDER = "webhooks@lms.example.com"
FLUSHER_PROCESS = Path(__file__).with_name("flusher_process.py")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    # Every real kind here, not the notify tests' fake (tests/notify/conftest.py).
    made = open_store(request.param, request, tmp_path)
    yield made
    made.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def shared_sql(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[SqlStore, str]]:
    """A SQL store other processes can open too, and its URL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'shared.db'}"
        made = SqlStore(url)
    else:
        made = wiped_postgres_store(request)
        url = request.getfixturevalue("postgres_url")
    yield made, url
    made.close()


def queue_failures(store: Store, integrations: int, failures: int) -> dict[str, str]:
    """Give each of ``integrations`` integrations ``failures`` failed deliveries, each with
    its failure notification queued the way the worker does (``settle``); return
    ``{notification address: integration id}``."""
    addresses: dict[str, str] = {}
    for n in range(integrations):
        owner = integration(notification_email=f"ops-{n}@example.com")
        store.add_integration(owner)
        sub = subscription(owner)
        store.add_subscription(sub)
        for _ in range(failures):
            evt = event()
            store.enqueue(evt, [delivery(evt, sub)])
        addresses[f"ops-{n}@example.com"] = owner.id
    while items := store.claim(now=event().created_at, limit=50, owner="w", lease=LEASE):
        store.settle(
            [
                settlement(
                    item,
                    ok=False,
                    started=1,
                    status=DeliveryStatus.FAILED,
                    notifications=(notification(item, created=2),),
                )
                for item in items
            ],
            owner="w",
            now=event().created_at,
        )
    assert len(store.unsent_notifications()) == integrations * failures
    return addresses


def mails_per_address(mailbox: MailCollector) -> Counter[str]:
    return Counter(address for mail in mailbox.received for address in mail.rcpt_tos)


def test_flusher_threads_on_one_store_mail_each_notice_once(store: Store) -> None:
    addresses = queue_failures(store, integrations=6, failures=3)
    flushers = 4
    start = threading.Barrier(flushers)

    with smtp_server() as (mailbox, port):

        def flush_until_done(_: int) -> int:
            flusher = NotificationFlusher(
                store, SmtpNotifier("127.0.0.1", port, sender=SENDER), grace=timedelta(0)
            )
            start.wait(timeout=30)
            sent = 0
            deadline = time.monotonic() + 30
            while store.unsent_notifications(limit=1) and time.monotonic() < deadline:
                accepted = flusher.flush()
                sent += accepted
                if not accepted:
                    time.sleep(0.002)  # another thread holds the lease (or is marking)
            return sent

        with ThreadPoolExecutor(max_workers=flushers) as pool:
            sent = list(pool.map(flush_until_done, range(flushers)))

    assert mails_per_address(mailbox) == Counter(dict.fromkeys(addresses, 1))
    assert sum(sent) == len(addresses)
    for mail in mailbox.received:
        assert mail.message["Subject"] == "Acadio webhooks: 3 deliveries failed"
    assert store.unsent_notifications() == []


def _start_flusher_process(url: str, smtp_port: int, *options: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, str(FLUSHER_PROCESS), url, str(smtp_port), *options],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    return process


def _go(process: subprocess.Popen[str]) -> None:
    assert process.stdin is not None
    process.stdin.write("go\n")
    process.stdin.flush()


def test_three_flusher_processes_mail_one_notice_per_integration(
    shared_sql: tuple[SqlStore, str],
) -> None:
    store, url = shared_sql
    addresses = queue_failures(store, integrations=8, failures=2)

    with smtp_server() as (mailbox, port):
        processes = [_start_flusher_process(url, port) for _ in range(3)]
        try:
            for process in processes:
                _go(process)
            outputs = [process.communicate(timeout=90)[0] for process in processes]
        finally:
            for process in processes:
                process.kill()
                process.wait()

    assert [process.returncode for process in processes] == [0, 0, 0]
    sent = [json.loads(output.splitlines()[-1])["sent"] for output in outputs]
    assert mails_per_address(mailbox) == Counter(dict.fromkeys(addresses, 1))
    assert sum(sent) == len(addresses)
    assert store.unsent_notifications() == []


def test_a_sigkilled_flushers_lease_is_taken_over_once_it_expires(
    shared_sql: tuple[SqlStore, str],
) -> None:
    store, url = shared_sql
    [address] = queue_failures(store, integrations=1, failures=3)
    lease = timedelta(seconds=60)

    with socket.socket() as silent:  # a mail server that accepts and never says hello
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        silent.settimeout(60)
        port = silent.getsockname()[1]
        doomed = _start_flusher_process(url, port, "--smtp-timeout", "600", "--lease", "60")
        try:
            _go(doomed)
            connection, _ = silent.accept()  # it holds the lease and is sending
        finally:
            doomed.kill()  # SIGKILL: no finally block, no release
            doomed.communicate(timeout=30)
        connection.close()
    killed_at = datetime.now(timezone.utc)

    with smtp_server() as (mailbox, smtp_port):
        clock = FakeClock(killed_at)
        survivor = NotificationFlusher(
            store,
            SmtpNotifier("127.0.0.1", smtp_port, sender=SENDER),
            clock=clock,
            grace=timedelta(0),
            lease=lease,
        )
        assert survivor.flush() == 0  # the dead flusher's lease still holds
        assert mailbox.received == []
        clock.advance(lease)
        assert survivor.flush() == 1

    [mail] = mailbox.received
    assert mail.rcpt_tos == [address]
    assert mail.message["Subject"] == "Acadio webhooks: 3 deliveries failed"
    assert store.unsent_notifications() == []
