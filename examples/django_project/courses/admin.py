"""Completions in the admin: changing one (e.g. approving it) emits
``course/completion/update``; the webhook pages come from the app itself."""

from django.contrib import admin

from courses.models import Completion


@admin.register(Completion)
class CompletionAdmin(admin.ModelAdmin):
    list_display = ["school", "student", "course", "approved", "completed_at"]
    list_filter = ["school", "approved"]
