"""``create_portal``: the ASGI app that puts the pages, the JSON API and its OpenAPI document
behind the host's ``tenant_of``."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from acadio_webhooks._version import __version__
from acadio_webhooks.dispatcher import AsyncDispatcher, Dispatcher
from acadio_webhooks.domain.webhooks_openapi import webhooks_openapi
from acadio_webhooks.portal._api import OPERATIONS, api_routes, json_error
from acadio_webhooks.portal._csrf import CsrfSigner
from acadio_webhooks.portal._openapi import openapi_document
from acadio_webhooks.portal._render import Renderer
from acadio_webhooks.portal._service import PortalService
from acadio_webhooks.portal._tenancy import TenantOf
from acadio_webhooks.portal._ui import Pages

__all__ = ["create_portal"]


def _portal_path(request: Request) -> str:
    """The request path below the portal's mount point."""
    path = request.url.path
    root = str(request.scope.get("root_path", ""))
    return path[len(root) :] if root and path.startswith(root) else path


def create_portal(
    dispatcher: Dispatcher | AsyncDispatcher,
    *,
    tenant_of: TenantOf,
    csrf_secret: str | bytes,
    title: str = "Webhooks",
    sign_in_url: str | None = None,
) -> Starlette:
    """The admin portal as an ASGI app, to mount in the host's web application.

    ``tenant_of(request)`` (a function or coroutine function) is the host's authentication:
    it returns the tenant the signed-in administrator manages, or None (answered 401). It may
    raise ``starlette.exceptions.HTTPException(403)`` to refuse a signed-in user. Every
    operation is confined to that tenant's objects; other tenants' ids are answered 404.

    ``csrf_secret`` (at least 16 random bytes, kept private and stable across processes)
    signs the forms' CSRF tokens. ``title`` names the portal in page headings.
    ``sign_in_url``, the host's sign-in page, is where the "Sign in required" page (401)
    sends an administrator who is not signed in.

    Besides the pages, ``/api/`` (the JSON API) and ``/api/openapi.json`` (its document), the
    portal serves ``/api/webhooks.openapi.json``: the OpenAPI document receivers generate code
    from, describing every topic of the dispatcher's catalog (see
    :func:`~acadio_webhooks.webhooks_openapi`).

    ::

        app.mount("/webhooks", create_portal(dispatcher, tenant_of=current_school,
                                             csrf_secret=settings.WEBHOOKS_CSRF_SECRET))
    """
    signer = CsrfSigner(csrf_secret)
    service = PortalService(dispatcher)
    pages = Pages(
        service, tenant_of, signer, Renderer(title=title, signer=signer), sign_in_url=sign_in_url
    )
    document = openapi_document(OPERATIONS, title=title, version=__version__)
    for_receivers = webhooks_openapi(dispatcher.catalog, title=title)

    async def openapi(request: Request) -> Response:
        return JSONResponse(document)

    async def receivers_openapi(request: Request) -> Response:
        return JSONResponse(for_receivers)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)  # registered for HTTPException only
        if _portal_path(request).startswith("/api/"):
            response: Response = json_error(exc.status_code, exc.detail)
        else:
            response = pages.problem(request, exc.status_code, exc.detail, tenant=None)
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    routes = [
        Route("/api/openapi.json", openapi, methods=["GET"], name="openapi"),
        Route(
            "/api/webhooks.openapi.json",
            receivers_openapi,
            methods=["GET"],
            name="webhooks_openapi",
        ),
        *api_routes(service, tenant_of),
        Mount(
            "/static",
            StaticFiles(packages=[("acadio_webhooks.portal", "static")]),
            name="static",
        ),
        *pages.routes(),
    ]
    return Starlette(routes=routes, exception_handlers={HTTPException: http_error})
