"""The example LMS's URLs: the admin (with the webhook pages) and the completions API."""

from django.contrib import admin
from django.urls import path

from courses.views import complete_course

urlpatterns = [
    path("admin/", admin.site.urls),
    path("schools/<slug:school>/completions/", complete_course, name="complete-course"),
]
