"""What a tree's Kconfig files say about options and CPU features.

Reading a file that only 32-bit kernels build (entry_32.S) under a profile
made for x86_64 must drop the options a 32-bit kernel cannot have.  The
tree's own Kconfig says which: a ``config FOO`` whose ``depends on`` names
``X86_64`` or ``64BIT`` (directly, or through another such option).  6.15+
trees also say there which CPU features a configuration compiles out
(Kconfig.cpufeatures, ``disabled_by_kconfig``).  One small reader of the
``config``/``depends on`` lines serves both (``_depends``); the
``depends on`` expressions of bool symbols are evaluated (``_holds``), this
is no Kconfig evaluator beyond that.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

from entrylint.source import overlay

_CONFIG = re.compile(r"^\s*(?:menu)?config\s+(\w+)\s*$")
_DEPENDS = re.compile(r"^\s*depends\s+on\s+(.*)$")
_NAME = re.compile(r"!?\b([A-Z][A-Z0-9_]*)\b")
_ROOTS = ("X86_64", "64BIT")


@overlay.tree_cache(maxsize=8)
def _dependencies(root: str) -> tuple[dict[str, frozenset[str]], dict[str, frozenset[str]]]:
    """(config symbol -> the symbols its ``depends on`` lines require (not
    negated), config symbol -> the symbols its ``depends on`` lines offer as
    alternatives: ``X86_64 || X86_PAE``)."""
    deps: dict[str, set[str]] = {}
    alts: dict[str, set[str]] = {}
    for sub in ("arch/x86", "arch/Kconfig", "init", "kernel", "mm", "lib", "security", "virt"):
        base = Path(root) / sub
        paths = [base] if base.is_file() else (
            Path(d) / f for d, _, fs in os.walk(base) for f in fs if f.startswith("Kconfig"))
        for p in paths:
            for name, exprs in _depends(p) or ():
                cur = deps.setdefault(name, set())
                for expr in exprs:
                    if "||" in expr:  # an alternative: not required
                        alts.setdefault(name, set()).update(_NAME.findall(expr))
                        continue
                    cur.update(n for n in _NAME.findall(expr) if not re.search(rf"!\s*{n}\b", expr))
    return {k: frozenset(v) for k, v in deps.items()}, {k: frozenset(v) for k, v in alts.items()}


def _depends(path: Path) -> list[tuple[str, list[str]]] | None:
    """(symbol, its ``depends on`` expressions) of each ``config`` of the
    Kconfig file ``path``, in order; None when it cannot be read."""
    try:
        lines = overlay.read_text(path, errors="replace").splitlines()
    except OSError:
        return None
    out: list[tuple[str, list[str]]] = []
    for line in lines:
        m = _CONFIG.match(line)
        if m:
            out.append((m.group(1), []))
            continue
        m = _DEPENDS.match(line)
        if m and out:
            out[-1][1].append(m.group(1).split("#")[0].strip())
    return out


def requires_64bit(root: Path, symbols: Iterable[str]) -> set[str]:
    """The ``CONFIG_`` symbols among ``symbols`` that need a 64-bit kernel."""
    deps = _dependencies(str(root))[0]
    memo: dict[str, bool] = {}

    def needs(sym: str, depth: int = 0) -> bool:
        if sym in _ROOTS:
            return True
        if sym in memo or depth > 20:
            return memo.get(sym, False)
        memo[sym] = False
        memo[sym] = any(needs(d, depth + 1) for d in deps.get(sym, ()))
        return memo[sym]

    return {s for s in symbols if s.startswith("CONFIG_") and needs(s[len("CONFIG_"):])}


def with_pae(root: Path, symbols: Iterable[str]) -> set[str]:
    """The ``CONFIG_`` symbols among ``symbols`` that a 32-bit kernel may
    have with PAE: their ``depends on`` offers ``X86_PAE`` as the
    alternative to 64-bit (page-table isolation since 4.19:
    ``depends on (X86_64 || X86_PAE)``)."""
    alts = _dependencies(str(root))[1]
    return {s for s in symbols if s.startswith("CONFIG_") and "X86_PAE" in alts.get(s[len("CONFIG_"):], ())}


# 6.15+: the CPU features a configuration compiles out are Kconfig symbols
# (arch/x86/Kconfig.cpufeatures: ``config X86_DISABLED_FEATURE_PTI``,
# ``def_bool y``, ``depends on !MITIGATION_PAGE_TABLE_ISOLATION``), from which
# the build writes the DISABLED_MASKn of asm/cpufeaturemasks.h.  Before, the
# masks were a header's (disabled-features.h), which the preprocessor reads.
_DISABLED = "X86_DISABLED_FEATURE_"
_BOOL_TOKEN = re.compile(r"\s*(&&|\|\||!|\(|\)|[A-Za-z0-9_]+)")


@overlay.tree_cache(maxsize=8)
def _disabled_rules(root: str) -> tuple[tuple[str, tuple[str, ...]], ...] | None:
    """(feature, its ``depends on`` expressions) of each
    ``X86_DISABLED_FEATURE_*`` symbol of the tree's Kconfig.cpufeatures
    (``def_bool y``: on exactly when every expression holds); None for a
    tree without the file."""
    got = _depends(Path(root) / "arch" / "x86" / "Kconfig.cpufeatures")
    if got is None:
        return None
    return tuple((f"X86_FEATURE_{name[len(_DISABLED):]}", tuple(exprs))
                 for name, exprs in got if name.startswith(_DISABLED))


def disabled_by_kconfig(root: Path | None, enabled) -> set[str] | None:
    """The CPU features ``enabled(CONFIG_X)`` compiles out, as the tree's
    Kconfig.cpufeatures says (None: the tree has none; its masks are a
    header's).  A ``depends on`` this reader cannot evaluate leaves its
    feature on (a gate is then not taken for compiled out)."""
    rules = _disabled_rules(str(root)) if root is not None else None
    if rules is None:
        return None
    out = set()
    for feature, exprs in rules:
        try:
            if all(_holds(e, enabled) for e in exprs):
                out.add(feature)
        except ValueError:
            continue
    return out


def _holds(expr: str, enabled) -> bool:
    """A Kconfig ``depends on`` expression of bool symbols (``!``, ``&&``,
    ``||``, parentheses), each symbol 1 or 0 as ``enabled`` says, evaluated
    as an ``#if`` is (cpp/expr.py); ValueError for anything else (``=``, ``if``)."""
    from entrylint.cpp.expr import ExprError, evaluate
    from entrylint.cpp.lexer import lex_text

    words, pos, text = [], 0, expr.rstrip()
    while pos < len(text):
        m = _BOOL_TOKEN.match(text, pos)
        if m is None:
            raise ValueError(expr)
        t = m.group(1)
        words.append(t if t in ("&&", "||", "!", "(", ")") else
                     "1" if t == "y" or (t != "n" and enabled(f"CONFIG_{t}")) else "0")
        pos = m.end()
    try:
        return bool(evaluate(lex_text(" ".join(words))))
    except ExprError as e:
        raise ValueError(expr) from e
