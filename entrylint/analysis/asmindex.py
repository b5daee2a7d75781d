"""The tree's own assembly, read as text once per tree (a fact of the tree
kept on disk across runs): which ``.S`` files of arch/x86 define each
symbol (``SYM_*_START``, ``ENTRY``, ``.globl`` lines, and the invocations
of gas macros that define a symbol from a parameter, like ``THUNK``), every
symbol the tree's asm defines, and the heads of names that macros make from
a fixed head and a parameter (retpoline.S's ``__x86_indirect_thunk_\reg``).
Callee summaries (callees.py) look up where an asm callee lives here; the
C-call rule asks whether a call target is asm at all."""

from __future__ import annotations

import re
from pathlib import Path

from entrylint.source import overlay, textscan

_ASM_ANNOTATION = re.compile(r"(?:SYM_(?:CODE_|FUNC_|TYPED_FUNC_)?START\w*|ENTRY|GLOBAL|WEAK)\(\s*(\w+)")
_ANY_ANNOTATION = re.compile(r"(?:SYM_(?:CODE|FUNC|INNER_LABEL|TYPED_FUNC)\w*|ENTRY|GLOBAL|WEAK)\(\s*(\w+)")
_ASM_GLOBL = re.compile(r"\.glob(?:a)?l\s+(\w+)")
_FIRST_ON_LINE = textscan.line_start()


def annotated_names(text: str, annotation: re.Pattern = _ANY_ANNOTATION) -> set[str]:
    """The symbols an asm text defines: the names ``annotation`` (its group
    1) finds where a word starts (``\\b`` before it), and those of the
    ``.globl`` lines (``^\\s*`` before it); searched from their first
    letters (``textscan``)."""
    out = {m.group(1) for m, _ in textscan.finditer(_ASM_GLOBL, text, _FIRST_ON_LINE)}
    out.update(m.group(1) for m, _ in textscan.finditer(annotation, text, textscan.word_start))
    return out


def asm_symbols(root: Path) -> frozenset[str]:
    """Symbols the tree's own assembly defines (SYM_*, ENTRY, .globl; every
    ``.S`` of arch/x86, boot code included): a call target that is one of
    these is asm, not C (c-call-user-cr3)."""
    return _asm_index(root)[1]


def defined_names(text: str) -> set[str]:
    """The symbols an asm file's text defines by annotation (``SYM_*_START``,
    ``ENTRY``, ``GLOBAL``, ``WEAK``) or ``.globl``."""
    return annotated_names(text, _ASM_ANNOTATION)


# gas macros whose body defines a global symbol from a parameter (the kernel's
# THUNK: ``.globl \name`` or ``SYM_FUNC_START(\name)``): their invocations
# define the symbol their argument names
_MACRO_HEAD = re.compile(r"\.macro\s+(\w+)[ \t,]*([^\n]*)\n")
_MACRO_END = re.compile(r"^\s*\.endm", re.M)
_DEFINES = r"(?:\.glob(?:a)?l\s+|SYM_(?:CODE|FUNC|TYPED_FUNC)_START\w*\(\s*|ENTRY\(\s*)"
_DEFINES_PARAM = re.compile(_DEFINES + r"\\(\w+)")
# ... or a name made of a fixed head and a parameter (retpoline.S's THUNK:
# ``SYM_FUNC_START(__x86_indirect_thunk_\reg)``), invoked where a text
# search cannot follow (through cpp: ``#define GEN(reg) THUNK reg`` and the
# list of registers in GEN-for-each-reg.h)
_DEFINES_HEAD = re.compile(_DEFINES + r"(\w+)\\(\w+)(?![\w\\])")
_FIRST_ON_LINE = textscan.line_start()


def _macros_of(text: str):
    """(name, parameter text, body) of each ``.macro`` of an asm text that
    starts its line: ``re.finditer(r"^\\s*\\.macro\\s+(\\w+)[ \\t,]*([^\\n]*)\\n(.*?)^\\s*\\.endm",
    text, re.M | re.S)``, searched from the literal word (``textscan``)."""
    at = 0
    while (found := textscan.search(_MACRO_HEAD, text, at, _FIRST_ON_LINE)) is not None:
        m = found[0]
        end = _MACRO_END.search(text, m.end())
        if end is None:
            return  # (nor for any later one)
        yield m.group(1), m.group(2), text[m.end():end.start()]
        at = end.end()


