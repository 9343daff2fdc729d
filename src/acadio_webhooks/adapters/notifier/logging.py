"""A notifier that writes notices to a logger: for hosts that route alerts through their logs."""

from __future__ import annotations

import logging

from acadio_webhooks.ports.notifier import Notice

__all__ = ["LoggingNotifier"]

_DEFAULT_LOGGER = "acadio_webhooks.notices"


class LoggingNotifier:
    """Logs each notice (subject and text) at ``level`` instead of e-mailing it.

    The record carries structured fields in ``extra`` for log pipelines:
    ``integration_id``, ``notice_to``, ``notice_subject``, ``notification_count``,
    ``notification_kinds`` (sorted distinct kinds) and ``notification_ids``. It never fails,
    so notifications are marked sent once logged.
    """

    def __init__(self, logger: logging.Logger | None = None, level: int = logging.WARNING) -> None:
        self.logger = logger if logger is not None else logging.getLogger(_DEFAULT_LOGGER)
        self.level = level

    def send(self, notice: Notice) -> None:
        """Write the notice to the logger."""
        self.logger.log(
            self.level,
            "webhook failure notice for integration %s to %s: %s\n%s",
            notice.integration_id,
            notice.to,
            notice.subject,
            notice.text,
            extra={
                "integration_id": notice.integration_id,
                "notice_to": notice.to,
                "notice_subject": notice.subject,
                "notification_count": len(notice.notifications),
                "notification_kinds": sorted({n.kind.value for n in notice.notifications}),
                "notification_ids": [n.id for n in notice.notifications],
            },
        )

    def __repr__(self) -> str:
        level = logging.getLevelName(self.level)
        return f"LoggingNotifier(logger={self.logger.name!r}, level={level})"
