"""Checks that a conditional SWAPGS is fenced before the first %gs access.

## What it does
Reports a ``swapgs`` on one side of a conditional branch (the other side
skips it) when a %gs-relative access can follow without a serializing point
in between (``lfence``, a CR3 write, ``iretq``, ``wrmsr``...: the decoder's
``serializing``), on the path where the swapgs runs or on the path where it
is skipped.

Message: ``conditional swapgs not fenced before the {what} at {line}
on the path where it {how}`` (what: ``%gs access``, ``call to
sync_regs()``, ``return to C``).

How paths are followed: over the control-flow graph from the branch, both
ways (speculation ignores what the branch tests), through both sides of
alternatives and into asm functions of the file, up to the first %gs
access, serializing instruction, GS-base write (``wrgsbase``: the base is
set whatever was speculated), other ``swapgs``, return or exit.  A call
into C counts as a %gs access (MODEL 4: C may read per-cpu data through
GS), and so do a tail call into C, a ``ret`` that may return to C and a call
to an asm function of another file whose own code touches GS or calls C
(``analysis/callees.py``); a callee that does neither is passed.  A %gs
access that a path really reaches with the user GS is not one: it is EL302's
finding (one fault, one finding), and the paths go on past it.  Past an
indirect call or jump the next access is not known and nothing is reported.
Which path matters comes from
the recorded states of the tuples that really take each side: the path where
the swapgs runs is judged when a tuple taking the other side has the kernel
GS (a mispredicted swapgs turns it into the user's); the path where it is
skipped, when a tuple taking the swapgs side has the user GS (it reaches the
skipping side unswapped).  So an exit swapgs (kernel to user GS, then
``iretq``) is judged only for what follows it.  Tuples that assume Xen PV
are left out, and so are the Xen PV sides of alternatives: the hypervisor
switches GS there and ``swapgs`` is patched out.

The kernel's fences are alternatives: ``FENCE_SWAPGS_USER_ENTRY`` and
``FENCE_SWAPGS_KERNEL_ENTRY`` are ``ALTERNATIVE "", "lfence",
X86_FEATURE_FENCE_SWAPGS_{USER,KERNEL}``.  Those features are not tracked by
the forward analysis, so both sides are real paths here.  The ``lfence``
side serializes.  The empty side is taken only where the kernel decided no
fence is needed (arch/x86/kernel/cpu/bugs.c, ``spectre_v1_select_mitigation``:
the CPU is not affected, the mitigation is off, or -- for the user side --
PTI is on and its CR3 write serializes).  A path reaching a fork on one of
the *fence features* therefore counts as fenced on both sides: the fork is
exactly the point where the kernel makes that decision -- provided its
replacement does serialize (a fence macro whose ``lfence`` was lost is no
decision point: both sides are followed).  Forks on other features are
followed side by side, so an ``lfence`` that only one side has fences only
that side.

One fault, one finding: a tree that defines CPU features but none of the
fence features has no fence decision anywhere (it predates the mitigation).
Its unfenced sites are then one fault -- the missing mitigation, fixed by
one change -- reported once, at the first site of the file, with the others
as further places (``in N places``; SARIF related locations, gcc notes, JSON
``sites`` with ``sites_kind: "places"``).  Where the tree has the fences, each
unfenced site is its own fault: a fence that this site lacks.

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
  for Spectre v1 swapgs mitigations" (5.3).  Its fences sit before the
  C calls too (error_entry's ``jmp sync_regs``): the per-cpu reads the
  CVE describes are as often in C as in the entry asm.
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

import dataclasses
import sys

from entrylint.analysis.liveness import Procedures, outside_kind
from entrylint.analysis.state import Feature, Space, ordered
from entrylint.analysis.transfer import refine
from entrylint.findings.model import Finding, Severity
from entrylint.source import Location
from entrylint.plugins import hookimpl
from entrylint.plugins.info import RuleInfo
from entrylint.plugins.support import finding, on_user_gs
from entrylint.program.constants import XENPV  # the hypervisor switches GS: no swapgs speculation in the guest
from entrylint.program.effects import Access, Certainty, Flow

FENCE_FEATURES = ("X86_FEATURE_FENCE_SWAPGS_USER", "X86_FEATURE_FENCE_SWAPGS_KERNEL")
LIMIT = 4000  # nodes per walk
_ENDS = (Flow.INDIRECT_CALL, Flow.IRET, Flow.EXIT_TO_USER, Flow.INDIRECT_JUMP, Flow.STOP)


class SwapgsSpeculation(Finding):
    id = "EL303"
    slug = "swapgs-speculation"
    severity = Severity.WARNING
    template = "conditional swapgs not fenced before the {what} at {line} on the path where it {how}"


class SwapgsSpeculationNoFences(SwapgsSpeculation):
    """The tree has no fence feature at all: its conditional swapgs are one fault."""

    template = ("no conditional swapgs of this file is fenced (the tree defines no {fences}): "
                "a %gs access or a C call can follow each with the wrong GS base speculatively")


@hookimpl
def entrylint_rules():
    return [RuleInfo.from_module(sys.modules[__name__], SwapgsSpeculation, precision="medium",
                                 security_severity=5.5, tags=("security", "swapgs", "speculation"))]


@hookimpl
def entrylint_check(analysis, config):
    cfg, fw = analysis.cfg, analysis.forward
    P = analysis.program.instructions
    if not any(i.info is not None and i.info.swaps_gs for i in P):
        return  # no swapgs to speculate (crypto and library code: a walk per branch for nothing)
    fences = set(config.option("swapgs-speculation", "fence-features", FENCE_FEATURES))
    calls = _Calls(analysis)
    walk = _Walks(analysis, fences, calls)
    reached = [n for n in sorted(fw.before) if n < len(P) and P[n].info is not None]
    bad: dict[int, dict[str, set[int]]] = {}  # swapgs node -> how -> unfenced %gs accesses
    for b in (n for n in reached if P[n].info.flow is Flow.COND_JUMP):
        edges = cfg.succ(b)
        if len(edges) != 2:
            continue
        sides = [(walk((e.dst,)), _gs_going(fw, P[b], e.kind)) for e in edges]
        for ((ran, _, _), gs_ran), ((_, gs_skipped, other), gs_other) in (sides, sides[::-1]):
            for s in ran - other:
                how = bad.setdefault(s, {"runs": set(), "is skipped": set()})
                if Space.KERNEL in gs_other:  # mispredicted: swapgs turns the kernel GS into the user's
                    how["runs"] |= walk(tuple(e.dst for e in cfg.succ(s)))[1]
                if Space.USER in gs_ran:  # mispredicted: the user GS reaches the other side
                    how["is skipped"] |= gs_skipped
    found = []
    for s in sorted(bad):
        hows = [h for h in ("runs", "is skipped") if bad[s][h]]
        if not hows:
            continue
        first = min((g for h in hows for g in bad[s][h]), key=lambda g: (P[g].location.line, g))
        what = ("%gs access" if _accesses_gs(P[first].info) else
                "return to C" if calls.procs.leaves.get(first) == "ret" else f"call to {P[first].target_name}()")
        t = next(iter(ordered(fw.before.get(s, ()))), None)
        key = fw.key_at(s, t)
        found.append(finding(SwapgsSpeculation, analysis, P[s], key, what=what, line=_where(P[first], P[s]),
                             how=" and where it ".join(hows)))
    known = set(analysis.program.features.values())
    if len(found) < 2 or not fences or not known or known & fences:
        yield from found
        return
    # The tree defines CPU features but none of the fence features: it has no
    # fence decision anywhere, so every site is the one fault "the mitigation
    # is missing", reported once, at the first site, with the others as places.
    found.sort(key=lambda f: (f.location.line, f.location.col))
    first = found[0]
    places = {_written(f) for f in found} - {_written(first)}
    fields = {f.name: getattr(first, f.name) for f in dataclasses.fields(first)}
    fields.update(args={"fences": " or ".join(sorted(fences))}, sites_kind="places",
                  sites=tuple(sorted(places, key=lambda x: (x.file, x.line, x.col))))
    yield SwapgsSpeculationNoFences(**fields)


def _written(f) -> Location:
    """Where a finding's swapgs is written: the innermost macro body line."""
    return f.trace[-1].location if f.trace else f.location


