"""How the httpx transports report httpx's exceptions and response headers (respx-mocked).

The contract suite covers real failures against a loopback server, TLS ones included (respx
replaces an exception's cause, so TLS, recognised by its ``ssl.SSLError`` cause, is only tested
there); this covers what a loopback server cannot produce on demand (pool and write timeouts,
proxy and local protocol errors), one exception class at a time.
"""

from __future__ import annotations

from datetime import datetime, timezone

import httpx
import pytest
import respx

from acadio_webhooks.adapters.transport.httpx import AsyncHttpxTransport, HttpxTransport
from acadio_webhooks.domain.messages import ErrorKind, OutboundRequest

URL = "https://hooks.example.com/acadio"
REQUEST = OutboundRequest(url=URL, headers={"Content-Type": "application/json"}, body=b"{}")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


EXCEPTIONS = [
    (httpx.ConnectTimeout("connect timed out"), ErrorKind.TIMEOUT),
    (httpx.ReadTimeout("read timed out"), ErrorKind.TIMEOUT),
    (httpx.WriteTimeout("write timed out"), ErrorKind.TIMEOUT),
    (httpx.PoolTimeout("no free connection"), ErrorKind.TIMEOUT),
    (httpx.ConnectError("connection refused"), ErrorKind.CONNECT),
    (httpx.RemoteProtocolError("server disconnected"), ErrorKind.PROTOCOL),
    (httpx.LocalProtocolError("illegal header value"), ErrorKind.PROTOCOL),
    (httpx.ReadError("connection reset by peer"), ErrorKind.PROTOCOL),
    (httpx.WriteError("broken pipe"), ErrorKind.PROTOCOL),
    (httpx.CloseError("close failed"), ErrorKind.CONNECT),
    (httpx.ProxyError("proxy refused"), ErrorKind.OTHER),
    (httpx.UnsupportedProtocol("no h3"), ErrorKind.OTHER),
]
IDS = [type(exception).__name__ for exception, _ in EXCEPTIONS]


@pytest.mark.parametrize(("side_effect", "kind"), EXCEPTIONS, ids=IDS)
@respx.mock
def test_sync_transport_maps_httpx_exceptions(side_effect: object, kind: ErrorKind) -> None:
    respx.post(URL).mock(side_effect=side_effect)

    with HttpxTransport() as transport:
        result = transport.send(REQUEST)

    assert (result.status_code, result.error_kind) == (None, kind)
    assert result.error


@pytest.mark.anyio
@pytest.mark.parametrize(("side_effect", "kind"), EXCEPTIONS, ids=IDS)
@respx.mock
async def test_async_transport_maps_httpx_exceptions(side_effect: object, kind: ErrorKind) -> None:
    respx.post(URL).mock(side_effect=side_effect)

    async with AsyncHttpxTransport() as transport:
        result = await transport.send(REQUEST)

    assert (result.status_code, result.error_kind) == (None, kind)


@respx.mock
def test_the_error_text_names_the_failure() -> None:
    respx.post(URL).mock(side_effect=httpx.ConnectError("connection refused"))

    with HttpxTransport() as transport:
        result = transport.send(REQUEST)

    assert result.error == "ConnectError: connection refused"


@respx.mock
def test_a_programming_error_is_raised_not_reported() -> None:
    respx.post(URL).mock(side_effect=KeyError("bug"))

    with HttpxTransport() as transport, pytest.raises(KeyError):
        transport.send(REQUEST)


class FixedClock:
    def __init__(self, now: datetime) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now


@respx.mock
def test_an_http_date_retry_after_is_counted_from_the_injected_clock() -> None:
    respx.post(URL).mock(
        return_value=httpx.Response(503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    )
    clock = FixedClock(datetime(2015, 10, 21, 7, 27, tzinfo=timezone.utc))

    with HttpxTransport(clock=clock) as transport:
        result = transport.send(REQUEST)

    assert (result.status_code, result.retry_after) == (503, 60.0)


@respx.mock
def test_the_request_is_sent_unchanged() -> None:
    route = respx.post(URL).mock(return_value=httpx.Response(204))
    request = OutboundRequest(
        url=URL + "?tenant=t1", headers={"X-Acadio-Topic": "course/x/create"}, body=b"[1]"
    )

    with HttpxTransport() as transport:
        assert transport.send(request).succeeded

    sent = route.calls.last.request
    assert (sent.method, str(sent.url), sent.content) == ("POST", URL + "?tenant=t1", b"[1]")
    assert sorted(sent.headers.keys()) == ["content-length", "host", "x-acadio-topic"]
