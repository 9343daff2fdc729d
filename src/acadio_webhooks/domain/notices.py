"""Failure e-mails: when an integration is told (batching) and what it is told (the digest).

Both functions are pure: the flusher in :mod:`acadio_webhooks.notify` reads the store, calls
:func:`plan_notices`, composes each planned batch with :func:`compose_notice`, and hands the
result to a :class:`~acadio_webhooks.ports.notifier.Notifier`.

Batching rule (one broken endpoint must not flood an inbox): an integration's unsent
notifications go out together, in one notice, once

* the oldest of them is at least ``grace`` old (default 1 minute, so a burst of failures lands
  in one e-mail rather than the first failure alone), and
* its previous notice was sent at least ``window`` ago (default 15 minutes).

So an endpoint failing thousands of deliveries costs its owner one e-mail per window.
"""

from __future__ import annotations

import textwrap
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from acadio_webhooks.domain.messages import Notice, Notification, NotificationKind
from acadio_webhooks.domain.retry import DEFAULT_RETRY_POLICY

__all__ = [
    "DEFAULT_NOTICE_WINDOW",
    "DEFAULT_NOTICE_GRACE",
    "PlannedNotice",
    "plan_notices",
    "compose_notice",
]

DEFAULT_NOTICE_WINDOW = timedelta(minutes=15)
"""An integration gets at most one notice per window."""
DEFAULT_NOTICE_GRACE = timedelta(minutes=1)
"""How long the oldest notification waits, so a burst of failures lands in one notice."""

_MAX_DETAIL_LENGTH = 300
_WIDTH = 76  # plain-text mail reads best under 78 columns

# Most urgent first: the order of kinds in a subject line and of endpoints in the body.
_URGENCY = (
    NotificationKind.ENDPOINT_DISABLED,
    NotificationKind.DELIVERY_FAILED,
    NotificationKind.ENDPOINT_FAILING,
    NotificationKind.ENDPOINT_RECOVERED,
)


@dataclass(frozen=True)
class PlannedNotice:
    """The notifications of one integration that are due to go out together now."""

    integration_id: str
    notifications: tuple[Notification, ...]
    """Oldest first (by ``created_at``, then id)."""

    @property
    def notification_ids(self) -> list[str]:
        """The ids to mark as sent once the notice is accepted."""
        return [n.id for n in self.notifications]


def _chronological(notification: Notification) -> tuple[datetime, str]:
    return (_utc(notification.created_at), notification.id)


def plan_notices(
    unsent: Sequence[Notification],
    *,
    now: datetime,
    window: timedelta = DEFAULT_NOTICE_WINDOW,
    grace: timedelta = DEFAULT_NOTICE_GRACE,
    last_notice_at: Callable[[str], datetime | None],
) -> list[PlannedNotice]:
    """Decide which integrations get a notice at ``now``, and with which notifications.

    ``last_notice_at(integration_id)`` tells when that integration was last sent a notice
    (None: never); it is called once per integration that has unsent notifications. An
    integration is due when its oldest unsent notification is at least ``grace`` old and its
    last notice at least ``window`` ago; all its unsent notifications then go in one notice.
    Integrations that are not due are left out: their notifications wait for a later call.

    The result is ordered by each batch's oldest notification (then integration id), so the
    longest-waiting integration is served first.
    """
    if window < timedelta(0) or grace < timedelta(0):
        raise ValueError("window and grace must not be negative")
    now = _utc(now)
    by_integration: dict[str, list[Notification]] = {}
    for notification in unsent:
        by_integration.setdefault(notification.integration_id, []).append(notification)

    planned: list[PlannedNotice] = []
    for integration_id, notifications in by_integration.items():
        notifications.sort(key=_chronological)
        if now - _utc(notifications[0].created_at) < grace:
            continue
        last = last_notice_at(integration_id)
        if last is not None and now - _utc(last) < window:
            continue
        planned.append(PlannedNotice(integration_id, tuple(notifications)))
    planned.sort(key=lambda p: (*_chronological(p.notifications[0]), p.integration_id))
    return planned


# -- composition -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _EndpointReport:
    subscription_id: str
    endpoint: str
    by_kind: dict[NotificationKind, list[Notification]]

    @property
    def urgency(self) -> int:
        return min(_URGENCY.index(kind) for kind in self.by_kind)

    @property
    def latest_state(self) -> NotificationKind | None:
        """Failing, disabled or recovered: whichever was reported last, if any."""
        changes = [
            n
            for kind, notifications in self.by_kind.items()
            if kind is not NotificationKind.DELIVERY_FAILED
            for n in notifications
        ]
        return max(changes, key=_chronological).kind if changes else None


