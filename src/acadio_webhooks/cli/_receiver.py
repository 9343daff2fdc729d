"""The demo's receiver: a customer's endpoint on 127.0.0.1 that verifies every request.

``/healthy`` answers 200 and ``/failing`` answers 500 — after ``verify()`` accepted the
request, exactly as a real receiver would; a request that fails verification gets 400. The
standard library's threading HTTP server is enough for a local demo and adds no dependency.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from acadio_webhooks.domain.verification import verify
from acadio_webhooks.errors import VerificationError

__all__ = ["ReceivedRequest", "DemoReceiver"]

_ANSWERS = {"/healthy": 200, "/failing": 500}


@dataclass(frozen=True)
class ReceivedRequest:
    """One request the receiver handled."""

    path: str
    status: int
    verified: bool
    event_id: str | None
    topic: str | None
    reason: str | None = None


class DemoReceiver:
    """A verifying webhook receiver on a free loopback port, served from a daemon thread.

    ::

        with DemoReceiver(secret) as receiver:
            url = receiver.url("/healthy")
    """

    def __init__(self, secret: str) -> None:
        self._secret = secret
        self._lock = threading.Lock()
        self._requests: list[ReceivedRequest] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="demo-receiver", daemon=True
        )

    @property
    def requests(self) -> list[ReceivedRequest]:
        """Every request so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def url(self, path: str) -> str:
        """``http://127.0.0.1:<port><path>``."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{path}"

    def start(self) -> DemoReceiver:
        """Serve in the background."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> DemoReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _record(self, request: ReceivedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                path = self.path.split("?", 1)[0]
                try:
                    event = verify(body, self.headers, receiver._secret)
                except VerificationError as exc:
                    receiver._record(ReceivedRequest(path, 400, False, None, None, exc.reason))
                    self._answer(400, f"not verified: {exc.reason}")
                    return
                status = _ANSWERS.get(path, 404)
                receiver._record(ReceivedRequest(path, status, True, event.id, event.topic))
                text = "ok" if status == 200 else "this demo endpoint always fails"
                self._answer(status, text)

            def _answer(self, status: int, text: str) -> None:
                payload = text.encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:
                """Keep the demo's screen clean: the live table reports every request."""

        return Handler
