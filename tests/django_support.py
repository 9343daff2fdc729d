"""Running a Django project's ``manage.py`` as its users do: in a process of its own (Django's
settings are per process), with this run's environment minus what would point it elsewhere."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

__all__ = ["manage", "project_environment"]


def project_environment(**extra: str) -> dict[str, str]:
    """This process's environment without the settings module, webhooks database or example
    database variables it may carry, plus ``extra``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("LMS_DB")}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.pop("ACADIO_WEBHOOKS_DB", None)
    return {**env, **extra}


def manage(
    project: Path, *arguments: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``python manage.py ...`` in ``project``; fails the test with its output."""
    done = subprocess.run(
        [sys.executable, "manage.py", *arguments],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env if env is not None else project_environment(),
        check=False,
    )
    assert done.returncode == 0, f"manage.py {' '.join(arguments)}:\n{done.stdout}\n{done.stderr}"
    return done
