"""What ``acadio-webhooks demo`` shows on the console: failure e-mails as panels, the live
view's memory of what it reported, and its small formatters."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rich import box
from rich.console import Console, Group
from rich.logging import RichHandler
from rich.panel import Panel
from rich.text import Text

from acadio_webhooks.domain.messages import NotificationKind

if TYPE_CHECKING:
    from acadio_webhooks.ports.notifier import Notice

__all__ = ["ConsoleNotifier", "Progress", "seconds", "quiet_library_logs"]


class ConsoleNotifier:
    """Shows each failure notice on the console instead of mailing it (demo only)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._lock = threading.Lock()
        self._notices: list[Notice] = []

    @property
    def notices(self) -> list[Notice]:
        with self._lock:
            return list(self._notices)

    def failed_deliveries_reported(self) -> int:
        """How many given-up deliveries the notices so far reported."""
        return sum(
            1
            for notice in self.notices
            for notification in notice.notifications
            if notification.kind is NotificationKind.DELIVERY_FAILED
        )

    def send(self, notice: Notice) -> None:
        # Called from the worker's thread; rich prints it above the live table.
        with self._lock:
            self._notices.append(notice)
        heading = Text.assemble(("To: ", "bold"), notice.to, "\n", ("Subject: ", "bold"))
        heading.append(notice.subject)
        self.console.print(
            Panel(
                Group(heading, Text(""), Text(notice.text)),
                title="e-mail",
                title_align="left",
                box=box.ROUNDED,
                expand=False,
            )
        )


@dataclass
class Progress:
    """What the live view has already reported, per delivery."""

    seen_attempts: dict[str, int] = field(default_factory=dict)
    endpoints: dict[str, str] = field(default_factory=dict)


def seconds(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".") + " s"


@contextmanager
def quiet_library_logs(console: Console) -> Iterator[None]:
    # The live view reports every attempt; only errors should interrupt it.
    library = logging.getLogger("acadio_webhooks")
    handler = RichHandler(console=console, level=logging.ERROR, show_path=False)
    library.addHandler(handler)
    try:
        yield
    finally:
        library.removeHandler(handler)
