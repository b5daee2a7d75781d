"""What may be touched while CR3 holds the user page table (MODEL 5), and
what a load of %rsp from a named place means for the stack field (MODEL 3).

A ``MemoryModel`` is plain data, one per macro family (``FAMILIES``), and is
configurable (``with_overrides``).  It is matched against the *displacement
text* of a memory operand after preprocessing, which comes in two shapes
(seen in ``entrylint expand`` of 6.1/6.12 entry_64.S):

- symbolic, without a build: ``cpu_tss_rw + TSS_sp0``, ``(pcpu_hot + X86_top_of_stack)``;
- numeric, with a build's asm-offsets.h: ``(cpu_tss_rw + 4)``, ``(pcpu_hot + 24)``.

A pattern is ``SYMBOL`` or ``SYMBOL+FIELD``.  ``SYMBOL+FIELD`` matches when the
symbol is present and either FIELD is, or the offset is numeric and equals
``FIELD_OFFSETS[FIELD]``, or FIELD has no fixed offset (it depends on the
config, like ``X86_top_of_stack``: 16 or 24) and the only other term is a
number.

Facts for ``pti`` (4.15+, checked in 6.1 and 6.12):

- ``cpu_tss_rw`` is user-mapped: arch/x86/mm/pti.c ``pti_clone_user_shared()``
  maps each CPU's first page of it ("The SYSCALL64 entry code needs one word of
  scratch space ... in the sp2 slot"), and clones the ``CPU_ENTRY_AREA`` (GDT,
  entry stack, TSS alias, IST stacks: asm/cpu_entry_area.h).
- TSS.sp0 on x86_64 "always points to the entry trampoline stack"
  (asm/switch_to.h; cpu/common.c loads ``cpu_entry_stack(cpu) + 1``), except
  under Xen PV, which enters on the thread stack (no PTI there, MODEL 3).
- TSS.sp2 is scratch for the user %rsp in entry_SYSCALL_64 (asm/processor.h).
- ``pcpu_hot.top_of_stack`` (6.2+) / ``cpu_current_top_of_stack`` (..6.1)
  hold the top of the task stack.
- x86_64 TSS offsets are the hardware layout: sp0 at 4, sp1 at 12, sp2 at 20.

Assumptions (no source here; override in the configuration):

- ``pti``: TSS.sp1 held the task stack top on x86_64 4.15..5.x
  (``cpu_current_top_of_stack`` was ``cpu_tss_rw.x86_tss.sp1``).
- ``kaiser-v1`` / ``kaiser-4.4``: before the trampoline stack, TSS.sp0 is the
  task stack top; the task stacks themselves were mapped for user (KAISER
  mapped each thread stack), so TASK counts as user-mapped; the 4.4 backport
  spills a register to per-cpu ``unsafe_stack_register_backup``, which is
  user-mapped.  The per-cpu user-mapped lists are what those entry paths
  touch before their switch, not a full list, and stand only for a file
  read without a tree that declares its own: a tree that declares per-cpu
  variables with ``DEFINE_PER_CPU_USER_MAPPED`` (analysis/treefacts.py,
  ``Analysis.user_mapped``) says which are mapped
  (rules/kernel_mem_user_cr3.py).  The seed's list names ``rsp_scratch``
  and ``cpu_current_top_of_stack``; the 4.4/4.9 backport's does not: those
  trees define both with plain ``DEFINE_PER_CPU`` (their SYSCALL entry
  switches with ``SWITCH_KERNEL_CR3_NO_STACK`` before it reads them).
"""

from __future__ import annotations

import enum
import re
from dataclasses import replace
from typing import Iterable

from entrylint.source.record import data


class StackKind(str, enum.Enum):
    USER = "user"  # untrusted %rsp, e.g. right after SYSCALL
    ENTRY = "entry"  # user-mapped entry/trampoline stack
    TASK = "task"  # the task's kernel stack
    IST = "ist"  # an IST stack
    UNKNOWN = "unknown"


# Fixed offsets of asm-offsets names, for numeric displacements (x86_64 TSS:
# u32 reserved1; u64 sp0, sp1, sp2 — packed, the hardware layout).
FIELD_OFFSETS: dict[str, int] = {"TSS_sp0": 4, "TSS_sp1": 12, "TSS_sp2": 20}

_TERM_RE = re.compile(r"[A-Za-z_.$][\w.$]*|0[xX][0-9a-fA-F]+|\d+|[-+]")


