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
a new value, not a read of the old one.  The 32-bit ``SWITCH_TO_KERNEL_CR3``
leaves the CR3 it found in its scratch register: code after it that takes
that value as a CR3 value (tests its user bit, writes it back: the NMI's
restore) uses the result; code that reads the register as anything else
(``SAVE_ALL`` pushing it into pt_regs) wanted the user's value it destroyed.

## References
- The review of the first KAISER patch (2017): "the registers we are
  allowed to clobber can vary"; "NB: right here, all regs except r11 are live."
"""

from __future__ import annotations

import sys
from itertools import islice

from entrylint.analysis.liveness import Procedures
from entrylint.analysis.regs import GPRS, spelled
from entrylint.findings.model import Finding, Severity
from entrylint.plugins import hookimpl
from entrylint.plugins.info import RuleInfo
from entrylint.plugins.support import cr3_operand, finding

from .call_clobbered_read import Search, describe


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
    seen, search = set(), None
    for ev in fw.event_list("cr3-write"):
        if not ev.detail.startswith("pti") or ev.before.pti_off():
            continue
        key = fw.key_of("cr3-write", ev.node, ev.before, ev.detail)
        writes, inside = _scratch_writes(fw, P, key)
        for writer, reg in writes:
            if (writer, reg) in seen:
                continue
            if reg != "rsp" and reg not in analysis.liveness.after(ev.node):
                continue  # (liveness leaves %rsp out: the search below answers for it)
            seen.add((writer, reg))
            search = search or Search(analysis, analysis.procedures or Procedures.build(analysis.program, analysis.cfg))
            reader = search.first(ev.node, reg)
            made = False
            while reader is not None and inside(reader) and reg in reader.info.regs_written:
                # the sequence makes its result in the scratch (the 32-bit
                # SWITCH_TO_KERNEL_CR3: orl $PTI_SWITCH_MASK): who reads it after
                made, reader = True, search.first(reader.index, reg)
            if reader is not None and made and cr3_operand(reader) == reg:
                continue  # the result taken as a CR3 value (its user bit tested, written back)
            if reader is not None and not inside(reader):
                yield finding(LiveScratch, analysis, P[writer], key, reg=spelled(reg, P[writer].mode),
                              reader=describe(reader))


def _scratch_writes(fw, P, key):
    """The registers the switch sequence ending at the CR3 write ``key``
    writes, with the first instruction that writes each: back along the path
    through the instructions of the same invocation (the reviewer's line), or
    for a switch written inline, back to its ``mov %cr3, %reg``; in either
    case it starts at its CR3 read (for a switch inside a bigger macro such
    as 4.x's ``interrupt``, what the macro does before the switch is not the
    switch's scratch).  A saved CR3
    written back with nothing before it (RESTORE_CR3) has no scratch.

    Where the switch macro is expanded inside another macro (4.19+
    ``entry_32.S``: ``SWITCH_TO_USER_CR3`` inside ``PARANOID_EXIT_TO_KERNEL_MODE``),
    the sequence is the innermost invocation holding both the CR3 read and
    the write, not the whole outer macro (whose stack switch is no scratch).
    Also returns ``inside(ins)``: whether an instruction belongs to that
    invocation.  A register the sequence itself reads after its CR3 write
    is its result, not a clobbered scratch (the 32-bit
    ``SWITCH_TO_KERNEL_CR3`` leaves the CR3 it found in ``scratch_reg``)."""
    write = P[key[0]]
    inline = len(write.trace) == 1
    # back from the write to its CR3 read (or the entry): both scans below
    # stop there at the latest (fork nodes: inside the sequence)
    nodes = []
    for n, _t, _how in islice(fw.back(key), 1, None):
        if n < len(P):
            nodes.append(n)
            if P[n].info is not None and P[n].info.cr3_read:
                break
    depth = 1
    if not inline:
        outer = (write.location, write.trace[:1])
        for n in nodes:
            ins = P[n]
            if (ins.location, ins.trace[:1]) != outer:
                break
            if ins.info is not None and ins.info.cr3_read:
                depth = max(1, _common(ins.trace[:-1], write.trace[:-1]))
                break
    line = (write.location, write.trace[:depth])

    def inside(ins) -> bool:
        return not inline and (ins.location, ins.trace[:depth]) == line and ins.index > write.index

    span = []
    for node in nodes:
        ins = P[node]
        if not inline and (ins.location, ins.trace[:depth]) != line:
            break
        span.append(node)
        if ins.info is not None and ins.info.cr3_read:
            break  # the switch starts where it reads CR3 (an IDT-entry macro may hold it)
    first: dict[str, int] = {}
    for node in reversed(span):  # in program order: the first writer of each register
        info = P[node].info
        if info is None:
            continue
        for reg in sorted(info.regs_written - info.regs_partial - info.regs_cond_written):
            if reg in GPRS and (reg != "rsp" or info.cr3_read or info.op is not None and P[node].info.dst == "rsp"
                                and not _stack_op(info)):
                first.setdefault(reg, node)
    return sorted((n, r) for r, n in first.items()), inside


def _common(a, b) -> int:
    """The length of the common prefix of two expansion traces."""
    k = 0
    while k < len(a) and k < len(b) and a[k] == b[k]:
        k += 1
    return k


def _stack_op(info) -> bool:
    """push/pop/call adjust %rsp as a stack pointer, not as a scratch."""
    from entrylint.program.effects import DataOp

    return info.op in (DataOp.PUSH, DataOp.POP) or info.flow.name in ("CALL", "RET", "INDIRECT_CALL")