def compose_notice(
    integration_id: str,
    to: str,
    notifications: Sequence[Notification],
    *,
    product_name: str = "Acadio",
    portal_url: str | None = None,
    max_attempts: int | None = DEFAULT_RETRY_POLICY.max_attempts,
    max_listed_events: int = 10,
    max_endpoints: int = 20,
) -> Notice:
    """Write the plain-text digest e-mail for one integration's batch of notifications.

    The subject counts what happened (``Acadio webhooks: 3 deliveries failed, 1 endpoint
    disabled``); the body groups by endpoint, most urgent first (disabled, failed deliveries,
    failing, recovered), listing topics, up to ``max_listed_events`` event ids per endpoint
    ("and N more"), the last error, and ends with what to do. ``max_attempts`` is the retry
    policy's attempt budget, quoted in the text (None: not quoted). Endpoint query strings
    are hidden (they may carry tokens); ``portal_url`` is linked where the reader must act.

    The output depends only on the arguments, not on their order or on the current time.
    """
    if not notifications:
        raise ValueError("a notice needs at least one notification")
    strangers = {n.integration_id for n in notifications} - {integration_id}
    if strangers:
        raise ValueError(f"notifications of other integrations given: {sorted(strangers)}")
    ordered = tuple(sorted(notifications, key=_chronological))
    reports = _endpoint_reports(ordered)

    lines = [
        "Hello,",
        "",
        f"Webhooks of your {product_name} integration {integration_id} need attention.",
        f"Reported {_when(ordered)} (UTC):",
        "",
    ]
    for report in reports[:max_endpoints]:
        lines += _endpoint_section(report, max_attempts=max_attempts, max_listed=max_listed_events)
    if len(reports) > max_endpoints:
        hidden = len(reports) - max_endpoints
        lines += [f"... and {_plural(hidden, 'more endpoint')} not shown here.", ""]
    lines += _advice(ordered, product_name=product_name, portal_url=portal_url)
    footer = (
        f"You receive this message because this address is set to receive notifications when "
        f"{product_name} webhooks fail for integration {integration_id}. Change or remove it "
        f"under Settings > Manage Integrations > Webhooks."
    )
    lines += ["", "-- ", *_wrap(footer)]
    return Notice(
        to=to,
        subject=f"{product_name} webhooks: {_summary(ordered)}",
        text="\n".join(lines) + "\n",
        integration_id=integration_id,
        notifications=ordered,
    )


def _endpoint_reports(ordered: Sequence[Notification]) -> list[_EndpointReport]:
    reports: dict[str, _EndpointReport] = {}
    for notification in ordered:
        report = reports.setdefault(
            notification.subscription_id,
            _EndpointReport(notification.subscription_id, notification.endpoint, {}),
        )
        report.by_kind.setdefault(notification.kind, []).append(notification)
    # Stable sort: equally urgent endpoints keep the order of their first notification.
    return sorted(reports.values(), key=lambda r: r.urgency)


def _summary(ordered: Sequence[Notification]) -> str:
    deliveries = sum(1 for n in ordered if n.kind is NotificationKind.DELIVERY_FAILED)
    endpoints = {
        kind: len({n.subscription_id for n in ordered if n.kind is kind}) for kind in _URGENCY
    }
    parts = []
    if deliveries:
        parts.append(f"{_plural(deliveries, 'delivery', 'deliveries')} failed")
    for kind, verb in (
        (NotificationKind.ENDPOINT_DISABLED, "disabled"),
        (NotificationKind.ENDPOINT_FAILING, "failing"),
        (NotificationKind.ENDPOINT_RECOVERED, "recovered"),
    ):
        if endpoints[kind]:
            parts.append(f"{_plural(endpoints[kind], 'endpoint')} {verb}")
    return ", ".join(parts)


def _endpoint_section(
    report: _EndpointReport, *, max_attempts: int | None, max_listed: int
) -> list[str]:
    lines = [
        f"Endpoint {_display_endpoint(report.endpoint)} (subscription {report.subscription_id})"
    ]
    kinds = report.by_kind
    if NotificationKind.ENDPOINT_FAILING in kinds:
        failing = kinds[NotificationKind.ENDPOINT_FAILING]
        last = failing[-1]
        when = f"{len(failing)} times, last at" if len(failing) > 1 else "at"
        text = f"Started failing {when} {_time(last.created_at)}{_reason(last)}."
        if report.latest_state is NotificationKind.ENDPOINT_FAILING:
            text += " Deliveries to it are still being retried."
        lines += _bullet(text)
    if NotificationKind.DELIVERY_FAILED in kinds:
        lines += _failed_deliveries(
            kinds[NotificationKind.DELIVERY_FAILED],
            max_attempts=max_attempts,
            max_listed=max_listed,
        )
    if NotificationKind.ENDPOINT_DISABLED in kinds:
        last = kinds[NotificationKind.ENDPOINT_DISABLED][-1]
        lines += _bullet(
            f"Disabled at {_time(last.created_at)}{_reason(last)}. Nothing more is sent to "
            "it; its pending deliveries were cancelled."
        )
    if NotificationKind.ENDPOINT_RECOVERED in kinds:
        last = kinds[NotificationKind.ENDPOINT_RECOVERED][-1]
        lines += _bullet(f"Recovered at {_time(last.created_at)}: it answers with 2xx again.")
    return [*lines, ""]


