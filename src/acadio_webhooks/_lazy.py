"""Module attributes imported on first use (PEP 562), so importing a light module stays light."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

__all__ = ["lazy_attributes"]


def lazy_attributes(
    module_name: str, namespace: MutableMapping[str, Any], sources: Mapping[str, str]
) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports each name of ``sources`` (name → module) from its
    module on first use and keeps it in ``namespace`` (the module's ``globals()``), so the
    import happens once."""

    def module_getattr(name: str) -> Any:
        source = sources.get(name)
        if source is None:
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(source), name)
        namespace[name] = value
        return value

    return module_getattr
