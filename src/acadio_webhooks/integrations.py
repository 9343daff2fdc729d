"""The customer page's admin flow as host code: install, subscribe, rotate, deactivate.

::

    integration = dispatcher.integrations.install("tenant-42", secret=key, notification_email=...)
    dispatcher.integrations.subscribe(integration.id, "course/*", "https://lms-hooks.example.com/")
    dispatcher.integrations.rotate_secret(integration.id, new_key)   # old key signs 24 h more
    dispatcher.integrations.deactivate(integration.id)               # "Disconnecting"

Every change is validated before anything is stored: field-named errors for bad input
(:class:`~acadio_webhooks.errors.InvalidInput`), the pattern grammar and typo guard, and the
endpoint policy — https only, and a host that resolves to public addresses only.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from datetime import timedelta
from enum import Enum
from typing import Any, TypeVar

import pydantic

from acadio_webhooks.domain.endpoints import EndpointPolicy
from acadio_webhooks.domain.headers import endpoint_header_problems
from acadio_webhooks.domain.models import Integration, SigningSecret, Subscription
from acadio_webhooks.domain.patterns import Pattern
from acadio_webhooks.domain.topics import TopicCatalog
from acadio_webhooks.errors import (
    InvalidEndpoint,
    InvalidInput,
    PatternMatchesNothing,
    ResolutionError,
)
from acadio_webhooks.ports.clock import Clock
from acadio_webhooks.ports.resolver import Resolver
from acadio_webhooks.ports.storage import Registry

__all__ = ["Integrations", "Unchanged", "DEFAULT_ROTATION_OVERLAP"]

DEFAULT_ROTATION_OVERLAP = timedelta(hours=24)
"""How long a replaced secret keeps signing beside the new one (receivers switch meanwhile)."""

_M = TypeVar("_M", bound=pydantic.BaseModel)


def _build(model: type[_M], what: str, **fields: Any) -> _M:
    """Construct a model, turning pydantic's errors into ``InvalidInput`` without the inputs."""
    try:
        return model(**fields)
    except pydantic.ValidationError as exc:
        problems = {
            _field_name(error["loc"]) or what: error["msg"].removeprefix("Value error, ")
            for error in exc.errors(include_input=False, include_url=False)
        }
        raise InvalidInput(what, problems) from None


def _field_name(location: tuple[int | str, ...]) -> str:
    # ("secrets", 0, "value") is what a caller passed as ``secret``.
    if location[:1] == ("secrets",) and location[-1:] == ("value",):
        return "secret"
    return ".".join(str(part) for part in location)


def _checked_headers(headers: object) -> dict[str, str]:
    # ``object``: hosts are not always typed, and a list of pairs must get this error.
    if not isinstance(headers, Mapping):
        shown = type(headers).__name__
        raise InvalidInput("subscription", {"headers": f"must map names to values, not {shown}"})
    problems = endpoint_header_problems(headers)
    if problems:
        raise InvalidInput("subscription", problems)
    return dict(headers)


class Unchanged(Enum):
    """The default of an ``update_*`` argument for which None means something: left out,
    the value stays as it is."""

    KEEP = "keep"


