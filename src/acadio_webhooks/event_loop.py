"""Which event loop a worker runs on: uvloop when it is installed, else asyncio's own.

uvloop (the ``uvloop`` extra; not on Windows) runs the same asyncio code with its loop,
transports and timers written in C: the worker spends less CPU per delivery on scheduling and
socket I/O (``docs/performance.md``). Only the loops this library starts choose for
themselves: :meth:`Dispatcher.start_worker <acadio_webhooks.Dispatcher.start_worker>` and
``acadio-webhooks worker``. An async host that awaits ``AsyncWorker.run()`` keeps the loop it
already runs (start it with ``uvloop.run(...)`` to get the same gain).
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Coroutine
from typing import Any, Literal, TypeVar

__all__ = ["EventLoopName", "resolve_event_loop", "run"]

EventLoopName = Literal["auto", "uvloop", "asyncio"]
"""``auto`` picks uvloop when installed; ``uvloop`` insists on it; ``asyncio`` never uses it."""

_T = TypeVar("_T")

_INSTALL_HINT = "uvloop is not installed: pip install 'acadio-webhooks[uvloop]' (not on Windows)"


def _uvloop_installed() -> bool:
    try:
        return importlib.util.find_spec("uvloop") is not None
    except ValueError:  # a module set to None in sys.modules: treated as not installed
        return False


def resolve_event_loop(name: EventLoopName = "auto") -> Literal["uvloop", "asyncio"]:
    """The loop ``name`` stands for on this machine.

    Raises:
        ImportError: ``name`` is ``"uvloop"`` and uvloop is not installed (the message says
            how to install it).
        ValueError: ``name`` is not one of ``auto``, ``uvloop``, ``asyncio``.
    """
    if name == "asyncio":
        return "asyncio"
    if name not in ("auto", "uvloop"):
        raise ValueError(f"event loop must be 'auto', 'uvloop' or 'asyncio', not {name!r}")
    if _uvloop_installed():
        return "uvloop"
    if name == "uvloop":
        raise ImportError(_INSTALL_HINT)
    return "asyncio"


def run(main: Coroutine[Any, Any, _T], *, loop: EventLoopName = "auto") -> _T:
    """Run ``main`` to completion on a new event loop of the kind ``loop`` names, as
    :func:`asyncio.run` does, and return its result."""
    try:
        chosen = resolve_event_loop(loop)
    except (ImportError, ValueError):
        main.close()  # never awaited: close it so that Python does not warn about it
        raise
    if chosen == "uvloop":
        import uvloop

        return uvloop.run(main)
    return asyncio.run(main)
