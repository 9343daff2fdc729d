"""Transports: httpx, httptools and aiohttp (optional extras), and recording fakes for tests.

* :mod:`acadio_webhooks.adapters.transport.httpx`: ``HttpxTransport`` (the sync default)
  and ``AsyncHttpxTransport`` (the async default without either extra below).
* :mod:`acadio_webhooks.adapters.transport.httptools`: ``HttptoolsTransport``, with the
  ``acadio-webhooks[httptools]`` extra (then the async default: the least CPU per attempt).
* :mod:`acadio_webhooks.adapters.transport.aiohttp`: ``AiohttpTransport``, with the
  ``acadio-webhooks[aiohttp]`` extra (the async default when httptools is not installed).
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
