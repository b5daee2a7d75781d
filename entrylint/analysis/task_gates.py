"""Task-gate entry points (MODEL 3: the state an entry arrives with).

A 32-bit kernel takes the double fault through a task gate (arch/x86/kernel/
idt.c ``TSKG(X86_TRAP_DF, GDT_ENTRY_DOUBLEFAULT_TSS)``): the CPU saves the
interrupted state in the current TSS and loads every register from the TSS
the gate names, CR3 and the segment registers included.  The handler starts
with what that TSS holds, not with the interrupted context's page table or
per-cpu segment.  The tree's C code initialises the TSS (5.8+
doublefault_32.c; 4.x doublefault.c names a C function)::

    .ip     = (unsigned long) asm_exc_double_fault,
    .sp     = (unsigned long) &doublefault_stack->stack_end,
    .fs     = __KERNEL_PERCPU,
    .__cr3  = __pa_nodebug(swapper_pg_dir),

``task_gates(root)`` reads the C files of arch/x86/kernel and returns, for
each identifier a designated initializer names as ``.ip``, the entry kind it
starts: the kernel CR3 where the initializer's ``cr3`` is the kernel's page
table (``swapper_pg_dir``), the kernel per-cpu segment where its ``.fs`` is
``__KERNEL_PERCPU``, either where it says nothing, on a stack of its own
(Stack.IST: "a stack of its own") from user or kernel mode.  x86_64 has no
task switching: only 32-bit code takes these (analysis/entries.py).
"""

from __future__ import annotations

import re
from pathlib import Path

from entrylint.analysis.ctext import strip_comments
from entrylint.analysis.state import Origin, Space, Stack, Tuple
from entrylint.source import overlay

FOLDER = "arch/x86/kernel"

_IP = re.compile(r"(?<![\w)\]])\.ip\s*=\s*(?:\(\s*unsigned\s+long\s*\)\s*)?&?\s*([A-Za-z_]\w*)\s*[,}]")
_CR3 = re.compile(r"(?<![\w)\]])\.(?:__)?cr3\s*=\s*([^,}]*)")
_FS = re.compile(r"(?<![\w)\]])\.fs\s*=\s*([^,}]*)")


def _initializer(text: str, at: int) -> str:
    """The brace-enclosed initializer around offset ``at`` (its innermost
    ``{ ... }``), or the text from ``at`` to the next ``;``."""
    depth, start = 0, None
    for i in range(at, -1, -1):
        c = text[i]
        if c == "}":
            depth += 1
        elif c == "{":
            if depth == 0:
                start = i
                break
            depth -= 1
        elif c == ";" and depth == 0:
            break
    if start is None:
        end = text.find(";", at)
        return text[at:end if end >= 0 else len(text)]
    depth = 0
    for j in range(start, len(text)):
        depth += text[j] == "{"
        depth -= text[j] == "}"
        if depth == 0:
            return text[start:j + 1]
    return text[start:]


def parse(text: str) -> dict[str, frozenset]:
    """Identifier -> the tuples of the task-gate entry a TSS initializer of
    ``text`` makes it."""
    out: dict[str, frozenset] = {}
    text = strip_comments(text)
    for m in _IP.finditer(text):
        init = _initializer(text, m.start())
        cr3 = _CR3.search(init)
        fs = _FS.search(init)
        cr3s = (Space.KERNEL,) if cr3 and "swapper_pg_dir" in cr3.group(1) else (Space.USER, Space.KERNEL)
        gss = (Space.KERNEL,) if fs and "__KERNEL_PERCPU" in fs.group(1) else (Space.USER, Space.KERNEL)
        out.setdefault(m.group(1), frozenset(Tuple(o, g, c, Stack.IST) for o in (Origin.USER, Origin.KERNEL)
                                             for g in gss for c in cr3s))
    return out


def task_gates(root: Path | None) -> dict[str, frozenset]:
    """The task-gate entries the tree at ``root`` sets up (none without a
    tree): once per process, and a fact of the tree kept on disk across runs."""
    if root is None:
        return {}
    from entrylint import cache

    return cache.fact(("task-gates", str(root)), _task_gates, root)


@overlay.tree_cache(maxsize=32)
def _task_gates(root: Path) -> dict[str, frozenset]:
    out: dict[str, frozenset] = {}
    base = Path(root) / FOLDER
    for p in sorted(base.glob("*.c")) if base.is_dir() else ():
        try:
            text = overlay.read_text(p, errors="replace")
        except OSError:
            continue
        if ".ip" in text:
            for name, tuples in parse(text).items():
                out.setdefault(name, tuples)
    return out
