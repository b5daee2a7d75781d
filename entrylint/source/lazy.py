"""A package's re-exported names loaded on first use (PEP 562)."""

from __future__ import annotations

import importlib
import sys


def lazy_names(package: str, where: dict[str, str]):
    """The module ``__getattr__`` of ``package`` that imports
    ``package.<where[name]>`` when ``name`` is first asked for (``from
    package import name`` included) and keeps it in the package: a module
    that needs one light submodule does not import the heavy ones with it."""
    def __getattr__(name: str):
        sub = where.get(name)
        if sub is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{sub}"), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
