"""Checks that the register saving CR3 across a paranoid entry survives until the restore.

## What it does
A paranoid entry (NMI, #MC, #DB, #DF) may interrupt the kernel anywhere,
even in the middle of a switch, so it saves the CR3 it found in a register
(``SAVE_AND_SWITCH_TO_KERNEL_CR3 scratch_reg=%rax save_reg=%r14``) and writes
it back on the way out (``RESTORE_CR3 save_reg=%r14``).  This rule reports
the instruction that overwrites that register between the save and the
restore, on a path where the CR3 write then no longer writes the saved
value: the register holds no CR3 value any more (``xorl %r14d, %r14d``, a
C call that clobbers it), or the current page table was loaded over the
other one it held (``movq %cr3, %r14`` after the switch: the restore then
restores nothing).  The restore is the CR3 write from the register, or a
test of its bits before one (6.12's ``PARANOID_RESTORE_CR3`` writes nothing
when the saved value is the kernel's).  A CR3 value the register had
already written back to CR3 waited for no restore: a TLB flush's scratch
loaded later with a page table by name (32-bit hibernation's
``movl $swapper_pg_dir, %eax``) is a load (MODEL 3.1), not a save lost; nor
is one the register had stored to memory before a load gave it another
value: the CR3 write then loads that value, which does not derive from the
current CR3 (MODEL 3.1), and the save waits in memory (4.4's ``efi_call``
keeps the CR3 it found in ``efi_scratch``, loads the EFI page table into the
register, and restores from memory).  A copy in memory does not excuse a
register the restore still reads: a call or an ``xor`` over it is reported.

Message: ``%r14 holds the CR3 saved for the restore at entry_64.S:1421, but
xorl %r14d, %r14d overwrites it``.

## Why is this bad?
The restore would write garbage to CR3 (MODEL 1): a wrong page table, or
the kernel's one left in place on the way back to an interrupted exit that
had already switched to the user's.  The first page-table isolation series
picked %r14 because "it will not be clobbered by the C NMI handlers that get
called" (callee-saved); any caller-saved register, or a later use of the
same register as scratch, breaks that.

## Example
```asm
	SAVE_AND_SWITCH_TO_KERNEL_CR3 scratch_reg=%rax save_reg=%r11
	call	exc_nmi			/* clobbers %r11 */
	RESTORE_CR3 scratch_reg=%rbx save_reg=%r11
```

Use instead:
```asm
	SAVE_AND_SWITCH_TO_KERNEL_CR3 scratch_reg=%rax save_reg=%r14
	call	exc_nmi			/* %r14 is callee-saved */
	RESTORE_CR3 scratch_reg=%rbx save_reg=%r14
```

## Options
None.  Paths with PTI off are not judged.  One path per restore and state
is examined (the first the forward walk found), so a clobber on a second
path that reaches the restore in the very same state is reported only
after the first one is fixed.

## References
- The first KAISER patch (2017): "we depend on the *regular* register
  save/restore mechanism and then use %r14 to keep CR3 during the NMI".
"""

from __future__ import annotations

import sys

from entrylint.analysis.regs import spelled
from entrylint.analysis.state import ordered
from entrylint.findings.model import Finding, Severity
from entrylint.program.effects import DataOp
from entrylint.plugins import hookimpl
from entrylint.plugins.info import RuleInfo
from entrylint.plugins.support import cr3_operand, finding, last_change

_LOADS = (DataOp.MOVE, DataOp.POP, DataOp.XCHG)  # what replaces a register's value whole


class SaveRegClobbered(Finding):
    id = "EL102"
    slug = "save-reg-clobbered"
    severity = Severity.ERROR
    template = "%{reg} holds the CR3 saved for the restore at {restore}, but {clobber} overwrites it"


@hookimpl
def entrylint_rules():
    return [RuleInfo.from_module(sys.modules[__name__], SaveRegClobbered, precision="high",
                                 security_severity=6.0, tags=("pti", "registers"))]


