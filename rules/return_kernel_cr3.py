"""Checks that the CPU never returns to user mode with the kernel CR3.

## What it does
Reports an exit to user mode (``sysretq``, ``sysretl``, ``sysexit``, or an
``iretq`` on a path entered from user mode) where CR3 may still hold the
kernel page table.

Message: ``{insn} to user mode with the kernel CR3``.  Where the path
jumps to another file's exit while still on user state (4.4's and 4.9's
INT80 jump to entry_64.S's iret), the finding is at the jump and names the
exit: ``iretq (entry_64.S:510) after jmp restore_regs_and_iret to user mode
with the kernel CR3``.

Also reports an ``iretq`` that returns from a paranoid entry (NMI, #MC,
#DB, #DF) to the kernel context it interrupted when that context had the
user CR3 or the user GS and the state resumed has the kernel's (MODEL 3,
"Returns from paranoid entries"): ``{insn} back to the interrupted context
with the kernel {what} it did not have``.

## Why is this bad?
MODEL 1: the CPU must never return to user mode with the kernel CR3.  That
is the isolation bypass page-table isolation exists to prevent: user code
then runs with the whole kernel mapped, and Meltdown reads it.  Nothing
faults, so no test notices; typically a new exit path (or an early-exit
branch) jumps past ``SWITCH_TO_USER_CR3``.

A paranoid entry can interrupt the kernel in the middle of an exit, after
the user CR3 write and before SWAPGS or the IRET: the interrupted code then
returns to user mode with whatever the NMI left.  If the paranoid exit
leaves the kernel CR3 (no ``RESTORE_CR3`` from the save register) or the
kernel GS, user mode runs on the kernel page table, or the next SWAPGS
gives user space the kernel GS base.

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

and on a paranoid exit, ``RESTORE_CR3 scratch_reg=%rax save_reg=%r14``
(and the saved GS) before the ``iretq``.

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

from entrylint.analysis.state import Feature, Space
from entrylint.findings.model import Finding, Severity
from entrylint.plugins import hookimpl
from entrylint.plugins.info import RuleInfo
from entrylint.plugins.support import finding
from entrylint.program.constants import XENPV
from entrylint.program.effects import Flow

PARANOID_KINDS = ("paranoid", "nmi-repeat")  # analysis/entries.py: entries that may interrupt an exit


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
        if ev.before.cr3 is not Space.KERNEL or ev.before.pti_off() or ev.node in seen:
            continue
        seen.add(ev.node)
        ins = P[ev.node]
        key = fw.key_of("exit-user", ev.node, ev.before, ev.detail)
        # at a jump: another file's exit, named by ``detail`` (its instruction and line)
        insn = f"{ev.detail} after {ins.mnemonic} {ins.target_name}" if ins.info.flow is Flow.JUMP else \
            ins.canonical or ins.mnemonic
        yield finding(ReturnKernelCr3, analysis, ins, key, insn=insn)
    yield from _paranoid_returns(analysis, seen)


class ParanoidReturnState(ReturnKernelCr3):
    template = "{insn} back to the interrupted context with the kernel {what} it did not have"


def _paranoid_returns(analysis, seen):
    """An iret from a paranoid entry must resume the CR3 and GS its arrival had."""
    fw = analysis.forward
    P = analysis.program.instructions
    for (node, before), arrivals in sorted(getattr(fw, "kernel_returns", {}).items(), key=lambda kv: kv[0][0]):
        if node in seen:
            continue
        resumed = fw.resumed(node, before)
        if resumed.feature(XENPV) is Feature.ON:
            continue
        what, key = [], None
        for kind, start in sorted(arrivals, key=str):
            if kind not in PARANOID_KINDS:
                continue
            bad = []
            if start.cr3 is Space.USER and resumed.cr3 is Space.KERNEL and not before.pti_off():
                bad.append("CR3")
            if start.gs is Space.USER and resumed.gs is Space.KERNEL and P[node].mode == 64:
                bad.append("GS")  # (32-bit code has no SWAPGS: its GS is not this question)
            if bad and key is None:  # the path of an arrival that is wronged
                key = getattr(fw, "kernel_return_keys", {}).get((node, before, kind, start))
            what += bad
        if not what:
            continue
        seen.add(node)
        ins = P[node]
        key = key or fw.key_of("return-kernel", node, before, "iret")
        yield finding(ParanoidReturnState, analysis, ins, key, insn=ins.canonical or ins.mnemonic,
                      what=" and ".join(w for w in ("CR3", "GS") if w in what))
