"""Checks that a conditional SWAPGS is fenced before the first %gs access.

## What it does
Reports a ``swapgs`` on one side of a conditional branch (the other side
skips it) when a %gs-relative access can follow without a serializing point
in between (``lfence``, a CR3 write, ``iretq``, ``wrmsr``...: the decoder's
``serializing``), on the path where the swapgs runs or on the path where it
is skipped.

Message: ``conditional swapgs not fenced before the %gs access at line {line}
on the path where it {how}``.

How paths are followed: over the control-flow graph from the branch, both
ways (speculation ignores what the branch tests), through both sides of
alternatives, up to the first %gs access, serializing instruction, other
``swapgs``, call, return or exit.  Past a call or a return the first %gs
access is not known and nothing is reported.  Which path matters comes from
the recorded states of the tuples that really take each side: the path where
the swapgs runs is judged when a tuple taking the other side has the kernel
GS (a mispredicted swapgs turns it into the user's); the path where it is
skipped, when a tuple taking the swapgs side has the user GS (it reaches the
skipping side unswapped).  So an exit swapgs (kernel to user GS, then
``iretq``) is judged only for what follows it.  Tuples that assume Xen PV
are left out: the hypervisor switches GS there and ``swapgs`` is patched out.

The kernel's fences are alternatives: ``FENCE_SWAPGS_USER_ENTRY`` and
``FENCE_SWAPGS_KERNEL_ENTRY`` are ``ALTERNATIVE "", "lfence",
X86_FEATURE_FENCE_SWAPGS_{USER,KERNEL}``.  Those features are not tracked by
the forward analysis, so both sides are real paths here.  The ``lfence``
side serializes.  The empty side is taken only where the kernel decided no
fence is needed (arch/x86/kernel/cpu/bugs.c, ``spectre_v1_select_mitigation``:
the CPU is not affected, the mitigation is off, or -- for the user side --
PTI is on and its CR3 write serializes).  A path reaching a fork on one of
the *fence features* therefore counts as fenced on both sides: the fork is
exactly the point where the kernel makes that decision.  Forks on other
features are followed side by side, so an ``lfence`` that only one side has
fences only that side.

## Why is this bad?
MODEL 1, CVE-2019-1125 (speculative SWAPGS, Spectre v1 variant): the CPU may
mispredict the branch around a conditional swapgs.  On the path where the
swapgs runs it can be speculated past (kernel entry: the user GS stays); on
the path where it is skipped the CPU may speculatively run the swapgs
anyway or not at all (user entry: the kernel GS base is not loaded).  Either
way a following %gs load runs with a GS base user space chose and can leak
kernel memory through the cache.

## Example
```asm
	testb	$3, CS(%rsp)
	jz	1f
	swapgs
1:
	movq	PER_CPU_VAR(pcpu_hot + X86_current_task), %rax
```

Use instead:
```asm
	testb	$3, CS(%rsp)
	jz	1f
	swapgs
	FENCE_SWAPGS_USER_ENTRY
	jmp	2f
1:
	FENCE_SWAPGS_KERNEL_ENTRY
2:
	movq	PER_CPU_VAR(pcpu_hot + X86_current_task), %rax
```

## Options
- ``fence-features`` (list): the CPU features whose alternatives are the
  kernel's SWAPGS fence decision.  Default
  ``X86_FEATURE_FENCE_SWAPGS_USER``, ``X86_FEATURE_FENCE_SWAPGS_KERNEL``.

## References
- CVE-2019-1125; commit 18ec54fdd6d1 "x86/speculation: Prepare entry code
  for Spectre v1 swapgs mitigations" (5.3).
- Debian 6.1 and 6.12, ``arch/x86/entry/*.S``, profiles max, defconfig and
  pti-off: one finding per tree and profile, a documented true positive of
  the model: the espfix ``swapgs`` of ``native_irq_return_ldt``
  (entry_64.S:718 in 6.1, :685 in 6.12).  ``.Lnative_iret`` is shared by
  the returns to user and to kernel mode; ``testb $4, SS(%rsp); jnz
  native_irq_return_ldt`` mispredicted on an ``iretq`` to kernel mode runs
  the swapgs speculatively with the kernel GS, which makes it the user's.
  With PTI off, ``SWITCH_TO_KERNEL_CR3`` is patched out and nothing
  serializes before ``movq PER_CPU_VAR(espfix_waddr), %rdi``, whose value
  is then used as a store address -- the gadget shape the commit above
  describes.  The kernel's mitigation covers the entry paths only; whether
  this one is exploitable is not shown (hence a warning).  With PTI on the
  CR3 write serializes.
"""

