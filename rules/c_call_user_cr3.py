"""Checks that no C function is called while CR3 holds the user page table.

## What it does
Reports a ``call`` (or a tail-call ``jmp``) to a C function on a path where
CR3 may still hold the user page table: the C code, its stack and its data
are not mapped there.

Message: ``call to {callee}() with the user CR3``.

Which callees are judged: with a kernel tree (``--root``), every name but
the asm symbols the tree's own ``.S`` files define (``entry_untrain_ret``,
``__x86_return_thunk``, ``error_entry`` of another file...: they live in
``.entry.text``, which is mapped for user); names the tree's C index
(``analysis/cindex.py``) knows are C in any case.  Without a tree every named callee outside the analysed file
is taken for C.  Indirect calls (``call *%rax``) are not judged: their
target is unknown.

## Why is this bad?
MODEL 1: nothing but user-mapped memory may be touched while CR3 holds the
user page table.  A C function runs from ``.text`` on the kernel stack; with
the user CR3 the first instruction faults (or, worse, works only on some
configurations).  The historic case is ``TRACE_IRQS_OFF``, a C call that
only exists with ``CONFIG_TRACE_IRQFLAGS=y``, placed before
``SWITCH_TO_KERNEL_CR3``: the fault shows only in debug builds.

## Example
```asm
entry_SYSCALL_64:
	swapgs
	call	trace_hardirqs_off
	SWITCH_TO_KERNEL_CR3 scratch_reg=%rsp
```

Use instead:
```asm
entry_SYSCALL_64:
	swapgs
	SWITCH_TO_KERNEL_CR3 scratch_reg=%rsp
	call	trace_hardirqs_off
```

## Options
None.  Paths with PTI off (one page table) are not judged.

## References
- The review of the first KAISER series (2017): CR3 switches "before we
  leave assembly code"; TRACE_IRQS_OFF before the switch faulted with
  CONFIG_TRACE_IRQFLAGS.
- Debian 6.1 and 6.12, ``arch/x86/entry/*.S``, profiles max, defconfig and
  pti-off: no finding.
"""

from __future__ import annotations

import sys

from entrylint.analysis.state import Space
from entrylint.findings.model import Finding, Severity
from entrylint.plugins import hookimpl
from entrylint.plugins.info import RuleInfo
from entrylint.plugins.support import finding


class CCallUserCr3(Finding):
    id = "EL201"
    slug = "c-call-user-cr3"
    severity = Severity.ERROR
    template = "call to {callee}() with the user CR3"
    state_fault = ("cr3", "user")


@hookimpl
def entrylint_rules():
    return [RuleInfo.from_module(sys.modules[__name__], CCallUserCr3, precision="high",
                                 security_severity=7.0, tags=("security", "pti"))]


@hookimpl
def entrylint_check(analysis, config):
    fw = analysis.forward
    P = analysis.program.instructions
    is_c = _c_functions(analysis)
    seen = set()
    for ev in fw.event_list("c-call"):
        t = ev.before
        if t.cr3 is not Space.USER or t.pti_off() or ev.detail == "*":
            continue
        if not is_c(ev.detail) or ev.node in seen:
            continue
        seen.add(ev.node)
        key = fw.key_of("c-call", ev.node, t, ev.detail)
        yield finding(CCallUserCr3, analysis, P[ev.node], key, callee=ev.detail)


def _c_functions(analysis):
    """name -> is it a C function?  All names without a tree."""
    root = analysis.expansion.root
    if root is None:
        return lambda name: True
    try:
        from entrylint.analysis.cindex import cached_index

        index = cached_index(root)
    except Exception:  # noqa: BLE001 - no tree-sitter, unreadable tree: judge every name
        return lambda name: True
    if index.empty():  # a root without the C sources (a header-only tree)
        return lambda name: True
    from entrylint.analysis.asmindex import asm_symbols

    asm = asm_symbols(root)
    # a name the C index knows is C; one the tree's asm defines is asm; any
    # other name (static inlines, functions outside the indexed folders) is C
    return lambda name: name in index or name not in asm
