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

import os
import re
from pathlib import Path

from entrylint.source import overlay

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
    """Per-cpu names the tree declares user-mapped."""
    if root is None:
        return frozenset()
    texts = _c_texts(str(root))
    got = _MAPPED.get(str(root))
    if got is None or got[0] is not texts:  # once per read of the tree (_c_texts is its cache)
        got = _MAPPED[str(root)] = (texts, frozenset(m.group(1) for _name, text in texts if "_USER_MAPPED" in text
                                                      for m in _USER_MAPPED.finditer(text)))
    return got[1]


_MAPPED: dict[str, tuple] = {}  # root -> (the texts read, the names they declare)


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


@overlay.tree_cache(maxsize=64)
def stores(root: str, var: str) -> tuple[tuple[str, str], ...]:
    """(file text, value expression) of every store to per-cpu ``var``; once
    per read of the tree (an editor's re-analysis asks again at every edit)."""
    out = []
    write = re.compile(rf"\bthis_cpu_write\(\s*{re.escape(var)}\s*,")
    assign = re.compile(rf"\bper_cpu\(\s*{re.escape(var)}\s*,[^)]*\)\s*=([^=;][^;]*);")
    for _name, text in _c_texts(root):
        if var not in text:
            continue
        for m in write.finditer(text):
            expr = _balanced(text, m.end())
            if expr is not None:
                out.append((text, expr))
        for m in assign.finditer(text):
            out.append((text, m.group(1)))
    return tuple(out)


def _bits(expr: str, text: str, value, depth: int = 0) -> int | None:
    """The bits the constants of ``expr`` OR together (a local's first
    assignment in ``text`` stands for it); None when nothing is known."""
    total, known = 0, False
    for name in _IDENT.findall(expr):
        v = value(name)
        if v is None and depth < 2:
            m = re.search(rf"\b{re.escape(name)}\s*=\s*([^=;][^;]*);", text)
            v = _bits(m.group(1), text, value, depth + 1) if m else None
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
        if found and all((_bits(e, text, value) or 0) >> user_bit & 1 for text, e in found):
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
