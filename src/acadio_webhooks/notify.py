"""Sending the failure e-mails: read queued notifications, batch them, mail them, mark them sent.

The delivery core queues a :class:`~acadio_webhooks.domain.messages.Notification` in the store
when a delivery fails for good and when an endpoint starts failing, is disabled or recovers.
:class:`NotificationFlusher` turns those into at most one e-mail per integration per window
(:func:`~acadio_webhooks.domain.notices.plan_notices`). Call :meth:`NotificationFlusher.flush`
every minute or so (for instance from the delivery worker's loop), from **one** process at a
time: two concurrent flushes may both mail the same batch.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from acadio_webhooks.domain.notices import (
    DEFAULT_NOTICE_GRACE,
    DEFAULT_NOTICE_WINDOW,
    PlannedNotice,
    compose_notice,
    plan_notices,
)
from acadio_webhooks.domain.retry import DEFAULT_RETRY_POLICY
from acadio_webhooks.errors import NotFound, NotificationError, StorageError
from acadio_webhooks.ports.clock import Clock, SystemClock
from acadio_webhooks.ports.notifier import Notifier
from acadio_webhooks.ports.storage import Store

__all__ = ["NotificationFlusher"]

_log = logging.getLogger("acadio_webhooks.notify")


class NotificationFlusher:
    """Mails each integration's queued failure notifications, batched.

    On each :meth:`flush`:

    * notifications of integrations that are due (see
      :func:`~acadio_webhooks.domain.notices.plan_notices`: oldest at least ``grace`` old,
      previous notice at least ``window`` ago) are composed into one notice per integration
      and handed to the ``notifier``;
    * they are marked sent only after the notifier accepted the notice. A
      :class:`~acadio_webhooks.errors.NotificationError` leaves that integration's
      notifications queued for the next flush and does not stop the others; so does an
      integration whose stored record cannot be read (a WARNING names it);
    * an integration without a notification address, deactivated, or deleted has nothing to
      mail: its notifications are marked sent without mailing (dropped) and an INFO line is
      logged, so they do not pile up.

    Delivery is at least once: if the store fails to record a notice as sent after the mail
    server accepted it, the next flush sends it again.

    ``max_attempts`` is quoted in the e-mail ("failed after 7 attempts"); pass your retry
    policy's ``max_attempts`` if you changed it. ``batch_limit`` caps how many queued
    notifications one flush reads (oldest first).
    """

    def __init__(
        self,
        store: Store,
        notifier: Notifier,
        *,
        clock: Clock | None = None,
        window: timedelta = DEFAULT_NOTICE_WINDOW,
        grace: timedelta = DEFAULT_NOTICE_GRACE,
        product_name: str = "Acadio",
        portal_url: str | None = None,
        max_attempts: int | None = DEFAULT_RETRY_POLICY.max_attempts,
        batch_limit: int = 1000,
        logger: logging.Logger | None = None,
    ) -> None:
        if window < timedelta(0) or grace < timedelta(0):
            raise ValueError("window and grace must not be negative")
        if batch_limit < 1:
            raise ValueError("batch_limit must be at least 1")
        self.store = store
        self.notifier = notifier
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.window = window
        self.grace = grace
        self.product_name = product_name
        self.portal_url = portal_url
        self.max_attempts = max_attempts
        self.batch_limit = batch_limit
        self._log = logger if logger is not None else _log

    def flush(self) -> int:
        """Send every notice that is due now; return how many the notifier accepted.

        Store errors (:class:`~acadio_webhooks.errors.StorageError`) propagate, except one
        integration's record that cannot be read (that notice waits, logged); notices
        already accepted by then have been marked sent.
        """
        now = self.clock.now()
        unsent = self.store.unsent_notifications(self.batch_limit)
        if not unsent:
            return 0
        planned = plan_notices(
            unsent,
            now=now,
            window=self.window,
            grace=self.grace,
            last_notice_at=self.store.last_notice_at,
        )
        sent = 0
        for batch in planned:
            try:
                address = self._address(batch)
            except StorageError as exc:
                # One unreadable integration record (a row that no longer validates, secrets
                # sealed with another key) must not hold back every other integration's notice.
                self._keep_queued(batch, exc)
                continue
            if address is None:
                self.store.mark_notifications_sent(batch.notification_ids, now=now)
                continue
            notice = compose_notice(
                batch.integration_id,
                address,
                batch.notifications,
                product_name=self.product_name,
                portal_url=self.portal_url,
                max_attempts=self.max_attempts,
            )
            try:
                self.notifier.send(notice)
            except NotificationError as exc:
                self._keep_queued(batch, exc)
                continue
            self.store.mark_notifications_sent(batch.notification_ids, now=now)
            sent += 1
        return sent

    def _keep_queued(self, batch: PlannedNotice, reason: Exception) -> None:
        self._log.warning(
            "failure notice for integration %s (%d notifications) not sent, "
            "retrying at the next flush: %s",
            batch.integration_id,
            len(batch.notifications),
            reason,
            extra={"integration_id": batch.integration_id},
        )

    def _address(self, batch: PlannedNotice) -> str | None:
        """The integration's notification address, or None (logged) when there is nothing to
        mail to."""
        try:
            integration = self.store.get_integration(batch.integration_id)
        except NotFound:
            reason = "the integration no longer exists"
        else:
            if not integration.active:
                reason = "the integration is deactivated"
            elif not integration.notification_email:
                reason = "the integration has no notification e-mail address"
            else:
                return integration.notification_email
        self._log.info(
            "dropped %d failure notifications of integration %s: %s",
            len(batch.notifications),
            batch.integration_id,
            reason,
            extra={"integration_id": batch.integration_id},
        )
        return None

    def __repr__(self) -> str:
        return (
            f"NotificationFlusher(store={self.store!r}, notifier={self.notifier!r}, "
            f"window={self.window}, grace={self.grace})"
        )
