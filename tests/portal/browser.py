"""Real headless Chromium for the portal's browser tests: Debian's ``chromium`` driven by
Playwright (never a downloaded browser), a loopback receiver, and a worker pass.

Skips when Chromium or Playwright is missing, unless ``ACADIO_WEBHOOKS_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from acadio_webhooks.adapters.clock import FakeClock
from acadio_webhooks.dispatcher import Dispatcher
from tests.services import unavailable

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "img"
# The docs' screenshots are refreshed on request only, so a test run leaves the tree clean:
# ACADIO_WEBHOOKS_SCREENSHOTS=1 python3 dev.py test tests/portal/test_browser.py
REFRESH_DOCS_IMAGES = os.environ.get("ACADIO_WEBHOOKS_SCREENSHOTS") == "1"


def _browser_missing() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "Playwright for Python is not installed (pip install playwright)"
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        return f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    return None


# One browser per test module: Playwright's sync API keeps an event loop running on this
# thread while the browser lives, and the async tests of other modules need theirs.
@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    problem = _browser_missing()
    if problem is not None:
        unavailable(problem)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Receiver:
    """A loopback webhook receiver: ``/ok`` answers 200; ``/flaky`` 500 until fixed."""

    def __init__(self) -> None:
        self.fixed = False
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", "0")))
                broken = self.path == "/flaky" and not receiver.fixed
                body = b"receiver is down for maintenance" if broken else b"thanks"
                self.send_response(500 if broken else 200)
                self.send_header("content-type", "text/plain")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()


def settle(dispatcher: Dispatcher, clock: FakeClock) -> None:
    """A real worker pass (HTTP to the receiver), then time moves past each retry wait."""
    for _ in range(40):
        dispatcher.drain()
        clock.advance(timedelta(hours=1))
    dispatcher.drain()