def _gs_going(fw, ins, kind) -> set:
    """The GS of the tuples that really take edge ``kind`` of branch ``ins``."""
    going = (refine(t, ins, kind == "taken") for t in fw.after.get(ins.index, ()))
    return {u.gs for u in going if u is not None and u.feature(XENPV) is not Feature.ON}


class _Calls:
    """Where control goes at calls and returns, and which of them count as a
    %gs access (a call into C, a return to C)."""

    def __init__(self, analysis):
        self.program = analysis.program
        self.procs = analysis.procedures or Procedures.build(analysis.program, analysis.cfg)
        self.callees = getattr(analysis, "callees", None)
        self.asked: dict[str, bool] = {}  # the callees' answers touches_gs gave (_Walks)
        self.before = analysis.forward.before
        self.user: dict[int, bool] = {}  # the answers on_user_gs gave (_Walks)

    def _kind_of(self, name):
        return outside_kind(self.program, name, None)

    def touches_gs(self, name) -> bool:
        if self.callees is None:
            return True  # C, or asm we cannot see: it may read per-cpu data
        got = self.asked[name] = self.callees(name).gs
        return got

    def on_user_gs(self, n) -> bool:
        """A path really reaches the %gs access at ``n`` with the user GS:
        EL302's finding, not a speculative one."""
        got = self.user[n] = bool(on_user_gs(self.before.get(n, ())))
        return got

    def step(self, n, ins) -> tuple[bool, list[int]]:
        """(is a %gs access point, where the walk goes on) at a call, return or
        jump out of the file; None for the successors: the CFG's."""
        info = ins.info
        if info.flow is Flow.CALL:
            if n in self.procs.callee:
                return False, [self.procs.callee[n]]
            if ins.target is None and self._kind_of(ins.target_name) == "c":
                return self.touches_gs(ins.target_name), None  # on past it to its return
            return False, []  # a call we cannot resolve
        if n in self.procs.leaves:
            if self.procs.leaves[n] == "c-tail" and self.touches_gs(ins.target_name):
                return True, []
            if n in self.procs.external:
                return True, []  # may return to C
            return False, list(self.procs.returns_to.get(n, ()))
        if info.flow in (Flow.RET, Flow.JUMP) and ins.target is None:
            return False, []  # a return or jump we cannot follow
        return False, None


