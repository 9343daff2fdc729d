"""Fixtures for the notification tests; the helpers they build on are in notify_support.py."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from notify_support import (
    T0,
    FakeNotificationStore,
    SelfSignedCertificate,
    authenticate,
)

from acadio_webhooks.adapters.clock import FakeClock
from tests.mail import MailCollector, free_port


@pytest.fixture
def start_smtp() -> Iterator[Callable[..., tuple[MailCollector, int]]]:
    """Start aiosmtpd on 127.0.0.1 (a free port unless given); stopped after the test.

    Keyword arguments go to ``Controller`` (``tls_context``, ``require_starttls``,
    ``ssl_context``); ``auth=True`` requires the login ``SMTP_USER``/``SMTP_PASSWORD``.
    """
    controllers: list[Controller] = []

    def start(
        port: int | None = None, *, auth: bool = False, **options: Any
    ) -> tuple[MailCollector, int]:
        collector = MailCollector()
        port = port or free_port()
        if auth:
            options.update(authenticator=authenticate, auth_require_tls=True)
        controller = Controller(collector, hostname="127.0.0.1", port=port, **options)
        controller.start()
        controllers.append(controller)
        return collector, port

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> SelfSignedCertificate:
    """A self-signed certificate for 127.0.0.1, made now with the openssl command."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    command = [openssl, "req", "-x509", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"]
    command += ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
    command += ["-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)]
    subprocess.run(command, check=True, capture_output=True, timeout=60)
    return SelfSignedCertificate(cert, key)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def store() -> FakeNotificationStore:
    return FakeNotificationStore()
