"""Django's own tests of the app inside a project made by ``django-admin startproject``.

Copied into that project as ``test_webhooks.py`` and run there by ``manage.py test``
(tests/django_app/test_django_app.py), on the project's test database: SQLite, PostgreSQL or
MariaDB. Not collected by pytest (its name does not start with ``test_``).
"""

from __future__ import annotations

import io
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import transaction
from django.test import TransactionTestCase, override_settings
from django.urls import reverse

from acadio_webhooks import DeliveryQuery, DeliveryStatus
from acadio_webhooks.contrib.django import emit, emit_on_save, webhooks
from acadio_webhooks.contrib.django._conf import load_settings
from acadio_webhooks.contrib.django.models import Delivery
from acadio_webhooks.errors import AcadioWebhooksError

SECRET = "a-secret-of-16+-chars-django"
TOPIC = "course/completion/create"


class _Webhooks(TransactionTestCase):
    """Real commits: the store's own connection (a worker's view) sees only committed rows."""

    def setUp(self) -> None:
        self.dispatcher = webhooks()
        self.integration = self.dispatcher.integrations.install("school-1", secret=SECRET)
        self.subscription = self.dispatcher.integrations.subscribe(
            self.integration.id, "course/*", "http://127.0.0.1:9/hooks"
        )

    def tearDown(self) -> None:
        with transaction.atomic():
            from django.db import connection

            with connection.cursor() as cursor:
                for table in (
                    "acadio_attempts",
                    "acadio_notifications",
                    "acadio_deliveries",
                    "acadio_events",
                    "acadio_subscriptions",
                    "acadio_integrations",
                ):
                    cursor.execute(f"DELETE FROM {table}")

    def deliveries(self) -> list[Any]:
        return list(self.dispatcher.store.list_deliveries(DeliveryQuery(limit=100)).items)


class OutboxTests(_Webhooks):
    def test_an_emit_commits_with_the_host_rows(self) -> None:
        with transaction.atomic():
            User.objects.create(username="ada")
            event_id = emit(TOPIC, {"user": "ada"}, tenant="school-1")
        [delivery] = self.deliveries()
        self.assertEqual(delivery.event_id, event_id)
        self.assertEqual(delivery.status, DeliveryStatus.PENDING)
        self.assertEqual(delivery.subscription_id, self.subscription.id)
        self.assertEqual(self.dispatcher.store.get_event(event_id).topic, TOPIC)

    def test_a_rollback_stores_neither_the_host_rows_nor_the_event(self) -> None:
        with self.assertRaises(RuntimeError), transaction.atomic():
            User.objects.create(username="grace")
            emit(TOPIC, {"user": "grace"}, tenant="school-1")
            raise RuntimeError("the request failed after emitting")
        self.assertEqual(self.deliveries(), [])
        self.assertFalse(User.objects.filter(username="grace").exists())

    def test_nothing_is_visible_to_workers_before_the_host_commits(self) -> None:
        with transaction.atomic():
            emit(TOPIC, {"n": 1}, tenant="school-1")
            self.assertEqual(self.deliveries(), [])  # the store's own connection
        self.assertEqual(len(self.deliveries()), 1)

    def test_an_emit_outside_a_transaction_commits_on_its_own(self) -> None:
        emit(TOPIC, {"n": 1}, tenant="school-1")
        self.assertEqual(len(self.deliveries()), 1)

    def test_a_refused_emit_leaves_the_host_transaction_usable(self) -> None:
        with transaction.atomic():
            User.objects.create(username="alan")
            with self.assertRaises(AcadioWebhooksError):
                emit("course/no-such-thing/create", {"n": 1}, tenant="school-1")
            User.objects.create(username="alan2")
        self.assertEqual(User.objects.filter(username__startswith="alan").count(), 2)
        self.assertEqual(self.deliveries(), [])

    def test_a_closed_webhooks_is_opened_again_by_the_next_call(self) -> None:
        with webhooks() as closing:
            closing.deliveries()
        emit(TOPIC, {"n": 1}, tenant="school-1")
        self.assertEqual(len(webhooks().deliveries().items), 1)

    @override_settings(ACADIO_WEBHOOKS={"MAX_PAYLOAD_BYTES": 1024})
    def test_overridden_settings_take_effect(self) -> None:
        with self.assertRaises(AcadioWebhooksError):
            emit(TOPIC, {"text": "x" * 2048}, tenant="school-1")
        self.assertEqual(self.deliveries(), [])

    def test_emit_on_save_joins_the_save_transaction(self) -> None:
        receiver = emit_on_save(
            User,
            created="course/completion/update",
            data=lambda user: {"username": user.username},
            tenant=lambda user: "school-1",
        )
        try:
            with self.assertRaises(RuntimeError), transaction.atomic():
                User.objects.create(username="rolled-back")
                raise RuntimeError("undo")
            self.assertEqual(self.deliveries(), [])
            with transaction.atomic():
                User.objects.create(username="kept")
            [delivery] = self.deliveries()
            self.assertEqual(delivery.topic, "course/completion/update")
            event = self.dispatcher.store.get_event(delivery.event_id)
            self.assertIn(b'"username":"kept"', event.payload.replace(b" ", b""))
        finally:
            from django.db.models.signals import post_save

            post_save.disconnect(receiver, sender=User)


