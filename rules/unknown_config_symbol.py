"""Checks that every CONFIG_ symbol an ``#if`` tests exists in the tree's Kconfig.

## What it does
Reports a ``CONFIG_`` name tested by ``#if``, ``#ifdef``, ``#ifndef`` or
``#elif`` (directly, or through ``defined()``/``IS_ENABLED()``) -- or named in
an ``IS_ENABLED()`` anywhere -- that no ``config``/``menuconfig`` entry of any
``Kconfig*`` file under the tree root declares, and no Makefile defines for
the compiler (4.x's ``-DCONFIG_X86_X32_ABI`` when the toolchain can link
x32).  ``CONFIG_X_MODULE`` counts as ``X``.

Scope: the analysed file and the headers it includes from its own folder (for
``arch/x86/entry/entry_64.S``: ``calling.h``); headers elsewhere belong to
other maintainers and are checked with their own files.  Every directive of
those files is read, taken or not: a misspelt option is never set, so the
block it guards is exactly the one the preprocessor skips.  The skipped
directives are read from the file on disk; when the text analysed (an editor
buffer, a patch) differs from it in a directive the preprocessor recorded on
its output lines, only those recorded conditions are judged, and a change
that only touches a skipped ``#ifdef`` is not seen.  A symbol is reported once per directive, at the directive's first
line.  Without a Kconfig file under the tree root (no kernel tree above the
file and no ``--root``) the rule is silent.

Message: ``CONFIG_{name} is not defined in any Kconfig file``.

## Why is this bad?
MODEL 6: a misspelt option is silently false, so the guarded code is never
built (or an ``#ifndef`` always is): a PTI switch under
``#ifdef CONFIG_PAGE_TABLE_ISOLATON`` vanishes from every kernel without
an error.

## Example
```asm
#ifdef CONFIG_PAGE_TABLE_ISOLATON
	SWITCH_TO_KERNEL_CR3 scratch_reg=%rsp
#endif
```

Use instead:
```asm
#ifdef CONFIG_PAGE_TABLE_ISOLATION
	SWITCH_TO_KERNEL_CR3 scratch_reg=%rsp
#endif
```

## Options
None.

## References
- scripts/checkkconfigsymbols.py in the kernel tree does the same check for
  a whole tree.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from entrylint.cpp.lexer import NAME, lex_file_once
from entrylint.cpp.types import line_conditions
from entrylint.findings.model import Finding, Severity
from entrylint.plugins import hookimpl
from entrylint.plugins.info import RuleInfo
from entrylint.source import Location
from entrylint.source.tree import KnownConfig

_DIRECTIVES = {"if", "ifdef", "ifndef", "elif", "elifdef", "elifndef"}
_NAME = re.compile(r"\bCONFIG_(\w+)")


class UnknownConfigSymbol(Finding):
    id = "EL403"
    slug = "unknown-config-symbol"
    severity = Severity.WARNING
    template = "CONFIG_{name} is not defined in any Kconfig file"


@hookimpl
def entrylint_rules():
    return [RuleInfo.from_module(sys.modules[__name__], UnknownConfigSymbol, precision="high",
                                 tags=("config",))]


@hookimpl
def entrylint_check(analysis, config):
    exp = analysis.expansion
    if exp.root is None:
        return
    known = KnownConfig(str(exp.root))  # kconfig_symbols, read as far as needed
    if not known:
        return
    main = str(Path(exp.path).resolve())
    here = str(Path(main).parent)
    files = [f for f in dict.fromkeys([main, *exp.pp.files]) if _parent(f) == here]
    tested = recorded_symbols(exp.pp, set(files))
    for path in files:
        got = tested.get(path, {})
        # the analysed file is read as analysed (an editor buffer may differ from the disk)
        scanned = dict(scanned_symbols(path, exp.text if path == main and exp.text else None, checked=path == main))
        got = {**got, **scanned}
        for (name, line), col in sorted(got.items(), key=lambda kv: kv[0][1]):
            if name not in known and name.removesuffix("_MODULE") not in known:
                yield UnknownConfigSymbol(location=Location(path, line, col), args={"name": name},
                                          profiles=(exp.profile,), context=f"CONFIG_{name}")


def _parent(path: str) -> str:
    """``path``'s folder as pathlib gives it (kept: the language server asks
    for each header of the file at every edit)."""
    got = _PARENTS.get(path)
    if got is None:
        if len(_PARENTS) > 4096:
            _PARENTS.clear()
        got = _PARENTS[path] = str(Path(path).parent)
    return got


_PARENTS: dict[str, str] = {}


def recorded_symbols(pp, files) -> dict[str, dict[tuple[str, int], int]]:
    """file -> {(name, directive line): col} from the conditions the preprocessor
    recorded on its output lines (taken branches and the earlier branches of
    an #elif/#else: an #if whose lines were all skipped leaves no record)."""
    out: dict[str, dict[tuple[str, int], int]] = {}
    for cond in line_conditions(pp.lines):
        loc = cond.location
        if loc.file in files:
            for name in _NAME.findall(cond.text):
                out.setdefault(loc.file, {})[(name, loc.line)] = loc.col
    return out


def scanned_symbols(path: str, text: str | None = None, checked: bool = False):
    """((name, directive line), col) for each symbol tested in the file (or in
    ``text``), taken branch or not: every #if-family directive, and
    IS_ENABLED() anywhere.  The tokens are the preprocessor's when it read
    the same text (``checked``: the file checked, else a header)."""
    if text is None:
        try:
            text = Path(path).read_text(errors="replace")
        except OSError:
            return
    lexed = lex_file_once(text, path, keep=not checked)
    if checked:
        yield from _scan(lexed)
        return
    got = _SCANNED.get(path)
    if got is None or got[0] is not lexed:
        got = _SCANNED[path] = (lexed, list(_scan(lexed)))
    yield from got[1]


# a header -> (its tokens, what _scan found in them): the lexer keeps a
# header's tokens, the same object from one check to the next (the language
# server's edits), and this the one it keeps (no other text of it held)
_SCANNED: dict[str, tuple] = {}


def _scan(lexed):
    for toks in lexed.lines:
        directive = len(toks) > 1 and toks[0].text == "#" and toks[1].text in _DIRECTIVES
        for k, t in enumerate(toks):
            if t.kind != NAME or not t.text.startswith("CONFIG_"):
                continue
            if directive or (k >= 2 and toks[k - 2].text == "IS_ENABLED"):
                yield (t.text.removeprefix("CONFIG_"), toks[0].loc[1]), t.loc[2]


