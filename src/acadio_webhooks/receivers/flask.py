"""Flask: verify the delivery inside a view, or before it with a decorator.

::

    from acadio_webhooks.receivers.flask import verified_event, verify_webhook

    @app.post("/webhooks/acadio")
    @verify_webhook(lambda: app.config["ACADIO_WEBHOOK_SECRET"])
    def receive_acadio_webhook(event):
        handle(event)
        return {"received": event.id}

    @app.post("/webhooks/acadio-too")
    def receive_in_the_view():
        event = verified_event(os.environ["ACADIO_WEBHOOK_SECRET"])  # aborts with 400
        ...

Importing this module imports Flask; nothing else in acadio-webhooks does.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Concatenate, NoReturn, TypeVar

from flask import abort, jsonify, request
from typing_extensions import ParamSpec, Unpack

from acadio_webhooks.domain.verification import ReceivedEvent
from acadio_webhooks.errors import VerificationError
from acadio_webhooks.receivers._common import SecretSource, Verifier, VerifyOptions, rejection_for

__all__ = ["verified_event", "verify_webhook"]

P = ParamSpec("P")
R = TypeVar("R")


def verified_event(secret: SecretSource, **options: Unpack[VerifyOptions]) -> ReceivedEvent[Any]:
    """The verified event of the current request; call it inside a view.

    Reads the raw body with ``request.get_data(cache=True)`` (so the view can still read it)
    and ``request.headers``, and verifies them with ``secret`` (a ``str``/``bytes``, a list of
    them during a rotation, or a function of no arguments returning either, called now).
    ``options`` are those of ``verify()``. On failure it aborts the request with
    ``400 {"error": reason, "detail": message}`` (a logged ``500`` for an unusable secret):
    the rest of the view does not run.
    """
    return _verified(Verifier(secret, options))


def verify_webhook(
    secret: SecretSource, **options: Unpack[VerifyOptions]
) -> Callable[[Callable[Concatenate[ReceivedEvent[Any], P], R]], Callable[P, R]]:
    """Decorate a view so it runs only for verified deliveries, with the event as its first
    argument (URL variables follow as keywords, as Flask passes them).

    Put it below ``@app.post(...)``. ``secret`` and ``options`` are as for
    :func:`verified_event`; the options are checked once, here.
    """
    verifier = Verifier(secret, options)

    def decorate(view: Callable[Concatenate[ReceivedEvent[Any], P], R]) -> Callable[P, R]:
        @functools.wraps(view)
        def verified_view(*args: P.args, **kwargs: P.kwargs) -> R:
            return view(_verified(verifier), *args, **kwargs)

        return verified_view

    return decorate


def _verified(verifier: Verifier) -> ReceivedEvent[Any]:
    try:
        return verifier.verify(request.get_data(cache=True), request.headers)
    except VerificationError as error:
        _refuse(error)


def _refuse(error: VerificationError) -> NoReturn:
    rejection = rejection_for(error)
    response = jsonify(rejection.body)
    response.status_code = rejection.status_code
    abort(response)