def _terms(disp: str) -> tuple[set[str], int | None]:
    """(identifiers, numeric offset or None) of a displacement text like
    ``%gs:(cpu_tss_rw + 4)(%rip)``."""
    text = re.sub(r"%\w+:?", " ", disp)  # segment prefixes and registers
    names: set[str] = set()
    total, have, sign = 0, False, 1
    for t in _TERM_RE.findall(text):
        if t in "+-":
            sign = -1 if t == "-" else 1
        elif t[0].isdigit():
            total += sign * int(t, 0)
            have, sign = True, 1
        else:
            names.add(t)
            sign = 1
    return names, (total if have else None)


def _first(table, disp_text: str) -> StackKind | None:
    """The kind of the first (pattern, kind) of ``table`` that matches ``disp_text``."""
    names, offset = _terms(disp_text)
    return next((kind for pattern, kind in table if _matches(pattern, names, offset)), None)


def _matches(pattern: str, names: set[str], offset: int | None) -> bool:
    sym, _, fieldname = pattern.replace(" ", "").partition("+")
    if sym not in names:
        return False
    if not fieldname:
        return True
    if fieldname in names:
        return True
    if offset is None or names - {sym}:
        return False
    want = FIELD_OFFSETS.get(fieldname)
    return want is None or want == offset


@data(frozen=True)
class MemoryModel:
    family: str
    user_mapped: frozenset[str]  # symbols (per-cpu or global) mapped in the user page tables
    stack_loads: tuple[tuple[str, StackKind], ...]  # (pattern, kind) for `mov PATTERN, %rsp`, first match wins
    task_stack_returning: frozenset[str]  # functions returning a pointer on the task stack (mov %rax, %rsp after)
    user_mapped_stacks: frozenset[StackKind] = frozenset({StackKind.ENTRY, StackKind.IST})
    # functions that rewrite the interrupted frame into a user-mode one (the
    # bad-IRET fixup: the exception then looks as if it came from user mode)
    user_frame_returning: frozenset[str] = frozenset({"fixup_bad_iret"})
    # (pattern, kind): a per-cpu variable holding the address of the area a
    # stack of that kind lies in, for ``mov PATTERN, %reg``: 32-bit entry
    # code asks whether %esp is on the entry stack as (an address in the
    # area) - %esp < the stack's size (entry_32.S SWITCH_TO_KERNEL_STACK,
    # the NMI entry)
    stack_areas: tuple[tuple[str, StackKind], ...] = ()
    note: str = ""

    def stack_for_load(self, disp_text: str) -> StackKind | None:
        """The stack %rsp points at after ``mov DISP, %rsp``; None when unknown."""
        return _first(self.stack_loads, disp_text)

    def area_for_load(self, disp_text: str) -> StackKind | None:
        """The stack whose area ``mov DISP, %reg`` loads an address in; None when none."""
        return _first(self.stack_areas, disp_text)

    def is_user_mapped(self, disp_text: str) -> bool:
        """Whether a memory operand naming ``disp_text`` may be touched with
        the user CR3 (by the symbol it names; stacks are judged by state)."""
        names, offset = _terms(disp_text)
        return any(_matches(p, names, offset) for p in self.user_mapped)

    def stack_user_mapped(self, kind: StackKind) -> bool:
        return kind in self.user_mapped_stacks

    def with_overrides(self, **kw) -> "MemoryModel":
        """A copy with fields replaced (iterables are converted); unknown keys
        raise TypeError.  ``stack_loads`` may be a mapping pattern -> kind name."""
        conv = {}
        for k, v in kw.items():
            if k in ("user_mapped", "task_stack_returning", "user_frame_returning"):
                v = frozenset(v)
            elif k == "user_mapped_stacks":
                v = frozenset(StackKind(x) for x in v)
            elif k in ("stack_loads", "stack_areas"):
                items = v.items() if hasattr(v, "items") else v
                v = tuple((p, StackKind(s)) for p, s in items)
            conv[k] = v
        return replace(self, **conv)


_TASK_RETURNING = frozenset({"sync_regs", "fixup_bad_iret", "vc_switch_off_ist"})

# 32-bit SYSENTER (entry_32.S) starts on the stack MSR_IA32_SYSENTER_ESP
# names, inside the TSS area, and loads the task stack's top from the TSS at
# a fixed distance from there (asm-offsets_32.c): ``TSS_sysenter_sp0`` up to
# 4.14, ``TSS_entry2task_stack`` (the TSS's sp1, 4.15+).
_SYSENTER_32 = (("TSS_sysenter_sp0", StackKind.TASK), ("TSS_entry2task_stack", StackKind.TASK))

