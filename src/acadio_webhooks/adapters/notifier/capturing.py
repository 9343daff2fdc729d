"""A notifier for tests: keeps every notice it accepts, and can play a mail server that is down."""

from __future__ import annotations

import threading

from acadio_webhooks.errors import NotificationError
from acadio_webhooks.ports.notifier import Notice

__all__ = ["CapturingNotifier"]


class CapturingNotifier:
    """Records accepted notices in :attr:`notices`, in the order they were sent.

    ``fail_times`` makes the first that many calls to :meth:`send` raise
    :class:`~acadio_webhooks.errors.NotificationError`, as a mail server that is down would, so
    a test can check that nothing is lost and the notice goes out at a later flush::

        notifier = CapturingNotifier(fail_times=1)
        flusher.flush()            # the notice is refused and stays queued
        flusher.flush()            # now it is accepted
        assert len(notifier.notices) == 1

    Safe to share between threads.
    """

    def __init__(self, *, fail_times: int = 0) -> None:
        if fail_times < 0:
            raise ValueError("fail_times must not be negative")
        self.notices: list[Notice] = []
        self.failures_left = fail_times
        """How many more calls to :meth:`send` will raise; tests may set it at any time."""
        self.refused: list[Notice] = []
        """Notices that :meth:`send` refused while simulating a down server."""
        self._lock = threading.Lock()

    def send(self, notice: Notice) -> None:
        """Record the notice, or raise ``NotificationError`` while failures are left."""
        with self._lock:
            if self.failures_left > 0:
                self.failures_left -= 1
                self.refused.append(notice)
                raise NotificationError(
                    f"CapturingNotifier refused the notice for integration "
                    f"{notice.integration_id} (simulated mail server outage)"
                )
            self.notices.append(notice)

    def clear(self) -> None:
        """Forget the recorded and refused notices."""
        with self._lock:
            self.notices.clear()
            self.refused.clear()

    def __repr__(self) -> str:
        return f"CapturingNotifier(notices={len(self.notices)}, failures_left={self.failures_left})"
