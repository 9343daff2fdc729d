"""Which async transport a worker gets when the host names none: the fastest one installed.

:class:`~acadio_webhooks.adapters.transport.httptools.HttptoolsTransport` spends the least CPU
per attempt, then :class:`~acadio_webhooks.adapters.transport.aiohttp.AiohttpTransport`, then
:class:`~acadio_webhooks.adapters.transport.httpx.AsyncHttpxTransport` (see
``docs/performance.md``): a worker gets the first whose extra (``httptools``, ``aiohttp``) is
installed, and httpx, a core dependency, otherwise. All three keep the same contract: endpoint
policy checked at connection time, addresses pinned, bodies capped, nothing raised for what an
endpoint does. Passing ``transport=`` (or ``--transport`` on the command line) still chooses.
"""

from __future__ import annotations

import importlib.util
import logging
from typing import Literal

from acadio_webhooks.domain.endpoints import EndpointPolicy
from acadio_webhooks.ports.resolver import Resolver
from acadio_webhooks.ports.transport import AsyncTransport

__all__ = ["TransportName", "is_installed", "fastest_installed", "default_async_transport"]

logger = logging.getLogger("acadio_webhooks.worker")

TransportName = Literal["httptools", "aiohttp", "httpx"]


def is_installed(name: TransportName) -> bool:
    """Whether the HTTP client behind transport ``name`` can be imported here."""
    return importlib.util.find_spec(name) is not None


def fastest_installed() -> TransportName:
    """``"httptools"``, else ``"aiohttp"``, when its extra is installed; else ``"httpx"``."""
    for name in _FASTEST_FIRST:
        if is_installed(name):
            return name
    return "httpx"


_FASTEST_FIRST: tuple[TransportName, ...] = ("httptools", "aiohttp")
_CLASSES = {
    "httptools": "HttptoolsTransport",
    "aiohttp": "AiohttpTransport",
    "httpx": "AsyncHttpxTransport",
}


def default_async_transport(
    *, policy: EndpointPolicy, resolver: Resolver, name: TransportName | None = None
) -> AsyncTransport:
    """A new async transport: ``name``'s, or the fastest installed one when ``name`` is None.

    Logs at INFO which one it made and why, so an operator can tell from a worker's start-up
    lines which HTTP client sends its deliveries. Raises ``ImportError`` with the install
    command when ``name`` is ``"httptools"`` or ``"aiohttp"`` and its extra is missing.
    """
    chosen = name or fastest_installed()
    transport = _made(chosen, policy=policy, resolver=resolver)
    if name is not None:
        logger.info("delivering with %s, as chosen", _CLASSES[chosen])
    elif chosen == "httpx":
        logger.info(
            "delivering with AsyncHttpxTransport; pip install 'acadio-webhooks[httptools]' "
            "for the faster HttptoolsTransport, used by default when installed"
        )
    else:
        logger.info("delivering with %s, the fastest installed transport", _CLASSES[chosen])
    return transport


def _made(name: TransportName, *, policy: EndpointPolicy, resolver: Resolver) -> AsyncTransport:
    try:
        if name == "httptools":
            from acadio_webhooks.adapters.transport.httptools import HttptoolsTransport

            return HttptoolsTransport(policy=policy, resolver=resolver)
        if name == "aiohttp":
            from acadio_webhooks.adapters.transport.aiohttp import AiohttpTransport

            return AiohttpTransport(policy=policy, resolver=resolver)
    except ImportError as exc:
        raise ImportError(
            f"the {name} transport needs {name}: pip install 'acadio-webhooks[{name}]'"
        ) from exc
    from acadio_webhooks.adapters.transport.httpx import AsyncHttpxTransport

    return AsyncHttpxTransport(policy=policy, resolver=resolver)
