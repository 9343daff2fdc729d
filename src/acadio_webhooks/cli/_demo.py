"""``acadio-webhooks demo``: the library's main job, end to end, on this machine only.

A SQLite store, a receiver on 127.0.0.1 that verifies every request, one integration with
two subscriptions (``course/*`` to an endpoint answering 200, ``course/completion/*`` to one
answering 500), a handful of events, a real worker with a fast retry schedule, a live view of
deliveries and retries, the failure e-mail, and a summary. It uses only the core
dependencies, because ``python3 dev.py demo`` installs nothing else.
"""

from __future__ import annotations

import argparse
import secrets
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from acadio_webhooks.cli._common import (
    EXIT_FAILURE,
    EXIT_OK,
    add_command,
    database_url,
    open_cli_store,
    plural,
    stdout_console,
)
from acadio_webhooks.cli._demo_view import (
    ConsoleNotifier,
    Progress,
    quiet_library_logs,
    seconds,
)
from acadio_webhooks.cli._receiver import DemoReceiver
from acadio_webhooks.domain.retry import RetryPolicy
from acadio_webhooks.worker import WorkerSettings

if TYPE_CHECKING:
    from acadio_webhooks.dispatcher import Dispatcher
    from acadio_webhooks.domain.models import Delivery
    from acadio_webhooks.ports.storage import Store

__all__ = ["register", "DEMO_RETRY_POLICY", "DEMO_WORKER_SETTINGS"]

DEMO_RETRY_POLICY = RetryPolicy(initial=0.25, factor=1.6, max_delay=2.0, jitter=0.1)
"""The demo's fast schedule: the same 7 attempts as production, within about 6 seconds."""

DEMO_WORKER_SETTINGS = WorkerSettings(
    poll_interval=0.05,
    notify_interval=0.25,
    notice_window=timedelta(seconds=1),
    # Counted from the first news (the endpoint starts failing, at its 4th failed attempt,
    # about 1.3 s in) and longer than the rest of the fast schedule, so that news and the
    # delivery given up after 7 attempts land in one e-mail, as the 1-minute default does.
    notice_grace=timedelta(seconds=8),
)
"""The demo's worker: polls often and mails failure notices within seconds."""

TENANT = "demo-school"
NOTIFY = "lms-admin@demo-school.example"
_DEADLINE = 90.0  # seconds; the fast schedule and the e-mail's grace need about 10


def _events(student: int) -> list[tuple[str, dict[str, Any], str | None]]:
    """(topic, data, dedup key): a student starts an activity (reported twice: the second is
    dropped, the topic fires at most once a day), finishes it, completes the course (the one
    event both subscriptions match); then a user event nobody subscribed to."""
    activity = {"course_id": 101, "student_id": student, "activity_id": 3}
    return [
        ("course/activity/create", activity, f"{student}:3"),
        ("course/activity/create", activity, f"{student}:3"),
        ("course/activity/update", activity, None),
        (
            "course/completion/create",
            {"course_id": 101, "student_id": student, "score": 0.92},
            None,
        ),
        ("identity/user/create", {"user_id": student, "email": "new.student@example.com"}, None),
    ]


_DESCRIPTION = """\
Run the library's main job on this machine only, in about ten seconds: a SQLite store, a
receiver on 127.0.0.1 that verifies every request (/healthy answers 200, /failing 500), an
integration subscribed to both, a few events, and a real worker with a fast retry schedule.
Shows every attempt, the failure e-mail, and a summary; exits 0 when all went as expected.

examples:
  acadio-webhooks demo
  acadio-webhooks demo --db demo.db     # keep the database to explore it afterwards
"""


def register(commands: Any) -> None:
    """Add the ``demo`` subcommand."""
    summary = "run the main job locally: emit, deliver, verify, retry, e-mail (about 10 s)"
    parser = add_command(commands, "demo", summary, _DESCRIPTION)
    parser.add_argument(
        "--db",
        metavar="PATH",
        help="keep the demo's SQLite database at PATH (default: a temporary directory, "
        "deleted afterwards)",
    )
    parser.set_defaults(handler=run)


