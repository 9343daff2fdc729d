"""The completions API: ``POST /schools/<school>/completions/`` with
``{"student": ..., "course": ...}``.

``ATOMIC_REQUESTS`` runs the view in one transaction, so the completion and its
``course/completion/create`` event commit together — or, when the view fails after saving,
neither does. A repeated completion answers 200 and emits nothing.
"""

import json

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from courses.models import Completion


# An API for other services, not a browser form: no CSRF token. A real LMS authenticates
# the caller here (a token, mTLS); the example leaves that out.
@csrf_exempt
@require_POST
def complete_course(request: HttpRequest, school: str) -> JsonResponse:
    """Record that a student completed a course at ``school``."""
    try:
        body = json.loads(request.body)
        student, course = str(body["student"]), str(body["course"])
    except (ValueError, TypeError, KeyError):
        return JsonResponse(
            {"error": 'expected a JSON object with "student" and "course"'}, status=400
        )
    completion, created = Completion.objects.get_or_create(
        school=school, student=student, course=course
    )
    return JsonResponse({"completion_id": completion.pk}, status=201 if created else 200)
