"""The URLconf of the Django receiver tests: each test installs its own view here."""

from __future__ import annotations

from typing import Any

urlpatterns: list[Any] = []
