"""Fixtures of the portal tests: a world per store kind (memory, SQLite)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.portal.browser import chromium, receiver
from tests.portal.world import PortalWorld

__all__ = ["chromium", "receiver"]  # the browser tests' fixtures, shared from browser.py


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["memory", "sqlite"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PortalWorld]:
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'portal.db'}"
    built = PortalWorld(url)
    yield built
    built.dispatcher.close()


@pytest.fixture
def memory_world() -> Iterator[PortalWorld]:
    built = PortalWorld("memory://")
    yield built
    built.dispatcher.close()
