"""Sending the failure e-mails: read queued notifications, batch them, mail them, mark them sent.

The delivery core queues a :class:`~acadio_webhooks.domain.messages.Notification` in the store
when a delivery fails for good and when an endpoint starts failing, is disabled or recovers.
:class:`NotificationFlusher` turns those into at most one e-mail per integration per window
(:func:`~acadio_webhooks.domain.notices.plan_notices`). Call :meth:`NotificationFlusher.flush`
every minute or so, for instance from the delivery worker's loop, in as many threads and
processes as you like: each flush first takes the store's named lease :data:`NOTICE_LEASE`
(:meth:`~acadio_webhooks.ports.storage.leases.Leases.acquire_lease`), so one flusher mails at a time
and the others return at once. The holder renews the lease before each e-mail and stops if it
lost it; a flusher that dies holding it delays the notices by at most the lease duration.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from typing import Protocol

from acadio_webhooks._lease_owner import LeaseOwner
from acadio_webhooks.domain.notices import (
    DEFAULT_NOTICE_GRACE,
    DEFAULT_NOTICE_WINDOW,
    PlannedNotice,
    compose_notice,
    plan_notices,
)
from acadio_webhooks.domain.retry import DEFAULT_RETRY_POLICY
from acadio_webhooks.errors import NotFound, NotificationError, StorageError
from acadio_webhooks.observability import DeliveryMetrics
from acadio_webhooks.ports.clock import Clock, SystemClock
from acadio_webhooks.ports.notifier import Notifier
from acadio_webhooks.ports.storage import Leases, NoticeQueue, Registry

__all__ = ["NOTICE_LEASE", "DEFAULT_NOTICE_LEASE", "NoticeStore", "NotificationFlusher"]


class NoticeStore(NoticeQueue, Leases, Registry, Protocol):
    """The store roles a flusher uses: the queued notices, a lease so that a fleet mails
    each once, and the registry for the integration's contact address."""


_log = logging.getLogger("acadio_webhooks.notify")

NOTICE_LEASE = "acadio_webhooks.notices"
"""The name of the store lease a flusher holds while it reads, mails and marks notices."""

DEFAULT_NOTICE_LEASE = timedelta(minutes=5)
"""How long a flusher's lease lasts without renewal: well above the worst-case time of one
``SmtpNotifier.send`` (each of its ~10 protocol steps may take up to ``timeout``, 10 s)."""


