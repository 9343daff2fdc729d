"""Django: a view decorator that verifies the delivery before the view runs.

::

    from django.conf import settings
    from acadio_webhooks.receivers.django import webhook_view

    @webhook_view(secret=lambda: settings.ACADIO_WEBHOOK_SECRET)
    def receive_acadio_webhook(request, event):
        handle(event)
        return JsonResponse({"received": event.id})

Importing this module imports Django; nothing else in acadio-webhooks does.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, Concatenate, TypeVar

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from typing_extensions import ParamSpec, Unpack

from acadio_webhooks.domain.verification import ReceivedEvent
from acadio_webhooks.errors import VerificationError
from acadio_webhooks.receivers._common import SecretSource, Verifier, VerifyOptions, rejection_for

__all__ = ["webhook_view"]

P = ParamSpec("P")
R = TypeVar("R")


def webhook_view(
    secret: SecretSource, **options: Unpack[VerifyOptions]
) -> Callable[
    [Callable[Concatenate[HttpRequest, ReceivedEvent[Any], P], R]],
    Callable[Concatenate[HttpRequest, P], R],
]:
    """Decorate a function view ``view(request, event, *args, **kwargs)`` so it runs only for
    verified deliveries.

    The decorated view answers ``405`` to anything but ``POST``, is ``csrf_exempt`` (Acadio
    cannot send a CSRF token; the signature protects the view), verifies ``request.body`` (the
    raw bytes) and ``request.headers`` with ``secret``, and calls ``view`` with the
    :class:`~acadio_webhooks.domain.verification.ReceivedEvent` after ``request``. A request
    that fails verification gets ``JsonResponse({"error": reason, "detail": message},
    status=400)`` and the view never runs; an unusable secret gets a logged ``500``.

    ``secret`` is a ``str``/``bytes``, a list of them (rotation), or a function of no arguments
    called on every request, e.g. ``lambda: settings.ACADIO_WEBHOOK_SECRET``, so settings are
    read lazily and a rotated secret needs no restart. ``options`` are those of ``verify()``
    (``tolerance``, ``now``, ``require_timestamp``, ``replay_guard``).

    ``async def`` views work too (Django 5.0 or newer); with a ``replay_guard``, verification
    then runs in a worker thread, as the guard may wait on a shared store.
    """
    verifier = Verifier(secret, options)

    def decorate(
        view: Callable[Concatenate[HttpRequest, ReceivedEvent[Any], P], R],
    ) -> Callable[Concatenate[HttpRequest, P], R]:
        if iscoroutinefunction(view):
            wrapper: Callable[..., Any] = _async_wrapper(verifier, view)
        else:
            wrapper = _sync_wrapper(verifier, view)
        decorated: Callable[Concatenate[HttpRequest, P], R] = csrf_exempt(require_POST(wrapper))
        return decorated

    return decorate


def _sync_wrapper(verifier: Verifier, view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def verified_view(request: HttpRequest, /, *args: Any, **kwargs: Any) -> Any:
        try:
            event = verifier.verify(request.body, request.headers)
        except VerificationError as error:
            return _refusal(error)
        return view(request, event, *args, **kwargs)

    return verified_view


def _async_wrapper(
    verifier: Verifier, view: Callable[..., Awaitable[Any]]
) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(view)
    async def verified_view(request: HttpRequest, /, *args: Any, **kwargs: Any) -> Any:
        try:
            if verifier.may_block:
                event = await sync_to_async(verifier.verify)(request.body, request.headers)
            else:
                event = verifier.verify(request.body, request.headers)
        except VerificationError as error:
            return _refusal(error)
        return await view(request, event, *args, **kwargs)

    return verified_view


def _refusal(error: VerificationError) -> Any:
    rejection = rejection_for(error)
    return JsonResponse(rejection.body, status=rejection.status_code)
