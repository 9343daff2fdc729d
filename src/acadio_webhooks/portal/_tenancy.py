"""The host's side of the contract: who is asking, as a tenant id.

``tenant_of(request)`` belongs to the host: it reads the host's session, token or header
and returns the tenant (account) the signed-in administrator manages, or None when nobody
is signed in. It may be a plain function or a coroutine function. To refuse a signed-in user
who may not manage webhooks, it raises ``starlette.exceptions.HTTPException(403)``.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable

from starlette.requests import Request

__all__ = ["ID_PATTERN", "TenantOf", "resolve_tenant", "well_formed_id"]

TenantOf = Callable[[Request], str | Awaitable[str | None] | None]

ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,128}$"
"""Ids in portal URLs (``int_…``, ``sub_…``, ``dlv_…``): anything else is answered 404
without asking the store."""
_ID = re.compile(ID_PATTERN)


async def resolve_tenant(tenant_of: TenantOf, request: Request) -> str | None:
    """The tenant ``tenant_of`` names for ``request``; an empty string counts as nobody."""
    tenant = tenant_of(request)
    if inspect.isawaitable(tenant):
        tenant = await tenant
    if tenant is not None and not isinstance(tenant, str):
        raise TypeError(f"tenant_of must return a str or None, not {type(tenant).__name__}")
    return tenant or None


def well_formed_id(value: str) -> bool:
    """Whether ``value`` can be an id the library made."""
    return _ID.fullmatch(value) is not None
