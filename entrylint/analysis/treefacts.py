"""Facts the tree's C code states about its entry asm (MODEL 6.1).

(The SYSCALL/SYSENTER targets the C code writes are read by
``analysis/msr_entries.py``.)

**User-mapped per-cpu data.**  The KAISER backport declares what the user
page tables map: ``DEFINE_PER_CPU_USER_MAPPED(type, name)`` and its
``_SHARED_ALIGNED``/``_PAGE_ALIGNED`` variants (4.4: ``cpu_tss``,
``unsafe_stack_register_backup``, ``gdt_page``, ``exception_stacks``...);
``user_mapped_percpu`` reads those declarations (MODEL 5).

**Per-cpu variables that hold the user bits of CR3.**  The 4.4/4.9 KAISER backport does not write ``or $MASK`` to make the user CR3:
``_SWITCH_TO_USER_CR3`` ORs in a per-cpu variable (``orq
PER_CPU_VAR(x86_cr3_pcid_user), %rax``) that C code keeps as the shadow-PGD
offset plus the PCID bits.  Whether such an OR sets the PTI user bit is a
fact of the tree: every store to the variable in its C code
(``this_cpu_write(VAR, EXPR)``, ``per_cpu(VAR, cpu) = EXPR``) has the bit in
the constants it ORs together (``KAISER_SHADOW_PGD_OFFSET`` = 0x1000), either
directly or through a local initialised with them (``user_cr3 =
KAISER_SHADOW_PGD_OFFSET; ... this_cpu_write(VAR, user_cr3)``).  Constants
are valued with the macros the analysed file's headers define.  A variable
with no store found, or a store whose value is not known to carry the bit,
is not such a variable (the OR then says nothing about CR3).
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

from entrylint.source import overlay, textscan

_FOLDERS = ("arch/x86/mm", "arch/x86/kernel", "arch/x86/entry", "arch/x86/include/asm")
_IDENT = re.compile(r"[A-Za-z_]\w*")


@overlay.tree_cache(maxsize=4)
def _c_texts(root: str) -> tuple[tuple[str, str], ...]:
    out = []
    for folder in _FOLDERS:
        for dirpath, dirnames, filenames in os.walk(Path(root, folder)):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for f in filenames:
                if f.endswith((".c", ".h")):
                    try:
                        out.append((f, overlay.read_text(Path(dirpath, f), errors="replace")))
                    except OSError:
                        pass
    return tuple(out)


_USER_MAPPED = re.compile(r"\b(?:DEFINE|DECLARE)_PER_CPU\w*_USER_MAPPED\(\s*[^,()]+,\s*([A-Za-z_]\w*)\s*\)")


def user_mapped_percpu(root: Path | None) -> frozenset[str]:
    """Per-cpu names the tree declares user-mapped: once per process, and a
    fact of the tree kept on disk across runs (made ahead, ahead.py)."""
    if root is None:
        return frozenset()
    from entrylint import cache

    return cache.fact(("user-mapped-percpu", str(root)), _user_mapped_percpu, str(root))


@overlay.tree_cache(maxsize=4)
def _user_mapped_percpu(root: str) -> frozenset[str]:
    return frozenset(m.group(1) for _name, text in _c_texts(root) if "_USER_MAPPED" in text
                     for m in _USER_MAPPED.finditer(text))


def _balanced(text: str, start: int) -> str | None:
    """The text from ``start`` up to the ``)`` that closes the call it is in."""
    level = 0
    for j in range(start, min(len(text), start + 400)):
        c = text[j]
        if c == "(":
            level += 1
        elif c == ")":
            if level == 0:
                return text[start:j]
            level -= 1
    return None


# a store to a per-cpu variable: ``this_cpu_write(VAR, EXPR)`` and
# ``per_cpu(VAR, cpu) = EXPR;``, searched from their first letters
# (textscan: the word boundary before them checked apart)
_WRITE = re.compile(r"this_cpu_write\(\s*([A-Za-z_]\w*)\s*,")
_ASSIGN = re.compile(r"per_cpu\(\s*([A-Za-z_]\w*)\s*,(?=[^)]*\)\s*=([^=;][^;]*);)")


def percpu_stores(root: Path | str | None) -> dict[str, tuple[tuple[str, dict], ...]]:
    """Per-cpu variable -> (value expression, its locals) of every store to
    it in the tree's C code (``_percpu_stores``): once per process, and a
    fact of the tree kept on disk across runs (made ahead, ahead.py)."""
    if root is None:
        return {}
    from entrylint import cache

    return cache.fact(("percpu-stores", str(root)), _percpu_stores, str(root))


@overlay.tree_cache(maxsize=4)
def _percpu_stores(root: str) -> dict[str, tuple[tuple[str, dict], ...]]:
    """The stores of every per-cpu variable, in the order the C texts hold
    them (a text's ``this_cpu_write``s, then its ``per_cpu() =``s), each
    with the first assignment in its file of the names ``_bits`` may look
    up (those of the expression and of their assignments): what a search
    for one variable's stores found, and what ``_bits`` read of the file."""
    out: dict[str, list] = {}
    for _name, text in _c_texts(root):
        for m, _ in textscan.finditer(_WRITE, text, textscan.word_start):
            expr = _balanced(text, m.end())
            if expr is not None:
                out.setdefault(m.group(1), []).append((expr, _locals(expr, text)))
        # one variable's search went on past the end of its match (the
        # ``;``): a store of the same variable inside it was not its own
        ends: dict[str, int] = {}
        for m, _ in textscan.finditer(_ASSIGN, text, textscan.word_start):
            var = m.group(1)
            if m.start() >= ends.get(var, 0):
                ends[var] = m.end(2) + 1
                out.setdefault(var, []).append((m.group(2), _locals(m.group(2), text)))
    return {var: tuple(found) for var, found in out.items()}


def _locals(expr: str, text: str) -> dict[str, str | None]:
    """Name -> the value of its first assignment in ``text`` (None: none),
    for the names of ``expr`` and of their assignments (the two levels
    ``_bits`` looks names up at)."""
    out: dict[str, str | None] = {}
    sources = [expr]
    for _level in range(2):
        found = []
        for source in sources:
            for name in _IDENT.findall(source):
                if name not in out:
                    # ``re.search(rf"\b{name}\s*=...", text)``, searched from
                    # the name's letters (textscan: \b defeats the engine's
                    # literal scan, and a file is scanned once per name)
                    got = textscan.search(_assignment(name), text, 0, textscan.word_start)
                    out[name] = got[0].group(1) if got else None
                    if got:
                        found.append(got[0].group(1))
        sources = found
    return out


@functools.lru_cache(maxsize=1024)
def _assignment(name: str) -> re.Pattern:
    """``name = VALUE;`` (not ``==``), VALUE in group 1."""
    return re.compile(rf"{re.escape(name)}\s*=\s*([^=;][^;]*);")


def stores(root: str, var: str) -> tuple[tuple[str, dict], ...]:
    """(value expression, its locals) of every store to per-cpu ``var``."""
    return percpu_stores(root).get(var, ())


def _bits(expr: str, names: dict, value, depth: int = 0) -> int | None:
    """The bits the constants of ``expr`` OR together (a local's first
    assignment in its file, ``names``, stands for it); None when nothing is
    known."""
    total, known = 0, False
    for name in _IDENT.findall(expr):
        v = value(name)
        if v is None and depth < 2:
            got = names.get(name)
            v = _bits(got, names, value, depth + 1) if got is not None else None
        if v is not None:
            total |= v
            known = True
    return total if known else None


def user_bit_vars(root: Path | None, candidates, value, user_bit: int = 12) -> frozenset[str]:
    """The ``candidates`` whose every store in the tree carries bit ``user_bit``;
    ``value(name)`` is a macro's integer value or None."""
    if root is None:
        return frozenset()
    out = set()
    for var in candidates:
        found = stores(str(root), var)
        if found and all((_bits(e, names, value) or 0) >> user_bit & 1 for e, names in found):
            out.add(var)
    return frozenset(out)


def user_bit_vars_of(program, root, macros) -> frozenset[str]:
    """Symbols ORed from memory into a register that the tree's C code keeps
    as user CR3 bits (``user_bit_vars``); ``macros``: the file's macros,
    which value the constants."""
    from entrylint.program.effects import DataOp

    names = set()
    for i in program.instructions:
        info = i.info
        if info is not None and info.op is DataOp.OR and info.src_mem is not None and info.dst is not None:
            names.update(n for n in re.findall(r"[A-Za-z_]\w*", getattr(i.operands[0], "disp", None) or "")
                         if n not in macros)
    if not names:
        return frozenset()
    from entrylint.program.constants import macro_int

    return user_bit_vars(root, sorted(names), lambda n: macro_int(n, macros))
