"""The GNU as macro layer: preprocessed lines in, flat statements with
expansion traces out (see ``expand``).

The names below are loaded on first use (PEP 562): a module that needs only
``gas.types`` (the program model, a result read back from the cache) does
not import the expander with it."""

from __future__ import annotations

import importlib

_WHERE = {
    "expand": "expander", "UnknownDirective": "expander",
    "BodyLine": "model", "GasOptions": "model", "GasResult": "model", "MacroInfo": "model", "Param": "model",
    "Frame": "types", "Stmt": "types", "Trace": "types",
}

__all__ = list(_WHERE)


def __getattr__(name: str):
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{where}"), name)
    globals()[name] = value
    return value
