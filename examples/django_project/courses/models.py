"""The LMS's own record that sends webhooks: a student completed a course at a school."""

from django.db import models


class Completion(models.Model):
    """One student's completion of one course; ``school`` is the webhook tenant."""

    school = models.SlugField(max_length=100)
    student = models.CharField(max_length=200)
    course = models.CharField(max_length=200)
    approved = models.BooleanField(default=False)
    completed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["school", "student", "course"], name="one_completion_per_course"
            )
        ]

    def __str__(self) -> str:
        return f"{self.student} completed {self.course} ({self.school})"
