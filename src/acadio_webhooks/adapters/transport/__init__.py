"""Transports: httpx, aiohttp (optional extra), and recording fakes for tests.

* :mod:`acadio_webhooks.adapters.transport.httpx`: ``HttpxTransport`` (the sync default)
  and ``AsyncHttpxTransport`` (the async default without the aiohttp extra).
* :mod:`acadio_webhooks.adapters.transport.aiohttp`: ``AiohttpTransport``, with the
  ``acadio-webhooks[aiohttp]`` extra (then the async default).
* :mod:`acadio_webhooks.adapters.transport.default`: which async transport a worker gets
  when none is named.
* :mod:`acadio_webhooks.adapters.transport.recording`: fakes that record requests.

The network transports check every connection against an
:class:`~acadio_webhooks.domain.endpoints.EndpointPolicy` and pin it to a checked address.
This package imports no HTTP client; only :class:`TransportTimeouts` is defined here.
"""

from __future__ import annotations

from acadio_webhooks.adapters.transport._common import TransportTimeouts

__all__ = ["TransportTimeouts"]
