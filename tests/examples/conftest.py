"""Helpers for running the files in ``examples/hosts`` as tests, so they cannot rot."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

HOSTS = Path(__file__).resolve().parents[2] / "examples" / "hosts"


def load_example(name: str) -> ModuleType:
    """Import ``examples/hosts/<name>.py`` as module ``<name>`` (examples are not a package)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, HOSTS / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
