"""Checks that per-cpu data is not read or written while GS may be the user's.

## What it does
Reports a %gs-relative memory access (``PER_CPU_VAR(...)``, ``%gs:sym``) on
a path where the GS base may still be the user's: before the entry's
``swapgs``, after the exit's, or on a path that skipped a conditional one.
A selector load (``mov %ax, %gs``, ``pop %gs``) makes it the user's; SVM's
``vmload`` loads GS from a VMCB (a guest's, or after the VM exit the host
save area's) and which one the instruction does not say: the state keeps
the GS it had.

Message: ``%gs access with the user GS`` (32-bit code: ``%fs access with the user FS``).

## Why is this bad?
MODEL 1: per-cpu data is addressed through the GS base, and until ``swapgs``
the GS base is the one user space chose (with FSGSBASE, any value at all).
The access reads or writes through a user-chosen address instead of this
CPU's per-cpu area.  The SYSCALL entry's ``movq %rsp,
PER_CPU_VAR(cpu_tss_rw + TSS_sp2)`` is fine: it comes right after
``swapgs``.

## Example
```asm
entry_SYSCALL_64:
	movq	%rsp, PER_CPU_VAR(cpu_tss_rw + TSS_sp2)
	swapgs
```

Use instead:
```asm
entry_SYSCALL_64:
	swapgs
	movq	%rsp, PER_CPU_VAR(cpu_tss_rw + TSS_sp2)
```

32-bit code has no ``swapgs``: its per-cpu data is addressed through
``%fs``, which the entry loads with the kernel's per-cpu selector
(``movl %edx, %fs`` in ``SAVE_ALL``) and the exit pops back to the
interrupted context's (``popl %fs``); there the state's GS is that of
``%fs``, and a ``%gs:`` access (the user's TLS, the stack canary) is not
per-cpu data.

## Options
None.  Not tied to PTI: judged on every path, except those that assume
Xen PV (``X86_FEATURE_XENPV`` on): there the hypervisor switches the GS base
on every transition (``SWAPGS`` is patched out) and the guest kernel always
runs with its own.  The IDT entry points start with the user GS whatever the
features; on their Xen PV side that start is not possible, so judging it
would report the native exit path (``IBRS_EXIT``) and ``xen_error_entry``.

## References
- MODEL 1 ("No %gs-relative access while GS may still be the user's").
- Debian 6.1 and 6.12, ``arch/x86/entry/*.S``, profiles max, defconfig and
  pti-off: no finding.
"""

from __future__ import annotations

import sys

from entrylint.analysis.regs import abi
from entrylint.analysis.state import ordered
from entrylint.findings.model import Finding, Severity
from entrylint.plugins import hookimpl
from entrylint.plugins.info import RuleInfo
from entrylint.plugins.support import finding, on_user_gs
from entrylint.program.effects import Access
from entrylint.program.operands import Mem


class GsAccessUserGs(Finding):
    id = "EL302"
    slug = "gs-access-user-gs"
    severity = Severity.ERROR
    template = "%{seg} access with the user {SEG}"
    state_fault = ("gs", "user")


@hookimpl
def entrylint_rules():
    return [RuleInfo.from_module(sys.modules[__name__], GsAccessUserGs, precision="high",
                                 security_severity=7.0, tags=("security", "swapgs"))]


@hookimpl
def entrylint_check(analysis, config):
    fw = analysis.forward
    P = analysis.program.instructions
    for node in sorted(fw.before):
        if node >= len(P) or not gs_access(P[node]):
            continue
        users = on_user_gs(fw.before[node])
        if users:  # the first of them in the stated order (only they are ordered: most nodes have none)
            t = ordered(users)[0]
            seg = abi(P[node].mode).percpu_segment
            yield finding(GsAccessUserGs, analysis, P[node], fw.key_at(node, t), seg=seg, SEG=seg.upper())


def gs_access(ins) -> bool:
    """Whether ``ins`` reads or writes per-cpu memory (not ``lea``): through
    %gs in 64-bit code, through %fs in 32-bit code."""
    seg = abi(ins.mode).percpu_segment
    info = ins.info
    if info is not None:
        return any(m.segment == seg and m.access is not Access.ADDRESS for m in info.mem)
    return any(isinstance(op, Mem) and op.seg == seg for op in ins.operands)

