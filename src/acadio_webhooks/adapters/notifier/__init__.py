"""Notifier adapters: SMTP for production, logging for hosts without mail, capturing for tests."""

from __future__ import annotations

from acadio_webhooks.adapters.notifier.capturing import CapturingNotifier
from acadio_webhooks.adapters.notifier.logging import LoggingNotifier
from acadio_webhooks.adapters.notifier.smtp import SmtpNotifier

__all__ = ["SmtpNotifier", "LoggingNotifier", "CapturingNotifier"]
