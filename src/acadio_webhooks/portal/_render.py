"""Server-rendered pages: the Jinja2 environment, URL building under a mount, the CSRF
cookie, and the security headers every HTML answer carries."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

from acadio_webhooks.domain.topics import Topic
from acadio_webhooks.portal._csrf import COOKIE_NAME, FIELD_NAME, CsrfSigner

__all__ = ["PAGE_HEADERS", "Renderer", "path_for"]

PAGE_HEADERS = {
    # Scripts, styles and images only from the portal (its one script refreshes a pending
    # delivery log), fetches only to it; forms only post back to it; no framing
    # (click-jacking).
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; "
        "img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def path_for(request: Request, name: str, **params: str) -> str:
    """The path of the portal route ``name``, under whatever prefix the portal is mounted at.

    ``request.url_for`` would ask the outermost router (the host's), which does not know the
    portal's route names; ``scope["app"]`` is the portal itself, and ``root_path`` its prefix.
    """
    portal = request.scope["app"]
    return str(request.scope.get("root_path", "")) + str(portal.url_path_for(name, **params))


def _when(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _iso(value: datetime) -> str:
    return value.astimezone(timezone.utc).isoformat()


def _areas(topics: Iterable[Topic]) -> list[str]:
    """The first segments of ``topics``, for ``area/*`` pattern suggestions."""
    return sorted({topic.name.split("/", 1)[0] for topic in topics})


class Renderer:
    """Renders templates into HTML answers, keeping the browser's CSRF nonce cookie set."""

    def __init__(self, *, title: str, signer: CsrfSigner) -> None:
        self._title = title
        self._signer = signer
        self._env = jinja2.Environment(
            loader=jinja2.PackageLoader("acadio_webhooks.portal", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._env.filters["when"] = _when
        self._env.filters["iso"] = _iso
        self._env.filters["areas"] = _areas

    def page(
        self,
        request: Request,
        template: str,
        context: Mapping[str, Any],
        *,
        tenant: str | None,
        status: int = 200,
    ) -> HTMLResponse:
        """``template`` rendered with ``context``; forms on it get a CSRF token for ``tenant``."""
        cookie = request.cookies.get(COOKIE_NAME)
        usable = cookie is not None and self._signer.usable_nonce(cookie)
        nonce = cookie if cookie is not None and usable else self._signer.new_nonce()
        fresh = nonce != cookie
        token = self._signer.token(tenant, nonce) if tenant is not None else ""

        def url(name: str, **params: str) -> str:
            return path_for(request, name, **params)

        html = self._env.get_template(template).render(
            {
                "title": self._title,
                "csrf_field": FIELD_NAME,
                "csrf_token": token,
                "url": url,
                "static": lambda path: url("static", path=path),
                **context,
            }
        )
        response = HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)
        if fresh and tenant is not None:
            response.set_cookie(
                COOKIE_NAME,
                nonce,
                path=str(request.scope.get("root_path", "")) or "/",
                httponly=True,
                samesite="strict",
                secure=request.url.scheme == "https",
            )
        return response