FAMILIES: dict[str, MemoryModel] = {
    "pti": MemoryModel(
        family="pti",
        # x86_verw_sel: in .entry.text (entry.S), read by CLEAR_CPU_BUFFERS' verw
        # after the switch to the user CR3
        user_mapped=frozenset({"cpu_tss_rw", "cpu_entry_area", "CPU_ENTRY_AREA", "RSP_SCRATCH", "x86_verw_sel"}),
        stack_loads=(
            ("cpu_tss_rw+TSS_sp0", StackKind.ENTRY),
            ("cpu_tss_rw+TSS_sp1", StackKind.TASK),  # 4.15..5.x (assumption, see docstring)
            ("cpu_tss_rw+TSS_sp2", StackKind.USER),
            # 4.15-4.19: the SYSCALL trampoline reaches the TSS through its
            # cpu_entry_area alias (asm-offsets: CPU_ENTRY_AREA_tss), same slots
            ("CPU_ENTRY_AREA_tss+TSS_sp0", StackKind.ENTRY),
            ("CPU_ENTRY_AREA_tss+TSS_sp1", StackKind.TASK),
            ("pcpu_hot+X86_top_of_stack", StackKind.TASK),
            ("cpu_current_top_of_stack", StackKind.TASK),
            ("RSP_SCRATCH", StackKind.USER),  # 4.15 trampoline-era user %rsp slot
            ("rsp_scratch", StackKind.USER),
            *_SYSENTER_32,
        ),
        task_stack_returning=_TASK_RETURNING,
        # the per-cpu cpu_entry_area pointer (32-bit): the entry stack lies in it
        stack_areas=(("cpu_entry_area", StackKind.ENTRY),),
        note="4.15+ incl. 6.1/6.12",
    ),
    "kaiser-4.4": MemoryModel(
        family="kaiser-4.4",
        user_mapped=frozenset({"cpu_tss", "unsafe_stack_register_backup"}),
        stack_loads=(
            ("cpu_tss+TSS_sp0", StackKind.TASK),
            ("cpu_current_top_of_stack", StackKind.TASK),
            ("rsp_scratch", StackKind.USER),
            *_SYSENTER_32,
        ),
        task_stack_returning=frozenset({"sync_regs", "fixup_bad_iret"}),
        user_mapped_stacks=frozenset({StackKind.ENTRY, StackKind.IST, StackKind.TASK}),
        note="assumed, see docstring",
    ),
}

# Symbols (beyond the contract macro names) that identify a family.
FAMILY_MARKS: dict[str, frozenset[str]] = {
    "pti": frozenset({"cpu_tss_rw", "pcpu_hot", "X86_FEATURE_PTI", "TSS_sp2", "CONFIG_PAGE_TABLE_ISOLATION",
                      "CONFIG_MITIGATION_PAGE_TABLE_ISOLATION"}),
    "kaiser-4.4": frozenset({"unsafe_stack_register_backup", "X86_FEATURE_KAISER", "x86_cr3_pcid_user"}),
    "kaiser-v1": frozenset(),
}


def model_for(names_seen: Iterable[str]) -> MemoryModel:
    """The family model for a program, from the symbols and macro names it uses
    (the contract macros decide, then the symbols of ``FAMILY_MARKS``)."""
    from entrylint.analysis.contracts import DISTINCTIVE, family_for

    names = set(names_seen)
    upper = {n.upper() for n in names}
    if any(upper & marks for marks in DISTINCTIVE.values()):
        return FAMILIES[family_for(names)]
    best, score = "pti", 0
    for fam, marks in FAMILY_MARKS.items():
        s = len(names & marks)
        if s > score:
            best, score = fam, s
    return FAMILIES[best]


def model_of(program) -> MemoryModel:
    """``model_for`` the names a program uses: its symbols, the targets it
    names and the names in its expansion traces (the walk's transfer
    configuration and the rules read the same model).  Made once per
    program (``Program.memo``, kept by the profiles that share it)."""
    memo = getattr(program, "memo", None)
    got = memo.get("memory-model") if memo is not None else None
    if got is None:
        names = set(program.symbols) | {i.target_name for i in program.instructions if i.target_name}
        got = model_for(names | program.trace_names())
        if memo is not None:
            memo["memory-model"] = got
    return got


__all__ = ["FAMILIES", "FAMILY_MARKS", "FIELD_OFFSETS", "MemoryModel", "StackKind", "model_for", "model_of"]

# The first series (2017) differs from the 4.4/4.9 backport only in what it
# declared user-mapped.
FAMILIES["kaiser-v1"] = replace(FAMILIES["kaiser-4.4"], family="kaiser-v1",
                                user_mapped=frozenset({"cpu_tss", "rsp_scratch", "cpu_current_top_of_stack"}), note="assumed, see docstring")
