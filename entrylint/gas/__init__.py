"""The GNU as macro layer: preprocessed lines in, flat statements with
expansion traces out (see ``expand``).

The names below are loaded on first use (PEP 562): a module that needs only
``gas.types`` (the program model, a result read back from the cache) does
not import the expander with it."""

from __future__ import annotations

from entrylint.source.lazy import lazy_names

_WHERE = {
    "expand": "expander", "UnknownDirective": "expander",
    "BodyLine": "model", "GasOptions": "model", "GasResult": "model", "MacroInfo": "model", "Param": "model",
    "Frame": "types", "Stmt": "types", "Trace": "types",
}

__all__ = list(_WHERE)

__getattr__ = lazy_names(__name__, _WHERE)