@hookimpl
def entrylint_check(analysis, config):
    if not config.is_enabled(SaveRegClobbered.id):
        return
    fw, P = analysis.forward, analysis.program.instructions
    seen = set()
    for node, t, reg, key in _restores(fw, P):
        if not _cr3(t, reg):  # the register no longer holds a CR3 value
            clobber = last_change(analysis, key, ("save-reg-clobbered", reg),
                                  lambda t, u, reg=reg: _cr3(t, reg) and not _cr3(u, reg))
            if clobber is not None and _written_back(fw, P, key, clobber, reg):
                clobber = None  # a CR3 value already written back: no save waited in it
            elif clobber is not None and getattr(P[clobber].info, "op", None) in _LOADS \
                    and _stored(fw, P, key, clobber, reg):
                clobber = None  # kept in memory, and the register loaded with another value
        elif t.holds(reg) == f"cr3:{t.cr3.value}":  # the page table loaded now: was it loaded over the other?
            clobber = last_change(analysis, key, ("save-reg-replaced", reg), lambda t, u, reg=reg: _cr3(
                t, reg) and t.holds(reg) != u.holds(reg) == f"cr3:{u.cr3.value}")
            if clobber is not None and getattr(P[clobber].info, "op", None) not in _LOADS:
                clobber = None  # its user bit set or cleared: a switch computing its value
        else:
            continue  # the other page table: a switch, or a restore that restores
        restore = P[node].location.short()
        if clobber is None or (clobber, restore) in seen:
            continue  # no clobber on the way (a register that never held a CR3 value is no saved CR3)
        seen.add((clobber, restore))
        yield finding(SaveRegClobbered, analysis, P[clobber], key, reg=spelled(reg, P[clobber].mode),
                      clobber=P[clobber].text, restore=restore)


def _restores(fw, P):
    """(node, tuple, register, key) of each use of a saved CR3 on the walk's
    paths: a CR3 write from a register (in the walk's order), then a test of
    the bits of a CR3 value in one (in node order: 6.12's
    PARANOID_RESTORE_CR3 tests the saved value's user bit and writes nothing
    when it is the kernel's)."""
    for ev in fw.event_list("cr3-write"):
        reg = cr3_operand(P[ev.node])
        if not ev.before.pti_off() and reg not in (None, "rsp"):  # (boot-style loads; %rsp is a scratch)
            yield ev.node, ev.before, reg, fw.key_of("cr3-write", ev.node, ev.before, ev.detail)
    tests = []
    for node in sorted(n for n in fw.before if n < len(P)):
        if P[node].info is None or P[node].info.cr3_write:
            continue  # (a CR3 write: its event, above)
        reg = cr3_operand(P[node])
        if reg not in (None, "rsp"):
            tests.append((node, reg))
    keys = fw.keys_at(node for node, _ in tests)
    for node, reg in tests:
        for t in ordered(fw.before[node]):
            if _cr3(t, reg) and not t.pti_off():
                yield node, t, reg, keys.get((node, t))


def _written_back(fw, P, key, clobber: int, reg: str) -> bool:
    """Whether, on the path to ``key``, the CR3 value ``reg`` held before
    ``clobber`` had been written to CR3 from ``reg`` itself since it got it:
    a TLB flush (``movl %cr3, %eax; movl %eax, %cr3``) leaves a CR3 value in
    its scratch, and 32-bit hibernation loads a page table by name into that
    register later -- a load (MODEL 3.1), not a saved CR3 lost."""
    return _since_got(fw, P, key, clobber, reg, lambda ins: ins.info.cr3_write and cr3_operand(ins) == reg)


def _stored(fw, P, key, clobber: int, reg: str) -> bool:
    """Whether, on the path to ``key``, ``reg`` had stored the CR3 value it
    held to memory (``movq %r15, efi_scratch+8(%rip)``, a push) before the
    load at ``clobber`` replaced it: the save is kept there, and a restore
    reads it back from there (4.4's efi_call)."""
    return _since_got(fw, P, key, clobber, reg, lambda ins: ins.info.src == reg and (
        ins.info.op is DataOp.MOVE and ins.info.dst_mem is not None or ins.info.op is DataOp.PUSH))


def _since_got(fw, P, key, clobber: int, reg: str, does) -> bool:
    """Whether an instruction on the path to ``key`` between where ``reg``
    got the CR3 value it held before ``clobber`` and ``clobber`` ``does``."""
    past = False
    for node, t, _how in fw.back(key):
        if not past:
            past = node == clobber
            continue
        if not _cr3(t, reg):
            return False  # where it got the value: nothing on the way did
        if node < len(P) and P[node].info is not None and does(P[node]):
            return True
    return False


def _cr3(t, reg) -> bool:
    """``reg`` holds a CR3 value in ``t`` (the last step after which it
    stopped is the clobber)."""
    return (t.holds(reg) or "").startswith("cr3:")