def _failed_deliveries(
    failed: Sequence[Notification], *, max_attempts: int | None, max_listed: int
) -> list[str]:
    after = f"after {max_attempts} attempts" if max_attempts else "after the last retry"
    topics = Counter(n.topic or "(unknown topic)" for n in failed)
    event_ids = [n.event_id or n.delivery_id or n.id for n in failed]
    listed = ", ".join(event_ids[:max_listed])
    if len(event_ids) > max_listed:
        listed += f" and {len(event_ids) - max_listed} more"
    lines = [
        *_bullet(f"{_plural(len(failed), 'delivery', 'deliveries')} failed for good {after}."),
        *_item("Topics: " + ", ".join(f"{t} ({count})" for t, count in sorted(topics.items()))),
        *_item(f"Events: {listed}"),
    ]
    last_error = next((n.detail for n in reversed(failed) if n.detail), None)
    if last_error:
        lines += _item(f"Last error: {_one_line(last_error)}")
    return lines


def _advice(
    ordered: Sequence[Notification], *, product_name: str, portal_url: str | None
) -> list[str]:
    kinds = {n.kind for n in ordered}
    where = portal_url or f"the {product_name} Admin portal (Settings > Manage Integrations)"
    steps: list[str] = []
    if kinds & {NotificationKind.ENDPOINT_FAILING, NotificationKind.DELIVERY_FAILED}:
        steps.append(
            "Check that each endpoint above is a public https:// URL that answers a POST "
            "with a 2xx status within a few seconds, and that your server accepts the "
            "requests (firewall, certificate, authentication)."
        )
    if NotificationKind.DELIVERY_FAILED in kinds:
        steps.append(
            f"Once the endpoint works, re-send the failed deliveries from {where}: one at a "
            "time or all since a given time."
        )
    if NotificationKind.ENDPOINT_DISABLED in kinds:
        steps.append(f"Fix each disabled endpoint, then re-enable its subscription in {where}.")
    if not steps:
        return ["Nothing to do: the endpoints above are working again."]
    lines = ["What to do:"]
    for number, step in enumerate(steps, 1):
        lines += _wrap(step, initial_indent=f"  {number}. ", subsequent_indent="     ")
    return lines


# -- formatting helpers ------------------------------------------------------------------------


def _utc(moment: datetime) -> datetime:
    # Stores hand back aware UTC datetimes; a naive one is taken to be UTC already.
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _time(moment: datetime) -> str:
    return _utc(moment).strftime("%Y-%m-%d %H:%M:%S")


def _when(ordered: Sequence[Notification]) -> str:
    first, last = _time(ordered[0].created_at), _time(ordered[-1].created_at)
    return f"at {first}" if first == last else f"from {first} to {last}"


def _plural(count: int, singular: str, plural: str | None = None) -> str:
    return f"{count} {singular if count == 1 else (plural or singular + 's')}"


def _one_line(text: str) -> str:
    collapsed = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    if len(collapsed) > _MAX_DETAIL_LENGTH:
        return collapsed[: _MAX_DETAIL_LENGTH - 3] + "..."
    return collapsed


def _wrap(text: str, initial_indent: str = "", subsequent_indent: str = "") -> list[str]:
    # Never split a word: a URL broken over two lines stops being a link.
    return textwrap.wrap(
        text,
        _WIDTH,
        initial_indent=initial_indent,
        subsequent_indent=subsequent_indent,
        break_long_words=False,
        break_on_hyphens=False,
    )


def _bullet(text: str) -> list[str]:
    return _wrap(text, initial_indent="  * ", subsequent_indent="    ")


def _item(text: str) -> list[str]:
    return _wrap(text, initial_indent="    ", subsequent_indent="      ")


def _reason(notification: Notification) -> str:
    return f": {_one_line(notification.detail)}" if notification.detail else ""


def _display_endpoint(url: str) -> str:
    # A query string may carry the receiver's access token; the path identifies the endpoint.
    base, separator, _ = url.partition("?")
    base = base.split("#", 1)[0]
    return f"{base}?..." if separator else base
