"""One kept-alive HTTP/1.1 connection of the httptools transport: an asyncio protocol that
sends one request at a time and parses its response with httptools.

It decides what an exchange ended in (an answer, a protocol error, a read or total timeout) and
whether the connection may carry another request; the transport around it owns the pool.
"""

from __future__ import annotations

import asyncio

import httptools

from acadio_webhooks.adapters.transport._common import BodyCollector
from acadio_webhooks.adapters.transport._progress import AttemptProgress, Phase

__all__ = [
    "MAX_RESPONSE_HEAD",
    "Answer",
    "Connection",
    "HttpProtocolError",
    "HttpTimeout",
    "TotalTimeout",
]

MAX_RESPONSE_HEAD = 64 * 1024
"""Bytes a response may send before its head ends; more is a protocol error (a hostile endpoint
could otherwise make the parser hold an endless header line)."""

# asyncio may run a timer a little before its time; closer than this counts as due.
_TIMER_SLACK = 0.001


class HttpProtocolError(Exception):
    """The endpoint's answer was not a well-formed HTTP/1.1 response, or it broke off."""


class HttpTimeout(Exception):
    """A connect or read timeout (the total timeout is reported by the attempt's phase)."""


class TotalTimeout(Exception):
    """The attempt's total timeout ran out during the exchange."""


class Answer:
    """What one response said that the attempt's result needs."""

    __slots__ = ("location", "retry_after", "status")

    def __init__(self) -> None:
        self.status = 0
        self.location: str | None = None
        self.retry_after: str | None = None


class Connection(asyncio.Protocol):
    """One kept-alive connection: one exchange at a time, its response parsed by httptools."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, key: tuple[str, str, int], read_timeout: float
    ) -> None:
        self.key = key  # the scheme, host and port it may carry requests to
        self._loop = loop
        self._read_timeout = read_timeout
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[Answer] | None = None
        self._answer = Answer()
        self._body: BodyCollector | None = None
        self._progress: AttemptProgress | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._deadline = 0.0
        self._last_read = 0.0
        self._head_bytes = 0
        self._head_done = False
        self._delimited = False  # the response says where its body ends
        self._keep_alive = False
        self.idle_since = 0.0
        self.closed = False
        self.lost: asyncio.Future[None] = loop.create_future()  # done once the socket is shut
        self.out_of_step = False  # something came that no exchange asked for

    # -- the exchange --------------------------------------------------------------------------

    def exchange(
        self,
        request: bytes,
        body: bytes,
        collector: BodyCollector,
        progress: AttemptProgress,
        deadline: float,
    ) -> asyncio.Future[Answer]:
        """Send one request; the future is the response's answer, or the exchange's error."""
        assert self._transport is not None
        assert self._waiter is None
        self._waiter = waiter = self._loop.create_future()
        self._answer = Answer()
        self._body = collector
        self._progress = progress
        self._deadline = deadline
        self._head_bytes = 0
        self._head_done = self._delimited = self._keep_alive = False
        self._last_read = self._loop.time()
        if self.closed:  # the server closed it after it was put back or handed over
            self._fail(HttpProtocolError("the connection was closed before the request went"))
            return waiter
        self._arm()
        progress.advance(Phase.SENDING)
        self._transport.writelines((request, body))
        if not self._transport.get_write_buffer_size():
            progress.advance(Phase.WAITING_FOR_RESPONSE)
        return waiter

    @property
    def reusable(self) -> bool:
        """Whether another request may go on this connection now."""
        return (
            self._keep_alive
            and not self.closed
            and not self.out_of_step
            and self._transport is not None
            and not self._transport.get_write_buffer_size()
        )

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
        self.closed = True

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()
        self.closed = True

    # -- asyncio's callbacks -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses: no isinstance check.
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._waiter is None:
            self.out_of_step = True  # a server talking out of turn: never reuse this one
            self.abort()
            return
        self._last_read = self._loop.time()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._finish(keep_alive=False)  # 101: the connection speaks something else now
            return
        except httptools.HttpParserError as exc:
            self._fail(HttpProtocolError(f"the response is not valid HTTP/1.1: {exc}"))
            return
        if not self._head_done and self._waiter is not None:
            self._head_bytes += len(data)
            if self._head_bytes > MAX_RESPONSE_HEAD:
                self._fail(
                    HttpProtocolError(f"the response head exceeds {MAX_RESPONSE_HEAD} bytes")
                )

    def eof_received(self) -> bool | None:
        return None  # close the transport: connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.lost.done():
            self.lost.set_result(None)
        if self._waiter is None:
            return
        if self._head_done and not self._delimited:
            self._finish(keep_alive=False)  # a body that ends with the connection has ended
            return
        ended = "the response ended early" if self._head_done else "no response came"
        cause = f": {exc}" if exc is not None else ""
        self._fail(HttpProtocolError(f"the server closed the connection; {ended}{cause}"))

    # -- httptools' callbacks ------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._waiter is None:
            self.out_of_step = True  # a second response after the one asked for

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._waiter is None:
            return  # out of step: this answer is nobody's
        lowered = name.lower()
        if lowered == b"location":
            self._answer.location = value.decode("latin-1")
        elif lowered == b"retry-after":
            self._answer.retry_after = value.decode("latin-1")
        elif lowered in (b"content-length", b"transfer-encoding"):
            self._delimited = True

    def on_headers_complete(self) -> None:
        if self._waiter is None:
            return
        status = self._parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            return  # informational: the real response follows
        self._answer.status = status
        self._head_done = True
        # Read now: llhttp forgets it once the message is complete.
        self._keep_alive = self._parser.should_keep_alive()
        if status in (204, 304):
            self._delimited = True  # no body, whatever the headers say
        if self._progress is not None:
            self._progress.advance(Phase.READING_BODY)

    def on_body(self, body: bytes) -> None:
        if self._body is not None and not self._body.feed(body) and self._waiter is not None:
            self._finish(keep_alive=False)  # the cap: stop reading, drop the rest

    def on_message_complete(self) -> None:
        if self._waiter is None:
            return
        if not self._head_done:
            self._answer = Answer()  # the end of an informational response
            self._delimited = False
            return
        self._finish(keep_alive=self._keep_alive)

    # -- ending an exchange --------------------------------------------------------------------

    def _finish(self, *, keep_alive: bool) -> None:
        waiter = self._end()
        self._keep_alive = keep_alive
        if not keep_alive:
            self.close()
        if waiter is not None and not waiter.done():
            waiter.set_result(self._answer)

    def _fail(self, error: Exception) -> None:
        waiter = self._end()
        self._keep_alive = False
        self.abort()
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)

    def _end(self) -> asyncio.Future[Answer] | None:
        waiter, self._waiter = self._waiter, None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._body = None
        self.idle_since = self._loop.time()
        return waiter

    def _arm(self) -> None:
        due = min(self._deadline, self._last_read + self._read_timeout)
        self._timer = self._loop.call_at(due, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self._waiter is None:
            return
        now = self._loop.time() + _TIMER_SLACK
        if (
            self._progress is not None
            and self._transport is not None
            and not self._transport.get_write_buffer_size()
        ):
            self._progress.advance(Phase.WAITING_FOR_RESPONSE)  # the request did go out
        if now >= self._deadline:
            self._fail(TotalTimeout())
        elif now - self._last_read >= self._read_timeout:
            self._fail(HttpTimeout(f"no data came for {self._read_timeout:g} s (read timeout)"))
        else:
            self._arm()
