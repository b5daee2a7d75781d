"""Checks that the CPU never returns to user mode with the kernel CR3.

## What it does
Reports an exit to user mode (``sysretq``, ``sysretl``, ``sysexit``, or an
``iretq`` on a path entered from user mode) where CR3 may still hold the
kernel page table.

Message: ``{insn} to user mode with the kernel CR3``.

## Why is this bad?
MODEL 1: the CPU must never return to user mode with the kernel CR3.  That
is the isolation bypass page-table isolation exists to prevent: user code
then runs with the whole kernel mapped, and Meltdown reads it.  Nothing
faults, so no test notices; typically a new exit path (or an early-exit
branch) jumps past ``SWITCH_TO_USER_CR3``.

## Example
```asm
	POP_REGS pop_rdi=0
	swapgs
	sysretq
```

Use instead:
```asm
	POP_REGS pop_rdi=0
	SWITCH_TO_USER_CR3_STACK scratch_reg=%rdi
	swapgs
	sysretq
```

## Options
None.  Paths with PTI off (the alternative skips the switch: one page table)
are not judged; an ``iretq`` back to kernel mode is not an exit to user.

## References
- The first KAISER series (2017), ``SWITCH_TO_USER_CR3`` before every
  ``sysret``/``iret`` to user.
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

PTI_FEATURES = ("X86_FEATURE_PTI", "X86_FEATURE_KAISER")


class ReturnKernelCr3(Finding):
    id = "EL203"
    slug = "return-kernel-cr3"
    severity = Severity.ERROR
    template = "{insn} to user mode with the kernel CR3"


@hookimpl
def entrylint_rules():
    return [RuleInfo.from_module(sys.modules[__name__], ReturnKernelCr3, precision="high",
                                 security_severity=8.0, tags=("security", "pti"))]


@hookimpl
def entrylint_check(analysis, config):
    fw = analysis.forward
    P = analysis.program.instructions
    seen = set()
    for ev in fw.event_list("exit-user"):
        if ev.before.cr3 is not Space.KERNEL or ev.before.pti_off(PTI_FEATURES) or ev.node in seen:
            continue
        seen.add(ev.node)
        ins = P[ev.node]
        key = fw.key_of("exit-user", ev.node, ev.before, ev.detail)
        yield finding(ReturnKernelCr3, analysis, ins, key, insn=ins.canonical or ins.mnemonic)
