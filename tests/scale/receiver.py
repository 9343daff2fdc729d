"""A fast webhook receiver for scale tests and the scale benchmark, run as its own process.

    python -m tests.scale.receiver [--secret SECRET]

It listens on 127.0.0.1 (a free port, printed as ``listening <port>`` on stdout), answers
every ``POST`` with 200 (after ``verify()`` when ``--secret`` is given: 400 if that fails),
and counts each ``webhook-id`` per path. ``GET /_stats`` returns the counts as JSON
(``{"seen": {path: {webhook_id: count}}, "refused": n}``); ``POST /_reset`` clears them.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import defaultdict

from aiohttp import web

from acadio_webhooks.domain.verification import verify
from acadio_webhooks.errors import VerificationError

__all__ = ["build_app", "main"]


def build_app(secret: str | None) -> web.Application:
    """The receiver's aiohttp application."""
    seen: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    refused = 0

    async def receive(request: web.Request) -> web.Response:
        nonlocal refused
        body = await request.read()
        if secret is not None:
            try:
                verify(body, request.headers, secret)
            except VerificationError:
                refused += 1
                return web.Response(status=400)
        seen[request.path][request.headers.get("webhook-id", "")] += 1
        return web.Response(status=200)

    async def stats(_request: web.Request) -> web.Response:
        return web.json_response({"seen": seen, "refused": refused})

    async def reset(_request: web.Request) -> web.Response:
        nonlocal refused
        seen.clear()
        refused = 0
        return web.Response(status=204)

    app = web.Application()
    app.router.add_get("/_stats", stats)
    app.router.add_post("/_reset", reset)
    app.router.add_post("/{tail:.*}", receive)
    return app


async def _serve(secret: str | None) -> None:
    runner = web.AppRunner(build_app(secret), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    sockets = site._server.sockets if site._server is not None else ()  # type: ignore[union-attr]
    port = sockets[0].getsockname()[1]
    sys.stdout.write(f"listening {port}\n")
    sys.stdout.flush()
    await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    """Run until killed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--secret", help="verify every request with this secret")
    args = parser.parse_args(argv)
    asyncio.run(_serve(args.secret))


if __name__ == "__main__":
    main()
