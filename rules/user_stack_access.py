"""Checks that nothing touches the stack while %rsp is still the user's.

## What it does
Reports a stack access (``push``, ``pop``, ``call``, ``ret``, or a memory
operand based on %rsp) on a path where %rsp may still hold the user's stack
pointer: right after ``SYSCALL``, until the entry code loads a kernel stack.
``lea`` only computes an address and is not an access.

Message: ``stack access with the user %rsp`` (``%esp`` in 32-bit code).

32-bit code: the SYSENTER entry (``entry_SYSENTER_32``) starts on the stack
``MSR_IA32_SYSENTER_ESP`` names and loads the task stack from the TSS next
to it (the memory model's ``TSS_entry2task_stack`` / ``TSS_sysenter_sp0``);
``int $0x80`` and the IDT vectors start on the TSS's stack.  Neither is the
user's.

## Why is this bad?
MODEL 1: SYSCALL does not switch stacks; %rsp is whatever user space left in
it.  A push writes kernel data to a user-chosen address (or faults on a
bad one, with no stack to handle the fault on), a pop reads a user-chosen
value.  The SYSCALL entry must first save %rsp to a scratch slot and load
the entry or task stack.

## Example
```asm
entry_SYSCALL_64:
	swapgs
	pushq	%rdi
	movq	%rsp, PER_CPU_VAR(cpu_tss_rw + TSS_sp2)
```

Use instead:
```asm
entry_SYSCALL_64:
	swapgs
	movq	%rsp, PER_CPU_VAR(cpu_tss_rw + TSS_sp2)
	SWITCH_TO_KERNEL_CR3 scratch_reg=%rsp
	movq	PER_CPU_VAR(pcpu_hot + X86_top_of_stack), %rsp
	pushq	%rdi
```

## Options
None.  The stack is known from the entry point (SYSCALL starts on the user
stack) and from loads of %rsp from places the memory model knows.

## References
- MODEL 1 ("No stack access while %rsp still holds the user's stack pointer").
- Debian 6.1 and 6.12, ``arch/x86/entry/*.S``, profiles max, defconfig and
  pti-off: no finding.
"""

from __future__ import annotations

import sys

from entrylint.analysis.regs import spelled
from entrylint.analysis.state import Stack, ordered
from entrylint.findings.model import Finding, Severity
from entrylint.plugins import hookimpl
from entrylint.plugins.info import RuleInfo
from entrylint.plugins.support import finding
from entrylint.program.effects import Access


class UserStackAccess(Finding):
    id = "EL204"
    slug = "user-stack-access"
    severity = Severity.ERROR
    template = "stack access with the user %{sp}"


@hookimpl
def entrylint_rules():
    return [RuleInfo.from_module(sys.modules[__name__], UserStackAccess, precision="high",
                                 security_severity=7.0, tags=("security", "stack"))]


@hookimpl
def entrylint_check(analysis, config):
    fw = analysis.forward
    P = analysis.program.instructions
    for node in sorted(fw.before):
        if node >= len(P) or not _touches_stack(P[node]):
            continue
        users = [t for t in fw.before[node] if t.stack is Stack.USER]
        if users:  # the first of them in the stated order (only they are ordered: most nodes have none)
            t = ordered(users)[0]
            yield finding(UserStackAccess, analysis, P[node], fw.key_at(node, t), sp=spelled("rsp", P[node].mode))


def _touches_stack(ins) -> bool:
    mem = ins.info.mem if ins.info is not None else ()
    return any(m.rsp_relative and m.access is not Access.ADDRESS for m in mem)