class _Walks:
    """``_walk`` from some start nodes, once per analysis.  An analysis of a
    program made from the last one (``analysis.carried``: program/patch.py)
    takes the last one's answer for a start whose walk read no instruction
    made again and whose C callees answer as they did: the walk reads
    nothing else that the edit can change."""

    def __init__(self, analysis, fences, calls):
        key = ("swapgs-walks", frozenset(fences))
        self.kept = analysis.memo.setdefault(key, {}) if analysis.carries else {}
        carried = analysis.carried
        self.last = carried.get(key, {}) if carried is not None else {}
        self.changed = analysis.program.patched_from[1] if self.last else frozenset()
        self.args = (analysis.cfg, analysis.program.instructions, fences, calls)

    def __call__(self, starts: tuple[int, ...]) -> tuple:
        got = self.kept.get(starts)
        if got is None:
            calls = self.args[3]
            old = self.last.get(starts)
            if old is not None and old[1].isdisjoint(self.changed) \
                    and all(calls.touches_gs(name) == gs for name, gs in old[2]) \
                    and all(calls.on_user_gs(n) == user for n, user in old[3]):
                got = old
            else:
                read: set[int] = set()
                calls.asked, calls.user = {}, {}
                cfg, P, fences, _ = self.args
                out = _walk(cfg, P, starts, fences, calls, read)
                got = (tuple(frozenset(x) for x in out), frozenset(read), tuple(sorted(calls.asked.items())),
                       tuple(sorted(calls.user.items())))
            self.kept[starts] = got
        return got[0]


def _accesses_gs(info) -> bool:
    return any(m.gs_relative and m.access is not Access.ADDRESS for m in info.mem)


def _serializes(cfg, P, insns) -> bool:
    return any(P[i].info is not None and P[i].info.serializing for i in insns)


def _walk(cfg, P, starts, fences, calls, read: set[int]) -> tuple[set[int], set[int], set[int]]:
    """(swapgs reached before any %gs access, first %gs access points, swapgs
    reached at all) from ``starts``, up to a serializing point, fence-feature
    fork, return or exit (a C call or a return to C is an access point).  A
    branch decides a swapgs that one side reaches before any access and the
    other side does not reach at all: a side that calls C before the swapgs
    still reaches it (``TRACE_IRQS_ON`` on one side of a branch does not make
    the exit swapgs after it conditional).  A swapgs inside a function the walk called into
    ends that path but is not one the branch decides: it has its own branch
    (paranoid_entry's, error_entry's), judged there.  A %gs access a path
    really reaches with the user GS is EL302's finding, not an access point
    here: the walk goes on past it (one fault, one finding).  ``read``:
    filled with the nodes whose instruction it read."""
    swapgs, gs, seen, later = set(), set(), set(), set()
    todo = [(n, False, False) for n in starts]
    while todo and len(seen) < LIMIT:
        n, nested, past = todo.pop()
        if n is None or (n, nested, past) in seen:
            continue
        seen.add((n, nested, past))
        read.add(n)
        if cfg.is_fork(n):
            reps = cfg.fork_of(n).replacements
            read.update(i for r in reps if r.feature in fences for i in r.insns)
            if any(r.feature in fences and _serializes(cfg, P, r.insns) for r in reps):
                continue
            # a Xen PV side is never patched in where swapgs runs
            todo.extend((e.dst, nested, past) for e in cfg.succ(n) if (XENPV, Feature.ON) not in e.assume)
            continue
        info = P[n].info
        if info is None or info.serializing or info.flow in _ENDS:
            continue
        if info.swaps_gs:
            if not nested:
                (later if past else swapgs).add(n)
            continue
        if info.writes_gs_base is Certainty.YES:
            continue  # wrgsbase: GS is set whatever was speculated (5.9+ paranoid_entry)
        access, nexts = calls.step(n, P[n])
        if access or _accesses_gs(info) and not calls.on_user_gs(n):
            if not past:
                gs.add(n)
            past = True
        if nexts is not None:
            # into a callee: nested; back from a return: the caller's level
            todo.extend((d, info.flow is Flow.CALL, past) for d in nexts)
            continue
        todo.extend((e.dst, nested, past) for e in cfg.succ(n) if e.kind != "fault")
    return swapgs, gs, swapgs | later


def _where(access, swapgs) -> str:
    """The access as the line that holds it: the innermost body line when it
    comes from a macro, so every expansion of one macro names the same line
    (and one fault is one finding); ``line N`` in the swapgs' own file."""
    loc = access.trace[-1].location if access.trace else access.location
    here = swapgs.trace[-1].location.file if swapgs.trace else swapgs.location.file
    return f"line {loc.line}" if loc.file == here else loc.short()
