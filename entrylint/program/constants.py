"""Integer values of preprocessor macros and assembler expressions.

The program layer needs a few numbers that the headers define: CPU feature
bits (``X86_FEATURE_PTI``), the alternative flag layout (``ALT_FLAGS_SHIFT``,
``ALT_FLAG_NOT`` or older ``ALTINSTR_FLAG_INV``).  They are read from the
macro table the preprocessor ends with, so each kernel version speaks for
itself; nothing here is tied to one version.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache

from entrylint.cpp.expr import ExprError, evaluate
from entrylint.cpp.lexer import lex_text

_IDENT = re.compile(r"[A-Za-z_]\w*")
_SAFE = re.compile(r"^[\s0-9a-fA-FxXuUlL()+\-*/%<>&|^~!]*$")
_INT = re.compile(r"\b(0[xX][0-9a-fA-F]+|\d+)[uUlL]*\b")


@lru_cache(maxsize=16384)
def eval_int(expr: str) -> int | None:
    """Evaluate a C/GAS integer expression of literals only, as the C
    preprocessor does (``cpp/expr.py``: 64-bit values, ``010`` octal, ``08``
    and numbers past 64 bits no number, ``**`` no operator); None if it is
    not one.  Remembered per text: the same expressions recur in a file and
    in every re-analysis of it."""
    e = expr.strip()
    if not e or not _SAFE.match(e) or re.search(r"[A-Za-z_]", _INT.sub("0", e)):
        return None
    try:
        return evaluate(lex_text(e))
    except ExprError:
        return None


def expand_macros(text: str, macros: Mapping[str, object], depth: int = 0) -> str:
    """Expand object-like and simple function-like macros of ``macros``
    (``entrylint.cpp.MacroDef`` values) in ``text``; enough for the constant
    definitions of headers such as cpufeatures.h."""
    if depth > 32:
        return text
    out: list[str] = []
    pos = 0
    changed = False
    for m in _IDENT.finditer(text):
        if m.start() < pos:
            continue
        name = m.group(0)
        md = macros.get(name)
        if md is None:
            continue
        params = getattr(md, "params", None)
        body = getattr(md, "body", "")
        if params is None:
            out.append(text[pos:m.start()])
            out.append(f"({body})")
            pos = m.end()
            changed = True
            continue
        # function-like: find the argument list
        j = m.end()
        while j < len(text) and text[j].isspace():
            j += 1
        if j >= len(text) or text[j] != "(":
            continue
        level, k, args, start = 0, j, [], j + 1
        while k < len(text):
            c = text[k]
            if c == "(":
                level += 1
            elif c == ")":
                level -= 1
                if level == 0:
                    args.append(text[start:k])
                    break
            elif c == "," and level == 1:
                args.append(text[start:k])
                start = k + 1
            k += 1
        else:
            continue
        subst = body
        for p, a in zip(params, args):
            subst = re.sub(rf"\b{re.escape(p)}\b", lambda _m, a=a: f"({a.strip()})", subst)
        out.append(text[pos:m.start()])
        out.append(f"({subst})")
        pos = k + 1
        changed = True
    out.append(text[pos:])
    res = "".join(out)
    return expand_macros(res, macros, depth + 1) if changed else res


def macro_int(name: str, macros: Mapping[str, object]) -> int | None:
    md = macros.get(name)
    if md is None:
        return None
    body = getattr(md, "body", None)
    if isinstance(body, str) and getattr(md, "params", None) is None and not _IDENT.search(body):
        # (``( 7*32+11)``: no name in it, its value at once -- 440 CPU feature
        # bits a build of 6.12's entry_64.S values, feature_names)
        return eval_int(body)
    return eval_int(expand_macros(name, macros))


def feature_names(macros: Mapping[str, object]) -> dict[int, str]:
    """CPU feature and bug bits defined by the headers read: bit -> name."""
    out: dict[int, str] = {}
    for name, md in macros.items():
        if not name.startswith(("X86_FEATURE_", "X86_BUG_")) or getattr(md, "params", None) is not None:
            continue
        v = macro_int(name, macros)
        if v is not None and v not in out:
            out[v] = name
    return out


def disabled_features(macros: Mapping[str, object], names: Mapping[int, str]) -> set[str]:
    """The CPU features the configuration turns off at compile time: the bits of
    ``DISABLED_MASKn`` as the headers read define them (disabled-features.h
    up to 6.14); an alternative on such a feature is never patched in."""
    out: set[str] = set()
    for word in range(64):
        mask = macro_int(f"DISABLED_MASK{word}", macros)
        if mask is None:
            if word > 0 and f"DISABLED_MASK{word}" not in macros:
                break
            continue
        for bit in range(32):
            if mask >> bit & 1 and (word * 32 + bit) in names:
                out.add(names[word * 32 + bit])
    return out


# The features that say PTI is on (the 4.4/4.9 backport's is KAISER): with
# them off there is one page table.
PTI_FEATURES = ("X86_FEATURE_PTI", "X86_FEATURE_KAISER")
# Xen PV: the hypervisor switches page tables and GS (MODEL 3)
XENPV = "X86_FEATURE_XENPV"

# CPU features that only code built under a configuration option can set:
# without any of the options, the feature is off on every path.  Newest name
# first: a tree's option is the first one its Kconfig declares (Xen PV:
# CONFIG_XEN_PV from 4.14, CONFIG_XEN before, when every Xen guest was PV).
FEATURE_NEEDS_CONFIG: dict[str, tuple[str, ...]] = {
    XENPV: ("CONFIG_XEN_PV", "CONFIG_XEN"),
    "X86_FEATURE_PTI": ("CONFIG_PAGE_TABLE_ISOLATION", "CONFIG_MITIGATION_PAGE_TABLE_ISOLATION"),
    "X86_FEATURE_KAISER": ("CONFIG_KAISER", "CONFIG_PAGE_TABLE_ISOLATION"),
    "X86_FEATURE_FRED": ("CONFIG_X86_FRED",),
}


def features_without_config(enabled, declared=None, cr3_writes: bool = False) -> set[str]:
    """The features of ``FEATURE_NEEDS_CONFIG`` that ``enabled(CONFIG_X)`` rules out.

    MODEL 6.1.  ``declared(CONFIG_X)`` says whether the tree's Kconfig
    declares the option; None (no tree): the configuration alone decides,
    with any of the row's names.  With a tree, the feature's option is the
    first of the row the tree declares; a tree that declares none cannot turn
    the feature on, whatever the configuration sets (4.14.5 has no PTI
    option: one page table, the CR3 rules do not apply).  Whether PTI exists
    also comes from the tree: when the program writes CR3 with its option off
    or missing (``cr3_writes``: a first PTI patch whose switches no option
    guards), PTI is judged on."""
    out = set()
    for f, opts in FEATURE_NEEDS_CONFIG.items():
        if declared is not None:
            opts = next(((o,) for o in opts if declared(o)), ())
            if cr3_writes and f in PTI_FEATURES:
                continue
        if not any(enabled(o) for o in opts):
            out.add(f)
    return out
