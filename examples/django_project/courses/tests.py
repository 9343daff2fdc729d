"""How a project tests its webhooks: ``python manage.py test courses``.

``TransactionTestCase``, not ``TestCase``: the store reads on connections of its own (as a
worker does), which see only what has been committed — ``TestCase`` never commits. Each test
installs an integration for a school of its own and reads that school's deliveries.
"""

import json
import uuid

from django.contrib.auth.models import User
from django.db import transaction
from django.test import TransactionTestCase
from django.urls import reverse

from acadio_webhooks import Delivery
from acadio_webhooks.contrib.django import webhooks
from courses.models import Completion


class CompletionWebhookTests(TransactionTestCase):
    def setUp(self) -> None:
        self.school = f"school-{uuid.uuid4().hex[:8]}"
        hooks = webhooks().integrations
        integration = hooks.install(self.school, secret="a-test-secret-of-16+-chars")
        hooks.subscribe(integration.id, "course/completion/*", "http://127.0.0.1:9/hooks")

    def deliveries(self) -> list[Delivery]:
        return list(webhooks().deliveries(tenant=self.school).items)

    def payload(self, delivery: Delivery) -> dict[str, object]:
        data: dict[str, object] = json.loads(webhooks().event(delivery.event_id).payload)["data"]
        return data

    def complete(self, student: str, course: str) -> int:
        url = reverse("complete-course", args=[self.school])
        body = json.dumps({"student": student, "course": course})
        return self.client.post(url, body, content_type="application/json").status_code

    def test_a_completion_queues_its_webhook(self) -> None:
        self.assertEqual(self.complete("ada", "algebra-1"), 201)
        [delivery] = self.deliveries()
        self.assertEqual(delivery.topic, "course/completion/create")
        completion = Completion.objects.get(school=self.school)
        self.assertEqual(self.payload(delivery)["completion_id"], completion.pk)
        self.assertEqual(self.payload(delivery)["course"], "algebra-1")

    def test_a_repeated_completion_emits_nothing_more(self) -> None:
        self.assertEqual(self.complete("ada", "algebra-1"), 201)
        self.assertEqual(self.complete("ada", "algebra-1"), 200)
        self.assertEqual(len(self.deliveries()), 1)

    def test_a_bad_request_stores_nothing(self) -> None:
        url = reverse("complete-course", args=[self.school])
        answer = self.client.post(url, "{}", content_type="application/json")
        self.assertEqual(answer.status_code, 400)
        self.assertEqual(self.deliveries(), [])

    def test_a_rolled_back_completion_sends_nothing(self) -> None:
        with self.assertRaises(RuntimeError), transaction.atomic():
            Completion.objects.create(school=self.school, student="grace", course="logic")
            raise RuntimeError("something after the save failed")
        self.assertFalse(Completion.objects.filter(school=self.school).exists())
        self.assertEqual(self.deliveries(), [])

    def test_approving_in_the_admin_emits_an_update(self) -> None:
        self.complete("ada", "algebra-1")
        completion = Completion.objects.get(school=self.school)
        admin = User.objects.create_superuser("admin", "admin@example.com", "a-password-1")
        self.client.force_login(admin)
        change = reverse("admin:courses_completion_change", args=[completion.pk])
        form = {
            "school": completion.school,
            "student": completion.student,
            "course": completion.course,
            "approved": "on",
        }
        self.assertEqual(self.client.post(change, form).status_code, 302)
        newest = self.deliveries()[0]
        self.assertEqual(newest.topic, "course/completion/update")
        self.assertIs(self.payload(newest)["approved"], True)
