"""docs/quickstart.md, step by step, as a reader would follow it on one machine.

The page's own blocks are run: its shell commands through the command line (the worker as a
real process), its Python blocks as written, and its Flask receiver served on 127.0.0.1.
Only the integration id and the receiver's port, which differ on every run, are filled in.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from acadio_webhooks import DeliveryStatus, Dispatcher
from tests.cli.conftest import Run
from tests.loopback import wait_until

PAGE = Path(__file__).resolve().parents[2] / "docs" / "quickstart.md"
PAGE_URL = "http://127.0.0.1:8000/hooks"
PAGE_INTEGRATION = "int_0193..."


def block(name: str) -> str:
    """The fenced block after ``<!-- quickstart:name -->``."""
    found = re.search(rf"<!-- quickstart:{name} -->\n```\w+\n(.*?)```", PAGE.read_text(), re.S)
    assert found, f"docs/quickstart.md lost its {name!r} block"
    return found.group(1)


def commands(name: str) -> list[list[str]]:
    return [shlex.split(line) for line in block(name).splitlines() if line.strip()]


@pytest.fixture
def receiver_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The page's Flask receiver, served on a free loopback port."""
    monkeypatch.setenv("HOOK_SECRET", "change-me-to-a-long-random-secret")
    scope: dict[str, Any] = {"__name__": "receiver"}
    exec(compile(block("receiver"), str(PAGE), "exec"), scope)
    server = make_server("127.0.0.1", 0, scope["app"], threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hooks"
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.mark.skipif(os.name == "nt", reason="the worker is stopped with SIGTERM")
def test_the_quick_start_delivers_a_verified_event(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, receiver_url: str
) -> None:
    monkeypatch.chdir(tmp_path)

    # 2. Install an integration.
    integration_id = None
    for argv in commands("install"):
        if argv[0] == "export":
            name, _, value = argv[1].partition("=")
            monkeypatch.setenv(name, value)
            continue
        assert argv[0] == "acadio-webhooks"
        result = run(*argv[1:])
        assert result.code == 0, result.err
        integration_id = re.search(r"installed (int_\w+)", result.out).group(1)  # type: ignore[union-attr]
    assert integration_id is not None

    # 3. Subscribe the (local) receiver.
    [subscribe] = commands("subscribe")
    filled = [integration_id if a == PAGE_INTEGRATION else a for a in subscribe[1:]]
    filled = [receiver_url if a == PAGE_URL else a for a in filled]
    assert filled != subscribe[1:]
    result = run(*filled)
    assert result.code == 0, result.err

    # 4. Emit, with the page's Python.
    scope: dict[str, Any] = {}
    exec(compile(block("emit"), str(PAGE), "exec"), scope)
    event_id = scope["event_id"]

    # 5. Run the worker as its own process, as the page says, until the event is delivered.
    [worker] = commands("worker")
    assert worker[:2] == ["acadio-webhooks", "worker"]
    process = subprocess.Popen(
        [sys.executable, "-m", "acadio_webhooks", *worker[1:]],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with Dispatcher(os.environ["ACADIO_WEBHOOKS_DB"]) as dispatcher:

            def delivered() -> bool:
                items = dispatcher.deliveries(event_id=event_id).items
                return bool(items) and items[0].status is DeliveryStatus.DELIVERED

            wait_until(delivered, what="the quick start's delivery")
            [delivery] = dispatcher.deliveries(event_id=event_id).items
            [attempt] = dispatcher.attempts(delivery.id)
        assert attempt.status_code == 204  # the receiver's verify() accepted it
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr

    # 7. Look at what happened.
    listed = run("deliveries", "list")
    assert delivery.id in listed.out
    assert "delivered" in listed.out
