"""The admin portal: the customer page's "Manage Integrations" flow and the delivery log, as
an ASGI app the host mounts (``pip install acadio-webhooks[portal]``).

::

    from acadio_webhooks.portal import create_portal

    app.mount("/webhooks", create_portal(dispatcher, tenant_of=tenant_of, csrf_secret=key))

It serves HTML pages at its root, a JSON API under ``/api/`` and that API's OpenAPI document
at ``/api/openapi.json``. Authentication is the host's: ``tenant_of(request)`` names the
tenant, and every query is confined to it. See ``docs/portal.md``.
"""

from __future__ import annotations

from acadio_webhooks.portal._app import create_portal

__all__ = ["create_portal"]
