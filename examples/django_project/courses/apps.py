"""The courses app: its completions emit webhooks, one line in ``ready()``."""

from django.apps import AppConfig


class CoursesConfig(AppConfig):
    name = "courses"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from acadio_webhooks.contrib.django import emit_on_save
        from courses.models import Completion

        # Every save of a Completion emits in the saving transaction: a true outbox.
        emit_on_save(
            Completion,
            created="course/completion/create",
            updated="course/completion/update",
            data=lambda completion: {
                "completion_id": completion.pk,
                "student": completion.student,
                "course": completion.course,
                "approved": completion.approved,
                "completed_at": completion.completed_at.isoformat(),
            },
            tenant=lambda completion: completion.school,
        )
