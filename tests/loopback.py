"""A real webhook receiver on 127.0.0.1 for tests: it verifies every request with ``verify()``.

Tests that run the command line, the worker process or the host examples deliver to it over
real HTTP, so nothing between ``emit`` and the receiver's ``verify`` is faked.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from acadio_webhooks.domain.verification import verify
from acadio_webhooks.errors import VerificationError

__all__ = ["Received", "LoopbackReceiver", "loopback_receiver", "wait_until"]


@dataclass(frozen=True)
class Received:
    """One request the receiver accepted (verified) or refused."""

    path: str
    verified: bool
    topic: str | None
    event_id: str | None
    data: dict[str, Any] | None
    reason: str | None
    headers: dict[str, str] = field(default_factory=dict)
    """Every request header, as received."""
    arrived_at: float = field(default_factory=time.monotonic)
    """When the request was answered (``time.monotonic()``)."""


class LoopbackReceiver:
    """Answers ``status`` (200 unless told) after verifying with ``secret``; 400 if it fails.

    ``hold``: when set to an unset ``threading.Event``, each request waits for it before
    answering (to keep an attempt in flight); ``arrived`` is set when a request comes in.
    """

    def __init__(self, secret: str, *, status: int = 200) -> None:
        self.secret = secret
        self.status = status
        # Per-path answers that override ``status``: path -> (status, extra headers).
        self.answers: dict[str, tuple[int, dict[str, str]]] = {}
        self.hold: threading.Event | None = None
        self.arrived = threading.Event()
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def url(self, path: str = "/hooks") -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{path}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.arrived.set()
                if receiver.hold is not None:
                    receiver.hold.wait(60)
                try:
                    event = verify(body, self.headers, receiver.secret)
                except VerificationError as exc:
                    entry = Received(
                        self.path, False, None, None, None, exc.reason, dict(self.headers)
                    )
                    status = 400
                else:
                    entry = Received(
                        self.path,
                        True,
                        event.topic,
                        event.id,
                        event.data,
                        None,
                        dict(self.headers),
                    )
                    status = receiver.status
                status, extra = receiver.answers.get(self.path, (status, {}))
                with receiver._lock:
                    receiver._received.append(entry)
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        return Handler

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self.hold is not None:
            self.hold.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@contextmanager
def loopback_receiver(secret: str, *, status: int = 200) -> Iterator[LoopbackReceiver]:
    """A started :class:`LoopbackReceiver`, stopped afterwards."""
    receiver = LoopbackReceiver(secret, status=status)
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()


def wait_until(condition: Callable[[], bool], *, timeout: float = 60.0, what: str = "") -> None:
    """Poll ``condition`` until true; fail the test (not a timing assertion) after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what or 'the condition'}")
        time.sleep(0.05)
