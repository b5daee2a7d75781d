"""The C preprocessor layer: what ``gcc -E -x assembler-with-cpp`` does to a
kernel ``.S`` file, with the origin and presence condition of every line.

The names below are loaded on first use (PEP 562): a module that needs only
``cpp.types`` (the program model, a result read back from the cache) does
not import the preprocessor with it."""

from __future__ import annotations

from entrylint.source.lazy import lazy_names

_WHERE = {
    "PROFILES": "config", "Kconfig": "config", "MacroDef": "macros", "PREDEFINES": "predefines",
    "CppOptions": "preprocessor", "PPResult": "preprocessor", "preprocess_file": "preprocessor",
    "preprocess_text": "preprocessor",
    "Cond": "types", "Condition": "types", "PPLine": "types", "Segment": "types", "plain_lines": "types",
}

__all__ = list(_WHERE)

__getattr__ = lazy_names(__name__, _WHERE)