class _Demo:
    def __init__(
        self, console: Console, url: str, *, kept_at: str | None, store: Store | None = None
    ) -> None:
        self.console = console
        self.url = url
        self.store: Store | str = store if store is not None else url
        self.kept_at = kept_at
        self.secret = secrets.token_urlsafe(24)
        self.notifier = ConsoleNotifier(console)
        self.progress = Progress()

    def say(self, step: str, text: str) -> None:
        line = Table.grid(padding=(0, 1))
        line.add_column(style="bold cyan", no_wrap=True, width=9)
        line.add_column(ratio=1)
        line.add_row(step, text)
        self.console.print(line)

    def run(self) -> int:
        from acadio_webhooks.dispatcher import Dispatcher
        from acadio_webhooks.domain.core import DeliveryPolicy
        from acadio_webhooks.domain.endpoints import EndpointPolicy

        self.console.rule("[bold]acadio-webhooks demo[/]: the main job, on this machine only")
        with DemoReceiver(self.secret) as receiver, quiet_library_logs(self.console):
            self._announce(receiver)
            dispatcher = Dispatcher(
                self.store,
                # No circuit breaker: its 30 s pauses would stretch the seconds-long schedule
                # the demo announces.
                policy=DeliveryPolicy(retry=DEMO_RETRY_POLICY, breaker=None),
                endpoint_policy=EndpointPolicy(allow_insecure=True),  # the local demo only
                settings=DEMO_WORKER_SETTINGS,
                notifier=self.notifier,
            )
            try:
                integration_id = self._install(dispatcher, receiver)
                self._emit(dispatcher)
                finished = self._deliver(dispatcher, integration_id)
                if not finished:
                    self.console.print(
                        f"[red]deliveries or the e-mail still pending after {_DEADLINE:.0f} s; "
                        "giving up[/]"
                    )
                    return EXIT_FAILURE
                deliveries = self._deliveries(dispatcher, integration_id)
                self._summarise(deliveries)
                return self._check(deliveries, receiver)
            finally:
                dispatcher.close()

    def _announce(self, receiver: DemoReceiver) -> None:
        waits = ", ".join(seconds(wait) for wait in DEMO_RETRY_POLICY.schedule())
        total = sum(DEMO_RETRY_POLICY.schedule())
        self.say("store", f"SQLite through SQLAlchemy: {escape(self.url)}")
        self.say(
            "receiver",
            f"{receiver.url('')} checks every request with acadio_webhooks.verify(); "
            "/healthy answers 200, /failing 500",
        )
        self.say(
            "endpoints",
            "[yellow]EndpointPolicy(allow_insecure=True)[/] accepts http://127.0.0.1 — for "
            "this local demo only; real endpoints must be https:// on public addresses",
        )
        self.say(
            "retries",
            f"fast demo schedule {DEMO_RETRY_POLICY.max_attempts} attempts, waits {waits} "
            f"(±{DEMO_RETRY_POLICY.jitter:.0%}), about {seconds(total)} in all; the default "
            "schedule waits 5 s, 35 s, ... and gives up after about 27 h",
        )
        self.console.print()

    def _install(self, dispatcher: Dispatcher, receiver: DemoReceiver) -> str:
        from acadio_webhooks.domain.topics import TOPICS

        hooks = dispatcher.integrations
        for earlier in hooks.list(TENANT):  # a kept --db from an earlier run
            if earlier.active:
                hooks.deactivate(earlier.id)
                self.say("cleanup", f"deactivated {earlier.id} of an earlier demo run")
        integration = hooks.install(TENANT, secret=self.secret, notification_email=NOTIFY)
        self.say(
            "install",
            f"integration {integration.id} for tenant {TENANT}: a random "
            f"{len(self.secret)}-character secret (not shown); failures e-mailed to {NOTIFY}",
        )
        for pattern, path in (("course/*", "/healthy"), ("course/completion/*", "/failing")):
            subscription = hooks.subscribe(integration.id, pattern, receiver.url(path))
            self.progress.endpoints[subscription.id] = path
            topics = plural(len(TOPICS.matching(pattern)), "topic")
            self.say("subscribe", f"{pattern:<19} -> {path:<8} ({topics})")
        return integration.id

    def _emit(self, dispatcher: Dispatcher) -> None:
        # A new student each run, so a kept --db does not de-duplicate a later run's events.
        student = 1000 + secrets.randbelow(9000)
        for topic, data, dedup_key in _events(student):
            event_id = dispatcher.emit(topic, data, tenant=TENANT, dedup_key=dedup_key)
            if event_id is None:
                outcome = "dropped: a duplicate (fires once a day)"
            else:
                count = len(dispatcher.deliveries(event_id=event_id).items)
                outcome = plural(count, "delivery", "deliveries") if count else "no subscription"
            self.say("emit", f"{topic:<24}  {outcome}")
        self.console.print()

    def _deliver(self, dispatcher: Dispatcher, integration_id: str) -> bool:
        window = DEMO_WORKER_SETTINGS.notice_window.total_seconds()
        grace = DEMO_WORKER_SETTINGS.notice_grace.total_seconds()
        self.say(
            "deliver",
            "a worker thread (Dispatcher.start_worker) signs, sends and retries, and e-mails "
            "failures: at most one e-mail per integration per window, once the oldest news is "
            f"a grace period old (default 15 min and 1 min; here {seconds(window)} and "
            f"{seconds(grace)}). The e-mail is composed by the library and shown here "
            "instead of sent. Live:",
        )
        dispatcher.start_worker()
        deadline = time.monotonic() + _DEADLINE
        with Live(console=self.console, refresh_per_second=8, transient=True) as live:
            while time.monotonic() < deadline:
                deliveries = self._deliveries(dispatcher, integration_id)
                self._report_attempts(dispatcher, deliveries, live.console)
                live.update(self._live_table(deliveries))
                if self._finished(deliveries):
                    self.console.print()
                    return True
                time.sleep(0.1)
        return False

    def _finished(self, deliveries: list[Delivery]) -> bool:
        """Every delivery is final and every failed one has been reported by e-mail."""
        if any(delivery.status.value == "pending" for delivery in deliveries):
            return False
        failed = sum(1 for delivery in deliveries if delivery.status.value == "failed")
        return self.notifier.failed_deliveries_reported() >= failed

    def _deliveries(self, dispatcher: Dispatcher, integration_id: str) -> list[Delivery]:
        page = dispatcher.deliveries(integration_id=integration_id, limit=100)
        return sorted(page.items, key=lambda d: (d.created_at, d.id))

    def _report_attempts(
        self, dispatcher: Dispatcher, deliveries: list[Delivery], console: Console
    ) -> None:
        limit = DEMO_RETRY_POLICY.max_attempts
        for delivery in deliveries:
            seen = self.progress.seen_attempts.get(delivery.id, 0)
            if delivery.attempts <= seen:
                continue
            self.progress.seen_attempts[delivery.id] = delivery.attempts
            path = self.progress.endpoints.get(delivery.subscription_id, "?")
            for attempt in dispatcher.attempts(delivery.id)[seen:]:
                where = f"{delivery.topic:<24} -> {path:<8} attempt {attempt.number}/{limit}:"
                result = escape(attempt.summary)
                if attempt.succeeded:
                    console.print(f"  [green]✓[/] {where} {result}  delivered")
                elif attempt.number < delivery.attempts or delivery.status.value == "pending":
                    console.print(f"  [red]✗[/] {where} {result}  will retry")
                else:
                    console.print(f"  [red]✗[/] {where} {result}  [bold red]failed[/], gave up")

    def _live_table(self, deliveries: list[Delivery]) -> Table:
        now = datetime.now(timezone.utc)
        table = Table(box=box.SIMPLE, title="deliveries", title_justify="left", padding=(0, 1))
        for column in ("topic", "endpoint", "status", "try", "last", "next try"):
            table.add_column(column, no_wrap=True)
        for delivery in deliveries:
            waiting = "-"
            if delivery.status.value == "pending" and delivery.next_attempt_at is not None:
                waiting = "in " + seconds(max((delivery.next_attempt_at - now).total_seconds(), 0))
            table.add_row(
                delivery.topic,
                self.progress.endpoints.get(delivery.subscription_id, "?"),
                delivery.status.value,
                f"{delivery.attempts}/{DEMO_RETRY_POLICY.max_attempts}",
                str(delivery.last_status_code or delivery.last_error or "-"),
                waiting,
            )
        return table

    def _summarise(self, deliveries: list[Delivery]) -> None:
        table = Table(title="summary: one line per delivery", title_justify="left")
        table.add_column("topic", no_wrap=True)
        table.add_column("endpoint", no_wrap=True)
        table.add_column("status", no_wrap=True)
        table.add_column("attempts", no_wrap=True, justify="right")
        table.add_column("last", no_wrap=True)
        for delivery in deliveries:
            colour = "green" if delivery.status.value == "delivered" else "red"
            table.add_row(
                delivery.topic,
                self.progress.endpoints.get(delivery.subscription_id, "?"),
                f"[{colour}]{delivery.status.value}[/]",
                plural(delivery.attempts, "attempt"),
                str(delivery.last_status_code or delivery.last_error or "-"),
            )
        self.console.print(table)

    def _check(self, deliveries: list[Delivery], receiver: DemoReceiver) -> int:
        requests = receiver.requests
        verified = sum(1 for request in requests if request.verified)
        self.say(
            "receiver",
            f"{plural(len(requests), 'request')}, {verified} verified (signature and timestamp)",
        )
        problems = []
        limit = DEMO_RETRY_POLICY.max_attempts
        for delivery in deliveries:
            path = self.progress.endpoints.get(delivery.subscription_id)
            expected = ("delivered", 1) if path == "/healthy" else ("failed", limit)
            if (delivery.status.value, delivery.attempts) != expected:
                problems.append(f"{delivery.topic} -> {path}: {delivery.status.value}")
        if verified != len(requests):
            problems.append(f"{len(requests) - verified} requests failed verification")
        if not self.notifier.notices:
            problems.append("no failure e-mail was sent")
        if problems:
            self.console.print(f"[red]the demo did not go as expected:[/] {'; '.join(problems)}")
            return EXIT_FAILURE
        if self.kept_at:
            self.say(
                "next",
                f"inspect it: acadio-webhooks deliveries --db {escape(self.kept_at)} list",
            )
        return EXIT_OK


def run(args: argparse.Namespace) -> int:
    """Run the demo; exit 0 when every delivery ended as expected."""
    console = stdout_console(wide_when_piped=False)
    if args.db:
        # A kept database is opened as every other command opens it (sealing secrets with the
        # key of $ACADIO_WEBHOOKS_SECRET_KEY, if set), so they can read it afterwards.
        url = database_url(args.db, must_exist=False)
        store = open_cli_store(url, must_exist=False)
        try:
            return _Demo(console, url, kept_at=args.db, store=store).run()
        finally:
            store.close()  # idempotent: the demo's dispatcher closes it too
    with tempfile.TemporaryDirectory(prefix="acadio-webhooks-demo-") as folder:
        url = f"sqlite:///{Path(folder) / 'webhooks.db'}"
        return _Demo(console, url, kept_at=None).run()