class AdminTests(_Webhooks):
    def setUp(self) -> None:
        super().setUp()
        admin = User.objects.create_superuser("root", "root@example.com", "pw-for-tests")
        self.client.force_login(admin)
        with transaction.atomic():
            self.event_id = emit(TOPIC, {"n": 1}, tenant="school-1")

    def test_every_page_renders_and_no_secret_shows(self) -> None:
        [delivery] = self.deliveries()
        pages = [
            reverse("admin:acadio_webhooks_integration_changelist"),
            reverse("admin:acadio_webhooks_integration_change", args=[self.integration.id]),
            reverse("admin:acadio_webhooks_subscription_changelist"),
            reverse("admin:acadio_webhooks_subscription_change", args=[self.subscription.id]),
            reverse("admin:acadio_webhooks_delivery_changelist"),
            reverse("admin:acadio_webhooks_delivery_change", args=[delivery.id]),
            reverse("admin:acadio_webhooks_attempt_changelist"),
        ]
        for page in pages:
            answer = self.client.get(page)
            self.assertEqual(answer.status_code, 200, page)
            self.assertNotIn(SECRET, answer.content.decode(), page)
        listing = self.client.get(reverse("admin:acadio_webhooks_delivery_changelist"))
        self.assertContains(listing, delivery.id)

    def test_deactivating_a_subscription_cancels_its_pending_deliveries(self) -> None:
        answer = self.client.post(
            reverse("admin:acadio_webhooks_subscription_changelist"),
            {"action": "deactivate", "_selected_action": [self.subscription.id]},
            follow=True,
        )
        self.assertContains(answer, "1 subscription deactivated")
        stored = self.dispatcher.store.get_subscription(self.subscription.id)
        self.assertFalse(stored.active)
        [delivery] = self.deliveries()
        self.assertEqual(delivery.status, DeliveryStatus.CANCELLED)

    def test_resend_queues_a_new_delivery_and_a_refusal_is_shown(self) -> None:
        [first] = self.deliveries()
        changelist = reverse("admin:acadio_webhooks_delivery_changelist")
        answer = self.client.post(
            changelist, {"action": "resend", "_selected_action": [first.id]}, follow=True
        )
        self.assertContains(answer, "1 delivery resent")
        again = [d for d in self.deliveries() if d.id != first.id]
        self.assertEqual(
            [(d.event_id, d.status) for d in again], [(first.event_id, DeliveryStatus.PENDING)]
        )
        self.dispatcher.integrations.unsubscribe(self.subscription.id)
        answer = self.client.post(
            changelist, {"action": "resend", "_selected_action": [first.id]}, follow=True
        )
        shown = [str(m) for m in answer.context["messages"]]
        self.assertEqual(len(shown), 1, shown)
        self.assertIn("subscription", shown[0])
        self.assertNotIn("resent", shown[0])
        self.assertEqual(Delivery.objects.filter(event_id=first.event_id).count(), 2)

    def test_a_user_without_the_change_permission_gets_no_actions(self) -> None:
        viewer = User.objects.create_user("viewer", password="pw-for-tests", is_staff=True)
        from django.contrib.auth.models import Permission

        viewer.user_permissions.add(Permission.objects.get(codename="view_delivery"))
        self.client.force_login(viewer)
        answer = self.client.get(reverse("admin:acadio_webhooks_delivery_changelist"))
        self.assertEqual(answer.status_code, 200)
        self.assertNotContains(answer, "Resend")


class SettingsAndCommandTests(_Webhooks):
    def test_an_unknown_setting_is_named(self) -> None:
        with override_settings(ACADIO_WEBHOOKS={"DATABSE": "default"}):
            with self.assertRaisesRegex(ImproperlyConfigured, "unknown key.*DATABSE"):
                load_settings()
        with override_settings(ACADIO_WEBHOOKS={"DATABASE": "replica"}):
            with self.assertRaisesRegex(ImproperlyConfigured, "'replica'.*not in DATABASES"):
                load_settings()

    def test_the_command_line_runs_on_the_project_database(self) -> None:
        out = io.StringIO()
        import contextlib

        with contextlib.redirect_stdout(out):
            call_command("acadio_webhooks", "integrations", "list")
        self.assertIn("school-1", out.getvalue())
