"""Each receiver module imports its own framework only: a Flask receiver never pays for
Django, Starlette or FastAPI, and ``acadio_webhooks.receivers`` itself imports none."""

from __future__ import annotations

import subprocess
import sys

import pytest

FRAMEWORKS = ("django", "flask", "werkzeug", "starlette", "fastapi")

# module -> the frameworks it may load
ALLOWED = {
    "acadio_webhooks.receivers": set(),
    "acadio_webhooks.receivers.django": {"django"},
    "acadio_webhooks.receivers.flask": {"flask", "werkzeug"},
    "acadio_webhooks.receivers.starlette": {"starlette"},
    "acadio_webhooks.receivers.fastapi": {"fastapi", "starlette"},
}


@pytest.mark.parametrize("module", sorted(ALLOWED))
def test_a_receiver_module_imports_no_other_framework(module: str) -> None:
    code = (
        "import sys\n"
        f"import {module}\n"
        "loaded = {name.split('.')[0] for name in sys.modules}\n"
        f"print(' '.join(sorted(loaded & {set(FRAMEWORKS)!r})))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )

    loaded = set(completed.stdout.split())
    assert loaded == ALLOWED[module]
