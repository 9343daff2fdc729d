"""``acadio-webhooks worker``: a real process that delivers, then stops gracefully on SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from acadio_webhooks import DeliveryStatus, Dispatcher, EndpointPolicy
from acadio_webhooks.adapters.notifier.logging import LoggingNotifier
from acadio_webhooks.cli import build_parser
from acadio_webhooks.cli._worker import build_worker
from tests.cli.conftest import Run
from tests.loopback import loopback_receiver, wait_until

SECRET = "worker-test-secret-0123456789"


class _Lines:
    """Collects a stream's lines from a thread; ``seen(text)`` waits for one containing text."""

    def __init__(self, stream: object) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()

    def seen(self, text: str, timeout: float = 60.0) -> bool:
        with self._changed:
            return self._changed.wait_for(
                lambda: any(text in line for line in self.lines), timeout=timeout
            )

    def text(self) -> str:
        self._thread.join(timeout=10)
        return "".join(self.lines)


@pytest.mark.skipif(os.name == "nt", reason="SIGTERM semantics are POSIX")
def test_worker_delivers_and_finishes_the_attempt_in_flight_on_sigterm(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'webhooks.db'}"
    with loopback_receiver(SECRET) as receiver:
        receiver.hold = threading.Event()  # keep the attempt in flight until told
        with Dispatcher(db, endpoint_policy=EndpointPolicy(allow_insecure=True)) as dispatcher:
            integration = dispatcher.integrations.install("tenant-1", secret=SECRET)
            dispatcher.integrations.subscribe(integration.id, "course/*", receiver.url())
            event_id = dispatcher.emit("course/completion/create", {"n": 1}, tenant="tenant-1")
        process = subprocess.Popen(
            [
                sys.executable, "-m", "acadio_webhooks", "worker", "--db", db,
                "--allow-insecure-endpoints", "--poll-interval", "0.1",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        log = _Lines(process.stderr)
        try:
            wait_until(receiver.arrived.is_set, what="the worker's request")
            process.send_signal(signal.SIGTERM)
            assert log.seen("SIGTERM received"), log.text()
            receiver.hold.set()  # the in-flight attempt may now complete
            process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            stderr = log.text()
            for stream in (process.stdout, process.stderr):
                if stream is not None:
                    stream.close()
        assert process.returncode == 0, stderr
        assert "worker stopped: 1 attempts, 1 delivered" in stderr
        # No --event-loop: uvloop, installed here, named in the start-up line.
        assert "uvloop event loop: concurrency 50, 10 per endpoint" in stderr
        # No --transport: the fastest installed one, said at start-up.
        assert "delivering with HttptoolsTransport, the fastest installed transport" in stderr
        # The process is the worker's own: start-up objects stay out of collection passes,
        # and young collections wait until more than the attempts in flight have piled up.
        assert "start-up objects frozen out of garbage-collection passes" in stderr
        assert re.search(
            r"young-generation threshold 10000 \(was \d+\), room for the objects of 50 "
            r"attempts in flight",
            stderr,
        ), stderr
        assert "Traceback" not in stderr
        assert SECRET not in stderr
    [received] = receiver.received
    assert received.verified
    assert received.event_id == event_id
    with Dispatcher(db) as dispatcher:
        [delivery] = dispatcher.deliveries(event_id=event_id).items
        assert delivery.status is DeliveryStatus.DELIVERED
        assert [a.status_code for a in dispatcher.attempts(delivery.id)] == [200]


def test_worker_asking_for_uvloop_without_it_is_a_usage_error(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [n for n in sys.modules if n == "uvloop" or n.startswith("uvloop.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "uvloop", None)  # as without the uvloop extra
    result = run("worker", "--db", f"sqlite:///{tmp_path / 'w.db'}", "--event-loop", "uvloop")
    assert result.code == 2
    assert "pip install 'acadio-webhooks[uvloop]'" in result.err
    assert not (tmp_path / "w.db").exists()  # refused before anything was opened


def test_worker_without_a_database_is_a_usage_error(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ACADIO_WEBHOOKS_DB", raising=False)
    result = run("worker")
    assert result.code == 2
    assert "no database given" in result.err


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--smtp-host", "127.0.0.1"], "--smtp-host needs --smtp-from"),
        (["--smtp-from", "hooks@example.com"], "need --smtp-host"),
        (
            ["--smtp-host", "127.0.0.1", "--smtp-from", "h@example.com", "--smtp-user", "u"],
            "--smtp-user and --smtp-password-env together",
        ),
        (
            [
                "--smtp-host", "127.0.0.1", "--smtp-from", "h@example.com", "--smtp-user", "u",
                "--smtp-password-env", "UNSET_SMTP_PASSWORD_X",
            ],
            "UNSET_SMTP_PASSWORD_X is not set",
        ),
        (
            [
                "--smtp-host", "127.0.0.1", "--smtp-from", "h@example.com", "--smtp-user", "u",
                "--smtp-password-env", "SMTP_PASSWORD_X", "--smtp-security", "none",
            ],
            "SMTP settings refused",
        ),
        (["--concurrency", "0"], "must be at least 1"),
        (["--retention", "0d"], "cannot read retention '0d'"),
    ],
)  # fmt: skip
def test_worker_configuration_errors(
    run: Run,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    options: list[str],
    message: str,
) -> None:
    monkeypatch.setenv("SMTP_PASSWORD_X", "smtp-password-value")
    result = run("worker", "--db", str(tmp_path / "webhooks.db"), *options)
    assert result.code == 2
    assert message in result.err
    assert "smtp-password-value" not in result.err
    assert not (tmp_path / "webhooks.db").exists()


@pytest.mark.parametrize(
    ("given", "kept"), [([], timedelta(days=30)), (["--retention", "12w"], timedelta(weeks=12)),
                        (["--retention", "forever"], None)],
)  # fmt: skip
def test_worker_keeps_history_for_the_retention_given(
    tmp_path: Path, given: list[str], kept: timedelta | None
) -> None:
    args = build_parser().parse_args(["worker", "--db", str(tmp_path / "w.db"), *given])
    built = build_worker(args, LoggingNotifier())
    try:
        assert built.worker.settings.retention == kept
    finally:
        built.store.close()
