"""Checks that the scratch register of a CR3 switch holds no live value.

## What it does
Reports a PTI CR3 switch (``mov %cr3, %reg`` ... ``mov %reg, %cr3``) whose
scratch register is still live after the switch: some path reads it before
writing it, so the value it held before ``mov %cr3, %reg`` was needed.  An
exit to user mode reads every register, so a user register that was not
saved into ``pt_regs`` first counts as live.

Message: ``%rdi is live here but the CR3 switch uses it as scratch (read later by
pushq %rdi)``.

## Why is this bad?
The switch destroys the scratch register.  "The registers we are allowed to
clobber can vary" (the review of the first KAISER patch, MODEL 1, 4): on
entry every user register is live until it is pushed, on exit every
register restored for user space is.  Clobbering one corrupts a user
register or a value the kernel reads later.

## Example
```asm
	swapgs
	SWITCH_TO_KERNEL_CR3 scratch_reg=%rdi
	pushq	%rdi			/* pt_regs->di: already the CR3 value */
```

Use instead:
```asm
	swapgs
	pushq	%rdi			/* pt_regs->di */
	SWITCH_TO_KERNEL_CR3 scratch_reg=%rdi
```

## Options
None.  Paths with PTI off are not judged (the switch is skipped).  %rsp as
scratch is fine where the next use of %rsp loads it (the SYSCALL entry of
4.15+ saves the user's %rsp first, then loads the task stack).  A value
that only reaches a later C call is not counted (which argument registers a
function reads is not known), and a partial write (``movb $0xfc, %al;
shl $56, %rax``, the call-depth reset after the switch in 6.2+) counts as
a new value, not a read of the old one.

## References
- The review of the first KAISER patch (2017): "the registers we are
  allowed to clobber can vary"; "NB: right here, all regs except r11 are live."
"""

from __future__ import annotations

import sys

from entrylint.analysis.liveness import Procedures
from entrylint.findings.model import Finding, Severity
from entrylint.plugins import hookimpl
from entrylint.plugins.info import RuleInfo
from entrylint.plugins.support import finding

from .call_clobbered_read import describe, first_reader

PTI = ("X86_FEATURE_PTI", "X86_FEATURE_KAISER")


class LiveScratch(Finding):
    id = "EL101"
    slug = "live-scratch"
    severity = Severity.ERROR
    template = "%{reg} is live here but the CR3 switch uses it as scratch (read later by {reader})"


@hookimpl
def entrylint_rules():
    return [RuleInfo.from_module(sys.modules[__name__], LiveScratch, precision="high",
                                 security_severity=6.0, tags=("pti", "registers"))]


@hookimpl
def entrylint_check(analysis, config):
    if not config.is_enabled(LiveScratch.id) or analysis.liveness is None:
        return
    fw, P = analysis.forward, analysis.program.instructions
    seen, procs = set(), None
    for ev in fw.event_list("cr3-write"):
        if not ev.detail.startswith("pti") or ev.before.pti_off(PTI):
            continue
        reg = P[ev.node].info.src
        if reg is None or reg != "rsp" and reg not in analysis.liveness.after(ev.node):
            continue  # (liveness leaves %rsp out: the search below answers for it)
        key = fw.key_of("cr3-write", ev.node, ev.before, ev.detail)
        read = _scratch_read(fw, P, key)
        if read is None or P[read].info.dst != reg or (read, reg) in seen:
            continue  # a saved CR3 written back (RESTORE_CR3): no scratch
        seen.add((read, reg))
        procs = procs or Procedures.build(analysis.program, analysis.cfg)
        reader = first_reader(analysis, procs, ev.node, reg)
        if reader is not None:
            yield finding(LiveScratch, analysis, P[read], key, reg=reg, reader=describe(reader))


def _scratch_read(fw, P, key) -> int | None:
    """The last ``mov %cr3, %reg`` on the path to the CR3 write ``key``."""
    for node, _t, _how in reversed(fw.path(key)[:-1]):
        if node < len(P) and P[node].info is not None and P[node].info.cr3_read:
            return node
    return None