from __future__ import annotations

import sys

from entrylint.analysis.state import Feature, Space, ordered
from entrylint.analysis.transfer import refine
from entrylint.findings.model import Finding, Severity
from entrylint.plugins import hookimpl
from entrylint.plugins.info import RuleInfo
from entrylint.plugins.support import finding
from entrylint.program.effects import Access, Flow

FENCE_FEATURES = ("X86_FEATURE_FENCE_SWAPGS_USER", "X86_FEATURE_FENCE_SWAPGS_KERNEL")
XENPV = "X86_FEATURE_XENPV"  # the hypervisor switches GS: no swapgs speculation in the guest
LIMIT = 4000  # nodes per walk
_ENDS = (Flow.CALL, Flow.INDIRECT_CALL, Flow.RET, Flow.IRET, Flow.EXIT_TO_USER, Flow.INDIRECT_JUMP, Flow.STOP)


class SwapgsSpeculation(Finding):
    id = "EL303"
    slug = "swapgs-speculation"
    severity = Severity.WARNING
    template = "conditional swapgs not fenced before the %gs access at line {line} on the path where it {how}"


@hookimpl
def entrylint_rules():
    return [RuleInfo.from_module(sys.modules[__name__], SwapgsSpeculation, precision="medium",
                                 security_severity=5.5, tags=("security", "swapgs", "speculation"))]


@hookimpl
def entrylint_check(analysis, config):
    cfg, fw = analysis.cfg, analysis.forward
    P = analysis.program.instructions
    fences = set(config.option("swapgs-speculation", "fence-features", FENCE_FEATURES))
    reached = [n for n in sorted(fw.before) if n < len(P) and P[n].info is not None]
    bad: dict[int, dict[str, set[int]]] = {}  # swapgs node -> how -> unfenced %gs accesses
    for b in (n for n in reached if P[n].info.flow is Flow.COND_JUMP):
        edges = cfg.succ(b)
        if len(edges) != 2:
            continue
        sides = [(_walk(cfg, P, [e.dst], fences), _gs_going(fw, P[b], e.kind)) for e in edges]
        for ((ran, _), gs_ran), ((other, gs_skipped), gs_other) in (sides, sides[::-1]):
            for s in ran - other:
                how = bad.setdefault(s, {"runs": set(), "is skipped": set()})
                if Space.KERNEL in gs_other:  # mispredicted: swapgs turns the kernel GS into the user's
                    how["runs"] |= _walk(cfg, P, [e.dst for e in cfg.succ(s)], fences)[1]
                if Space.USER in gs_ran:  # mispredicted: the user GS reaches the other side
                    how["is skipped"] |= gs_skipped
    for s in sorted(bad):
        hows = [h for h in ("runs", "is skipped") if bad[s][h]]
        if not hows:
            continue
        line = min(P[g].location.line for h in hows for g in bad[s][h])
        t = next(iter(ordered(fw.before.get(s, ()))), None)
        key = fw.key_at(s, t)
        yield finding(SwapgsSpeculation, analysis, P[s], key, line=line, how=" and where it ".join(hows))


def _gs_going(fw, ins, kind) -> set:
    """The GS of the tuples that really take edge ``kind`` of branch ``ins``."""
    going = (refine(t, ins, kind == "taken") for t in fw.after.get(ins.index, ()))
    return {u.gs for u in going if u is not None and u.feature(XENPV) is not Feature.ON}


def _walk(cfg, P, starts, fences) -> tuple[set[int], set[int]]:
    """(swapgs reached, %gs accesses reached) from ``starts`` before any
    serializing point, fence-feature fork, call, return or exit."""
    swapgs, gs, seen, todo = set(), set(), set(), list(starts)
    while todo and len(seen) < LIMIT:
        n = todo.pop()
        if n is None or n in seen:
            continue
        seen.add(n)
        if cfg.is_fork(n):
            if any(r.feature in fences for r in cfg.fork_of(n).replacements):
                continue
        else:
            info = P[n].info
            if info is None or info.serializing or info.flow in _ENDS:
                continue
            if info.swaps_gs:
                swapgs.add(n)
                continue
            if any(m.gs_relative and m.access is not Access.ADDRESS for m in info.mem):
                gs.add(n)
                continue
        todo.extend(e.dst for e in cfg.succ(n))
    return swapgs, gs
