"""Fixtures of the receiver-helper tests: a factory for every framework and helper style."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from acadio_webhooks.receivers import SecretSource
from tests.receivers.apps import FACTORIES, Harness


@pytest.fixture(params=sorted(FACTORIES))
def make_receiver(request: pytest.FixtureRequest) -> Iterator[Callable[..., Harness]]:
    """``make_receiver(secret, **verify_options)`` builds the app of one helper style."""
    factory = FACTORIES[request.param]
    with contextlib.ExitStack() as stack:

        def make(secret: SecretSource, **options: Any) -> Harness:
            return factory(stack, secret, **options)

        yield make
