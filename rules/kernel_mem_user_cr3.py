"""Checks that only user-mapped memory is touched while CR3 holds the user page table.

## What it does
Reports a memory access on a path where CR3 may hold the user page table,
when the memory is not mapped there:

- a stack access (``push``, ``pop``, ``call``, an %rsp-based operand) while
  %rsp points at the task stack (mapped for user only in the first KAISER
  series, which mapped every thread stack; not since 4.15);
- a %gs-relative (per-cpu) access, with the kernel GS, to a variable that
  is not user-mapped: in a tree that declares per-cpu variables user-mapped
  (the 4.4/4.9 KAISER backport's ``DEFINE_PER_CPU_USER_MAPPED``), one it
  does not declare so -- its declarations are the whole list, and
  ``rsp_scratch`` or ``cpu_current_top_of_stack`` read before
  ``SWITCH_KERNEL_CR3`` faults there; elsewhere (4.15+ maps per-cpu data
  only through ``cpu_entry_area``; a file read without its tree) one the
  memory model does not list (4.15+: ``cpu_tss_rw``, ``cpu_entry_area``);
- an access to an absolute or %rip-relative symbol that this file defines
  outside ``.entry.text`` (entry text is mapped for user) and that no list
  names as user-mapped.

Message: ``access to {what} with the user CR3``.

What is *not* judged, to stay quiet on correct code: accesses through other
registers (the pointer is unknown); stack accesses while the stack is
unknown (%rsp loaded from a place the memory model does not know) or the
user's (``user-stack-access``); %gs accesses with the user GS
(``gs-access-user-gs``); absolute symbols of other files (their section is
unknown here).
Stack accesses on paths entered from kernel mode are not judged either: the
CPU delivers such an exception on the stack it interrupted, and the
analysis' stack field there is a stand-in (the interrupted exit runs on the
entry stack, not the task stack the entry table assumes; ``vc_switch_off_ist``
is modelled as always returning the task stack).

## Why is this bad?
MODEL 1 and 5: with the user CR3 only the entry text, the entry and IST
stacks and a few per-cpu areas are mapped.  Anything else faults -- or,
with a configuration that happens to map it, works, so the bug hides until
another machine or config.

## Example
```asm
entry_SYSCALL_64:
	swapgs
	movq	%rsp, PER_CPU_VAR(cpu_tss_rw + TSS_sp2)
	movq	PER_CPU_VAR(pcpu_hot + X86_top_of_stack), %rsp
	pushq	$__USER_DS
	SWITCH_TO_KERNEL_CR3 scratch_reg=%rdi
```

Use instead:
```asm
entry_SYSCALL_64:
	swapgs
	movq	%rsp, PER_CPU_VAR(cpu_tss_rw + TSS_sp2)
	SWITCH_TO_KERNEL_CR3 scratch_reg=%rsp
	movq	PER_CPU_VAR(pcpu_hot + X86_top_of_stack), %rsp
	pushq	$__USER_DS
```

## Options
- ``user-mapped`` (list of symbols): more symbols mapped in the user page
  tables, added to the memory model's list (analysis/memory.py, which has
  e.g. ``x86_verw_sel``, read by ``CLEAR_CPU_BUFFERS`` after the switch).

Paths with PTI off (one page table) are not judged.

## References
- Page-table isolation (4.15): since then the task stack is not mapped
  for user; entry code runs on the per-cpu entry (trampoline) stack until
  ``SWITCH_TO_KERNEL_CR3``.
- Debian 6.1 and 6.12, ``arch/x86/entry/*.S``, profiles max, defconfig and
  pti-off: no finding.
"""

from __future__ import annotations

import re
import sys

from entrylint.analysis.memory import StackKind, model_of
from entrylint.analysis.regs import abi
from entrylint.analysis.state import Origin, Space, Stack, ordered
from entrylint.findings.model import Finding, Severity
from entrylint.plugins import hookimpl
from entrylint.plugins.info import RuleInfo
from entrylint.plugins.support import finding
from entrylint.program.effects import Access
from entrylint.program.operands import Mem


class KernelMemUserCr3(Finding):
    id = "EL202"
    slug = "kernel-mem-user-cr3"
    severity = Severity.ERROR
    template = "access to {what} with the user CR3"
    state_fault = ("cr3", "user")


@hookimpl
def entrylint_rules():
    return [RuleInfo.from_module(sys.modules[__name__], KernelMemUserCr3, precision="medium",
                                 security_severity=6.0, tags=("security", "pti"))]


@hookimpl
def entrylint_check(analysis, config):
    fw = analysis.forward
    program = analysis.program
    P = program.instructions
    model = model_of(program)
    extra = set(config.option("kernel-mem-user-cr3", "user-mapped", ()))
    declared = frozenset(getattr(analysis, "user_mapped", ()))  # the tree's DEFINE_PER_CPU_USER_MAPPED
    for node in sorted(fw.before):
        if node >= len(P) or P[node].info is None or not P[node].info.mem:
            continue
        # the tuples with the user CR3, PTI on, in the stated order (only
        # they are ordered: most nodes have none)
        for t in ordered([t for t in fw.before[node] if t.cr3 is Space.USER and not t.pti_off()]):
            what = _unmapped(P[node], t, model, extra, declared, program)
            if what is not None:
                yield finding(KernelMemUserCr3, analysis, P[node], fw.key_at(node, t), what=what)
                break


def _unmapped(ins, t, model, extra, declared, program) -> str | None:
    """What ``ins`` touches that the user page table does not map, on ``t``."""
    for m in ins.info.mem:
        if m.access is Access.ADDRESS:
            continue
        if m.rsp_relative:
            if t.origin is Origin.USER and t.stack not in (Stack.UNKNOWN, Stack.USER) \
                    and not model.stack_user_mapped(StackKind(t.stack.value)):
                return f"the {t.stack.value} stack"
        elif m.segment == abi(ins.mode).percpu_segment:
            text = _disp(ins, gs=True)
            if t.gs is Space.KERNEL and text and not _percpu_mapped(text, model, extra, declared):
                return f"per-cpu {text}"
        elif m.base is None:
            text = _disp(ins, gs=False)
            names = _names(text)
            if text and not (model.is_user_mapped(text) or names & extra or names & declared):
                where = {_section(program, n) for n in names} - {""}
                if where and not any(s.startswith(".entry.text") for s in where):
                    return text
    return None


def _percpu_mapped(text: str, model, extra: set, declared: frozenset) -> bool:
    """Whether the per-cpu variable ``text`` names is mapped in the user
    page table: a tree that declares per-cpu variables user-mapped (KAISER)
    says which; in one that declares none, or without a tree, the memory
    model's list does.  The ``user-mapped`` option adds to either."""
    names = _names(text)
    if names & extra:
        return True
    return bool(names & declared) if declared else model.is_user_mapped(text)


def _names(text: str) -> set[str]:
    return set(re.findall(r"[A-Za-z_.$][\w.$]*", text))


def _section(program, name) -> str:
    """The section this file defines ``name`` in ("" when it does not)."""
    sym = program.symbols.get(name)
    if sym is not None:
        return sym.section
    i = program.labels.get(name)
    return program.instructions[i].section if i is not None and i < len(program.instructions) else ""


def _disp(ins, gs: bool) -> str:
    for op in ins.operands:
        if isinstance(op, Mem) and (op.seg == abi(ins.mode).percpu_segment) == gs \
                and (gs or op.base in (None, "rip")):
            return " ".join(op.disp.split())
    return ""