def _symbol_macros(texts) -> tuple[dict[str, int], dict[str, list[int]]]:
    """(macro name -> position of the parameter whose value it defines as a
    symbol, macro name -> the indices in ``texts`` of the texts whose macros
    define symbols named by a fixed head and a parameter, by head)."""
    out: dict[str, int] = {}
    heads: dict[str, list[int]] = {}
    for i, text in enumerate(texts):
        for name, args, body in _macros_of(text):
            params = [p.split("=")[0].split(":")[0].strip() for p in re.split(r"[\s,]+", args) if p.strip()]
            defined = {m.group(1) for m in _DEFINES_PARAM.finditer(body)}  # (\NAME: the whole word after it)
            k = next((k for k, p in enumerate(params) if p in defined), None)
            if k is not None:
                out.setdefault(name, k)
            for m in _DEFINES_HEAD.finditer(body):
                if m.group(2) in params and i not in heads.get(m.group(1), ()):
                    heads.setdefault(m.group(1), []).append(i)
    return out, heads


def _invoking(macros) -> re.Pattern:
    """A line's invocation of one of ``macros`` and its argument text, for
    _invocations (whose anchor it leaves out)."""
    return re.compile(r"(" + "|".join(map(re.escape, macros)) + r")\s+([^\n]*)$", re.M)


def _invocations(invoke: re.Pattern, text: str):
    """The matches of ``^\\s*`` + ``invoke`` (re.M): ``invoke`` searched from
    the macro names (``textscan``), at the first word of a line."""
    return (m for m, _ in textscan.finditer(invoke, text, _FIRST_ON_LINE))


def asm_definitions(root: Path) -> dict[str, tuple[str, ...]]:
    """Symbol -> the ``.S`` files of the tree's arch/x86 that define it
    (``SYM_*_START``, ``ENTRY``, ``.globl``, and ``THUNK name, ...`` lines;
    thunk_32.S and thunk_64.S both define ``trace_hardirqs_on_thunk``).
    Files kbuild builds with -m32/-m16 (boot, realmode, vDSO) are not kernel
    code and are left out."""
    return _asm_index(root)[0]


def asm_heads(root: Path) -> dict[str, tuple[str, ...]]:
    """Head -> the ``.S`` files (as asm_definitions) whose macros define
    symbols named by that head and a parameter (``__x86_retpoline_\\reg``):
    a name that starts with it may be one of theirs."""
    return _asm_index(root)[2]


def _asm_index(root: Path) -> tuple[dict[str, tuple[str, ...]], frozenset[str], dict[str, tuple[str, ...]]]:
    """(asm_definitions, asm_symbols, asm_heads): one read of the tree's asm,
    once per process, and a fact of the tree kept on disk across runs
    (``cache.fact``)."""
    from entrylint import cache

    return cache.fact(("asm-index", str(root)), _read_asm_index, root)


@overlay.tree_cache(maxsize=8)
def _read_asm_index(root: Path) -> tuple[dict[str, tuple[str, ...]], frozenset[str], dict[str, tuple[str, ...]]]:
    from entrylint.source.tree import build_flavour

    base = Path(root) / "arch" / "x86"
    files: dict[str, str] = {}  # the kernel's own: asm_definitions
    symbols: set[str] = set()
    for p in sorted([*base.rglob("*.S"), *(base / "entry").glob("*.h"), *(base / "include" / "asm").glob("*.h")]):
        try:
            text = overlay.read_text(p, errors="replace")
        except OSError:
            continue
        if p.suffix == ".S":
            symbols |= annotated_names(text)
        flavour = build_flavour(p)
        if not (flavour.m32 and not flavour.kernel32):
            files[p.relative_to(root).as_posix()] = text
    definers, by_head = _symbol_macros(files.values())
    rels = list(files)
    heads = {h: tuple(rels[i] for i in v if rels[i].endswith(".S")) for h, v in sorted(by_head.items())}
    invoke = _invoking(definers) if definers else None
    out: dict[str, list[str]] = {}
    for rel, text in files.items():
        if not rel.endswith(".S"):
            continue
        names = defined_names(text)
        for m in _invocations(invoke, text) if invoke else ():
            args = [a.strip() for a in re.split(r"[\s,]+", m.group(2)) if a.strip()]
            k = definers[m.group(1)]
            if k < len(args) and re.fullmatch(r"\w+", args[k]):
                names.add(args[k])
        for n in names:
            out.setdefault(n, []).append(rel)
    return {n: tuple(v) for n, v in out.items()}, frozenset(symbols), {h: v for h, v in heads.items() if v}
