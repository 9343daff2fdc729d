"""Which async transport a worker gets when the host names none: the fastest one installed.

:class:`~acadio_webhooks.adapters.transport.aiohttp.AiohttpTransport` spends less CPU per
attempt than :class:`~acadio_webhooks.adapters.transport.httpx.AsyncHttpxTransport` (see
``docs/performance.md``), so it is the default whenever the ``aiohttp`` extra is installed;
httpx, a core dependency, is the default otherwise. Both keep the same contract: endpoint
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

TransportName = Literal["aiohttp", "httpx"]


def is_installed(name: TransportName) -> bool:
    """Whether the HTTP client behind transport ``name`` can be imported here."""
    return importlib.util.find_spec(name) is not None


def fastest_installed() -> TransportName:
    """``"aiohttp"`` when the aiohttp extra is installed, else ``"httpx"``."""
    return "aiohttp" if is_installed("aiohttp") else "httpx"


def default_async_transport(
    *, policy: EndpointPolicy, resolver: Resolver, name: TransportName | None = None
) -> AsyncTransport:
    """A new async transport: ``name``'s, or the fastest installed one when ``name`` is None.

    Logs at INFO which one it made and why, so an operator can tell from a worker's start-up
    lines which HTTP client sends its deliveries. Raises ``ImportError`` with the install
    command when ``name`` is ``"aiohttp"`` and the extra is missing.
    """
    chosen = name or fastest_installed()
    if chosen == "aiohttp":
        try:
            from acadio_webhooks.adapters.transport.aiohttp import AiohttpTransport
        except ImportError as exc:
            raise ImportError(
                "the aiohttp transport needs aiohttp: pip install 'acadio-webhooks[aiohttp]'"
            ) from exc
        transport: AsyncTransport = AiohttpTransport(policy=policy, resolver=resolver)
    else:
        from acadio_webhooks.adapters.transport.httpx import AsyncHttpxTransport

        transport = AsyncHttpxTransport(policy=policy, resolver=resolver)
    if name is not None:
        logger.info("delivering with %s, as chosen", type(transport).__name__)
    elif chosen == "aiohttp":
        logger.info("delivering with AiohttpTransport, the fastest installed transport")
    else:
        logger.info(
            "delivering with AsyncHttpxTransport; pip install 'acadio-webhooks[aiohttp]' "
            "for the faster AiohttpTransport, used by default when installed"
        )
    return transport
