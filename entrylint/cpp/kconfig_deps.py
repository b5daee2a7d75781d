"""What a tree's Kconfig files say about options and CPU features.

Reading a file that only 32-bit kernels build (entry_32.S) under a profile
made for x86_64 must drop the options a 32-bit kernel cannot have.  The
tree's own Kconfig says which: a ``config FOO`` whose ``depends on`` names
``X86_64`` or ``64BIT`` (directly, or through another such option), or one
that only ``select``s turn on, each from such an option or ``if`` one is on
(6.x: ``OBJTOOL``, whose selects need ``HAVE_OBJTOOL``, itself selected
``if X86_64``; so ``CALL_DEPTH_TRACKING`` is a 64-bit option).  6.15+
trees also say there which CPU features a configuration compiles out
(Kconfig.cpufeatures, ``disabled_by_kconfig``).  One small reader of the
``config``/``depends on``/``select`` lines serves both (``_read``); the
``depends on`` expressions of bool symbols are evaluated (``_holds``), this
is no Kconfig evaluator beyond that.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import field
from pathlib import Path

from entrylint.source import overlay
from entrylint.source.record import data

# the lines of a config entry the reader reads, found by one search of the
# file: the entry's name; a ``depends on``; a ``select`` (``if``: its
# condition); ``help`` (the entry's attributes end there: its text is
# skipped); a prompt or a default (the option can be on without a select);
# a line that ends the entry (a line starting with another letter is
# skipped at its first one: help texts are most of a Kconfig file)
_LINE = re.compile(r"\n[ \t]*(?=[bcdehimpst-])(?:(?:menu)?config[ \t]+(\w+)[ \t]*$|depends[ \t]+on[ \t]+([^\n#]*)"
                   r"|select[ \t]+(\w+)(?:[ \t]+if[ \t]+([^\n#]*))?|(help|---help---)[ \t]*$"
                   r"|((?:bool|tristate|int|hex|string)[ \t]+\S|prompt\b|default\b|def_\w+)"
                   r"|(?:choice|endchoice|comment|menu|endmenu|if|endif|source|mainmenu)\b)", re.M)
_NAME = re.compile(r"!?\b([A-Z][A-Z0-9_]*)\b")
_NEGATED = re.compile(r"!\s*([A-Z][A-Z0-9_]*)\b")
_ROOTS = ("X86_64", "64BIT")
# what the reader walks in a tree without a top Kconfig (a small test tree)
_FOLDERS = ("arch/x86", "arch/Kconfig", "init", "kernel", "mm", "lib", "security", "virt")


@data
class _Config:
    """What the Kconfig files say of one symbol, over all its ``config`` entries."""

    depends: list = field(default_factory=list)  # its ``depends on`` expressions
    choosable: bool = False  # a prompt or a default: on without a select
    selected_by: list = field(default_factory=list)  # (the selecting symbol, the ``if`` expression or "")


def _dependencies(root: str) -> tuple[dict[str, frozenset[str]], dict[str, frozenset[str]], dict[str, tuple]]:
    """``_read_dependencies``: once per process, and a fact of the tree kept
    on disk across runs (``cache.fact``: 1,500 Kconfig files of a 6.x tree
    are read, 0.15 s)."""
    from entrylint import cache

    return cache.fact(("kconfig-deps", root), _read_dependencies, root)


@overlay.tree_cache(maxsize=8)
def _read_dependencies(root: str) -> tuple[dict[str, frozenset[str]], dict[str, frozenset[str]], dict[str, tuple]]:
    """(config symbol -> the symbols its ``depends on`` lines require (not
    negated), config symbol -> the symbols its ``depends on`` lines offer as
    alternatives: ``X86_64 || X86_PAE``, config symbol that only a
    ``select`` turns on -> its selects: (the selecting symbol, the symbols
    the select's ``if`` requires)), read from the files Kconfig reads for
    x86 (a tree without a top Kconfig: every ``Kconfig*`` of a few folders)."""
    from entrylint.source.tree import sourced_kconfig

    configs: dict[str, _Config] = {}
    texts = list(sourced_kconfig(root))
    if not texts:
        for sub in _FOLDERS:
            base = Path(root) / sub
            paths = [base] if base.is_file() else sorted(
                Path(d) / f for d, _, fs in os.walk(base) for f in fs if f.startswith("Kconfig"))
            for path in paths:
                try:
                    texts.append((path, overlay.read_text(path, errors="replace")))
                except OSError:
                    continue
    for _path, text in texts:
        _read(text, configs)
    deps: dict[str, frozenset[str]] = {}
    alts: dict[str, frozenset[str]] = {}
    for name, c in configs.items():
        req: set[str] = set()
        for expr in c.depends:
            if "||" in expr:  # an alternative: not required
                alts[name] = alts.get(name, frozenset()) | frozenset(_NAME.findall(expr))
                continue
            req.update(_required(expr))
        deps[name] = frozenset(req)
    selects = {name: tuple((by, frozenset(_required(cond)) if "||" not in cond else frozenset())
                           for by, cond in c.selected_by)
               for name, c in configs.items() if not c.choosable and c.selected_by}
    return deps, alts, selects


def _required(expr: str) -> set[str]:
    """The symbols an ``&&`` expression needs on (those not negated)."""
    return set(_NAME.findall(expr)).difference(_NEGATED.findall(expr)) if "!" in expr else set(_NAME.findall(expr))


def _read(text: str, configs: dict[str, _Config]) -> None:
    """Add what one Kconfig file says of its symbols to ``configs``: from
    each ``config`` line to its ``help`` or the next entry, its ``depends
    on`` and ``select`` lines and whether it has a prompt or a default."""
    cur: _Config | None = None
    cur_name = ""
    for m in _LINE.finditer("\n" + text):  # (a line's start: a newline, searched for fast)
        name, dep, sel, cond, _help, choosable = m.groups()
        if name is not None:
            cur_name, cur = name, configs.setdefault(name, _Config())
        elif cur is None:
            continue
        elif dep is not None:
            cur.depends.append(dep.strip())
        elif sel is not None:
            configs.setdefault(sel, _Config()).selected_by.append((cur_name, (cond or "").strip()))
        elif choosable is not None:
            cur.choosable = True
        else:  # its help text or another entry
            cur = None


def requires_64bit(root: Path, symbols: Iterable[str]) -> set[str]:
    """The ``CONFIG_`` symbols among ``symbols`` that need a 64-bit kernel:
    a ``depends on`` requires such a symbol, or the symbol is one only a
    ``select`` turns on and every select of it does so from such a symbol
    or ``if`` one is on (6.x's ``HAVE_OBJTOOL``, selected ``if X86_64``)."""
    deps, _alts, selects = _dependencies(str(root))
    memo: dict[str, bool] = {}
    active: set[str] = set()
    cyclic = False  # the answer being worked out met a symbol that is being worked out

    def needs(sym: str, depth: int = 0) -> bool:
        nonlocal cyclic
        if sym in _ROOTS:
            return True
        got = memo.get(sym)
        if got is not None:
            return got
        if sym in active or depth > 20:
            cyclic = True
            return False
        active.add(sym)
        outer, cyclic = cyclic, False
        got = any(needs(d, depth + 1) for d in deps.get(sym, ())) or (
            sym in selects and all(any(needs(c, depth + 1) for c in cond) or needs(by, depth + 1)
                                   for by, cond in selects[sym]))
        active.discard(sym)
        if got or not cyclic:  # (a no that leaned on an unfinished answer is not kept)
            memo[sym] = got
        cyclic = cyclic or outer
        return got

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
    try:
        text = overlay.read_text(Path(root) / "arch" / "x86" / "Kconfig.cpufeatures", errors="replace")
    except OSError:
        return None
    configs: dict[str, _Config] = {}
    _read(text, configs)
    return tuple((f"X86_FEATURE_{name[len(_DISABLED):]}", tuple(c.depends))
                 for name, c in configs.items() if name.startswith(_DISABLED))


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