class Integrations:
    """Manage integrations and subscriptions in a store (sync; the async dispatcher runs it in
    a worker thread). Obtain it as ``Dispatcher.integrations``."""

    def __init__(
        self,
        store: Registry,
        *,
        catalog: TopicCatalog,
        clock: Clock,
        endpoint_policy: EndpointPolicy,
        resolver: Resolver,
    ) -> None:
        self._store = store
        self._catalog = catalog
        self._clock = clock
        self._policy = endpoint_policy
        self._resolver = resolver

    # -- integrations -----------------------------------------------------------------------

    def install(
        self, tenant: str, *, secret: str, notification_email: str | None = None
    ) -> Integration:
        """Install the webhooks integration for ``tenant`` with its signing secret."""
        now = self._clock.now()
        integration = _build(
            Integration,
            "integration",
            tenant=tenant,
            secrets=({"value": secret, "created_at": now},),
            notification_email=notification_email,
            created_at=now,
            updated_at=now,
        )
        self._store.add_integration(integration)
        return integration

    def get(self, integration_id: str) -> Integration:
        """The integration, or ``NotFound``."""
        return self._store.get_integration(integration_id)

    def list(self, tenant: str | None = None) -> list[Integration]:
        """Integrations of ``tenant`` (every tenant's when None)."""
        return self._store.list_integrations(tenant)

    def set_notification_email(self, integration_id: str, email: str | None) -> Integration:
        """Set (or clear, with None) the address told about failing deliveries."""
        return self._change(integration_id, notification_email=email)

    def rotate_secret(
        self,
        integration_id: str,
        new_secret: str,
        *,
        overlap: timedelta = DEFAULT_ROTATION_OVERLAP,
    ) -> Integration:
        """Make ``new_secret`` the signing secret; the previous one keeps signing for
        ``overlap`` (each request then carries both signatures) and is then dropped."""
        now = self._clock.now()
        current = self._store.get_integration(integration_id)
        fresh = _build(SigningSecret, "secret", value=new_secret, created_at=now)
        kept = tuple(
            old.model_copy(
                update={"expires_at": min(old.expires_at or now + overlap, now + overlap)}
            )
            for old in current.secrets
            if old.expires_at is None or old.expires_at > now
        )
        return self._change(integration_id, secrets=(fresh, *kept) if overlap else (fresh,))

    def deactivate(self, integration_id: str) -> Integration:
        """Disconnect: stop every delivery of the integration now; pending ones are not sent."""
        integration = self._change(integration_id, active=False)
        self._store.cancel_pending(now=self._clock.now(), integration_id=integration_id)
        return integration

    def activate(self, integration_id: str) -> Integration:
        """Reconnect a deactivated integration (cancelled deliveries stay cancelled)."""
        return self._change(integration_id, active=True)

    def _change(self, integration_id: str, **changes: Any) -> Integration:
        current = self._store.get_integration(integration_id)
        fields = {**current.model_dump(), **changes, "updated_at": self._clock.now()}
        updated = _build(Integration, "integration", **fields)
        self._store.update_integration(updated)
        return updated

    # -- subscriptions ----------------------------------------------------------------------

    def subscribe(
        self,
        integration_id: str,
        pattern: str,
        endpoint: str,
        *,
        headers: Mapping[str, str] | None = None,
        rate_limit: float | None = None,
        allow_future_topics: bool = False,
    ) -> Subscription:
        """Subscribe ``endpoint`` to every topic ``pattern`` matches.

        ``headers`` are sent on every attempt (an API gateway's ``Authorization``): their
        values are secrets, sealed at rest with the store's ``secret_box`` and never shown
        again (listings give :attr:`Subscription.header_names`).

        ``rate_limit``: deliveries per second the endpoint receives at most, 0.01 to 10,000,
        with a burst of one second's worth; workers put off what is over it, without using
        a retry (see :mod:`acadio_webhooks.domain.rate_limit`). None: as fast as they can.

        Refuses a pattern that matches no known topic (``cource/*``) unless
        ``allow_future_topics``; refuses endpoints the endpoint policy forbids; refuses
        headers with ``InvalidInput`` naming each bad one (see
        :mod:`acadio_webhooks.domain.headers`).
        """
        self._store.get_integration(integration_id)
        self._check_pattern(pattern, allow_future_topics)
        checked_headers = _checked_headers(headers or {})
        subscription = _build(
            Subscription,
            "subscription",
            integration_id=integration_id,
            pattern=pattern,
            endpoint=self.check_endpoint(endpoint),
            created_at=self._clock.now(),
            headers=checked_headers,
            rate_limit=rate_limit,
        )
        self._store.add_subscription(subscription)
        return subscription

    def update_subscription(
        self,
        subscription_id: str,
        *,
        pattern: str | None = None,
        endpoint: str | None = None,
        active: bool | None = None,
        headers: Mapping[str, str] | None = None,
        rate_limit: float | Unchanged | None = Unchanged.KEEP,
        allow_future_topics: bool = False,
    ) -> Subscription:
        """Change a subscription's pattern, endpoint, active flag, custom headers or rate
        limit (re-enabling clears the disabled reason and the failure history).

        ``headers`` replaces every custom header (``{}`` removes them all); None keeps them.
        ``rate_limit``: the new limit, or None to lift it; left out, the limit stays. A
        changed limit applies at once, to deliveries already put off for the old one too.
        """
        current = self._store.get_subscription(subscription_id)
        changes: dict[str, Any] = {}
        if rate_limit is not Unchanged.KEEP:
            changes["rate_limit"] = rate_limit
        if headers is not None:
            changes["headers"] = _checked_headers(headers)
        if pattern is not None:
            self._check_pattern(pattern, allow_future_topics)
            changes["pattern"] = pattern
        if endpoint is not None:
            changes["endpoint"] = self.check_endpoint(endpoint)
        if active is not None:
            changes["active"] = active
            if active:
                changes.update(disabled_reason=None, consecutive_failures=0, failing_since=None)
        updated = _build(Subscription, "subscription", **{**current.model_dump(), **changes})
        self._store.update_subscription(updated)
        if active is False:
            self._store.cancel_pending(now=self._clock.now(), subscription_id=subscription_id)
        return updated

    def unsubscribe(self, subscription_id: str) -> None:
        """Delete a subscription; its pending deliveries are cancelled."""
        self._store.delete_subscription(subscription_id)

    def subscriptions(self, integration_id: str) -> builtins.list[Subscription]:
        """Subscriptions of one integration."""
        return self._store.list_subscriptions(integration_id)

    def check_endpoint(self, url: str) -> str:
        """Validate ``url`` against the endpoint policy, resolving its host now.

        Returns the URL unchanged; raises ``InvalidEndpoint`` saying what is wrong. The same
        check runs again on every connection (the transport pins checked addresses).
        """
        endpoint = self._policy.check_url(url)
        try:
            addresses = self._resolver.resolve(endpoint.host, endpoint.port)
        except ResolutionError as exc:
            raise InvalidEndpoint(url, f"host {endpoint.host!r} does not resolve") from exc
        self._policy.check_addresses(endpoint.host, addresses)
        return url

    def _check_pattern(self, pattern: str, allow_future_topics: bool) -> None:
        parsed = Pattern(pattern)
        if not allow_future_topics and not self._catalog.matching(parsed):
            raise PatternMatchesNothing(pattern)