class NotificationFlusher:
    """Mails each integration's queued failure notifications, batched.

    On each :meth:`flush`:

    * the flusher takes the store's lease :data:`NOTICE_LEASE` for ``lease`` as ``owner``;
      while another flusher holds it, the flush returns 0 without reading anything. So any
      number of flushers (threads, processes, hosts) sharing one store mail each notification
      once and never two notices to one integration inside one window;
    * notifications of integrations that are due (see
      :func:`~acadio_webhooks.domain.notices.plan_notices`: oldest at least ``grace`` old,
      previous notice at least ``window`` ago) are composed into one notice per integration
      and handed to the ``notifier``. The lease is renewed before each notice; if it was lost
      (the flusher stalled past it and another one took over), the flush stops there;
    * they are marked sent only after the notifier accepted the notice. A
      :class:`~acadio_webhooks.errors.NotificationError` leaves that integration's
      notifications queued for the next flush and does not stop the others; so does an
      integration whose stored record cannot be read (a WARNING names it);
    * an integration without a notification address, deactivated, or deleted has nothing to
      mail: its notifications are marked sent without mailing (dropped) and an INFO line is
      logged, so they do not pile up;
    * the lease is released at the end, so the next flush may run anywhere.

    Delivery is at least once, in one gap only: if the process dies (or the store fails)
    after the mail server accepted a notice and before it is recorded as sent, the next flush
    sends it again, after the dead flusher's lease ran out.

    ``lease`` must stay well above the notifier's worst-case time for one ``send``: a send
    that outlasts it is logged as a WARNING, since another flusher may have mailed the same
    notice meanwhile. Hosts sharing a store need clocks that agree to well within ``lease``.
    ``owner`` names this flusher in the store (at most 255 characters); every flusher needs
    its own, and the default (:attr:`owner`) is: host, process id and a random part.

    ``max_attempts`` is quoted in the e-mail ("failed after 7 attempts"); pass your retry
    policy's ``max_attempts`` if you changed it. ``batch_limit`` caps how many queued
    notifications one flush reads (oldest first). ``metrics``, when given, counts each
    notice the notifier accepted or refused.
    """

    def __init__(
        self,
        store: NoticeStore,
        notifier: Notifier,
        *,
        clock: Clock | None = None,
        window: timedelta = DEFAULT_NOTICE_WINDOW,
        grace: timedelta = DEFAULT_NOTICE_GRACE,
        product_name: str = "Acadio",
        portal_url: str | None = None,
        max_attempts: int | None = DEFAULT_RETRY_POLICY.max_attempts,
        batch_limit: int = 1000,
        owner: str | None = None,
        lease: timedelta = DEFAULT_NOTICE_LEASE,
        logger: logging.Logger | None = None,
        metrics: DeliveryMetrics | None = None,
    ) -> None:
        if window < timedelta(0) or grace < timedelta(0):
            raise ValueError("window and grace must not be negative")
        if batch_limit < 1:
            raise ValueError("batch_limit must be at least 1")
        if lease <= timedelta(0):
            raise ValueError(f"lease must be positive, not {lease}")
        self.store = store
        self.notifier = notifier
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.window = window
        self.grace = grace
        self.product_name = product_name
        self.portal_url = portal_url
        self.max_attempts = max_attempts
        self.batch_limit = batch_limit
        self.lease = lease
        self._owner = LeaseOwner(owner)
        self._log = logger if logger is not None else _log
        self.metrics = metrics
        # The store lease keeps other flushers out, but not this one's other threads (same
        # owner, so the lease would let them in): a worker's notice loop and drain() may meet.
        self._flushing = threading.Lock()

    @property
    def owner(self) -> str:
        """This flusher's name as the lease holder: the ``owner`` given, else host, process
        id and a random part, the process id read now (so copies forked from one flusher
        are different owners)."""
        return self._owner.name

    def flush(self) -> int:
        """Send every notice that is due now; return how many the notifier accepted.

        Returns 0 without reading when another flusher (or another thread of this one) is
        flushing. Store errors (:class:`~acadio_webhooks.errors.StorageError`) propagate,
        except one integration's record that cannot be read (that notice waits, logged);
        notices already accepted by then have been marked sent, and the lease runs out by
        itself if it could not be released.
        """
        if not self._flushing.acquire(blocking=False):
            return 0
        try:
            if not self._renew():
                self._log.debug("another flusher holds the %s lease; not flushing", NOTICE_LEASE)
                return 0
            try:
                return self._flush_holding_the_lease()
            finally:
                self._release()
        finally:
            self._flushing.release()

    def _flush_holding_the_lease(self) -> int:
        unsent = self.store.unsent_notifications(self.batch_limit)
        if not unsent:
            return 0
        planned = plan_notices(
            unsent,
            now=self.clock.now(),
            window=self.window,
            grace=self.grace,
            last_notice_at=self.store.last_notice_at,
        )
        sent = 0
        for batch in planned:
            renewed_at = self.clock.now()
            if not self._renew(renewed_at):
                self._log.warning(
                    "lost the %s lease (this flusher went longer than %s without renewing "
                    "it); leaving the remaining notices to the flusher that took it over",
                    NOTICE_LEASE,
                    self.lease,
                )
                break
            try:
                address = self._address(batch)
            except StorageError as exc:
                # One unreadable integration record (a row that no longer validates, secrets
                # sealed with another key) must not hold back every other integration's notice.
                self._keep_queued(batch, exc)
                continue
            if address is None:
                self.store.mark_notifications_sent(batch.notification_ids, now=renewed_at)
                continue
            if self._send(batch, address):
                self._check_lease_outlived(batch, renewed_at)
                # Stamped after the server accepted it, so the next notice of this
                # integration is a full window after this one, however long the send took.
                self.store.mark_notifications_sent(batch.notification_ids, now=self.clock.now())
                sent += 1
        return sent

    def _send(self, batch: PlannedNotice, address: str) -> bool:
        """Compose and hand over one notice; False (logged) when the notifier refused it."""
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
            sent = False
        else:
            sent = True
        if self.metrics is not None:
            self.metrics.record_notice(sent=sent)
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

    def _renew(self, now: datetime | None = None) -> bool:
        """Take or renew the flusher lease until ``now + lease``; whether this flusher holds
        it."""
        return self.store.acquire_lease(
            NOTICE_LEASE, self.owner, now=now or self.clock.now(), ttl=self.lease
        )

    def _check_lease_outlived(self, batch: PlannedNotice, renewed_at: datetime) -> None:
        """Say so when one send took longer than the lease: another flusher may have taken
        the lease meanwhile and mailed the same notice again."""
        took = self.clock.now() - renewed_at
        if took >= self.lease:
            self._log.warning(
                "sending the failure notice for integration %s took %s, longer than the %s "
                "lease of %s: another flusher may have mailed it too; raise the lease above "
                "the notifier's worst-case send time",
                batch.integration_id,
                took,
                NOTICE_LEASE,
                self.lease,
                extra={"integration_id": batch.integration_id},
            )

    def _release(self) -> None:
        try:
            self.store.release_lease(NOTICE_LEASE, self.owner)
        except StorageError as exc:
            # Not worth failing the flush over: the lease runs out by itself.
            self._log.warning("could not release the %s lease: %s", NOTICE_LEASE, exc)

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
            f"owner={self.owner!r}, window={self.window}, grace={self.grace}, "
            f"lease={self.lease})"
        )
