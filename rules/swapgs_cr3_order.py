"""Checks that every PTI CR3 write happens while GS is the kernel's.

## What it does
Reports a write to CR3 that switches the page table (a value read from CR3
with the PTI user bit cleared or set, or a saved one written back; not the
kernel page table written while CR3 holds it: MODEL 3.1) on a path
where GS may still hold the user's base: entry must do SWAPGS, then the CR3
write; exit must do the CR3 write, then SWAPGS.

The rule judges the order by its hazard.  A wrong order opens a window in
which CR3 holds the kernel page table and GS the user's base: on entry from
the CR3 write until GS is made the kernel's (SWAPGS, WRGSBASE, WRMSR), on
exit from the SWAPGS until the CR3 write.  When something in that window
reads or writes per-cpu data (a ``%gs``-relative access, or a call into C,
which may) the finding is an error.  When nothing in the window touches GS,
the order departs from the convention without a hazard on that path and the
finding is a check (info): the reviewer sees it, the build does not fail.

Messages:
``CR3 switched to the {target} page table with the user GS`` (error) and
``CR3 switched to the {target} page table with the user GS (no per-cpu
access until GS is fixed)`` (info).  In 32-bit code the per-cpu segment is
%fs, which SAVE_ALL loads and the exit pops (no SWAPGS there): the messages
say FS, and the window runs from the CR3 write to that load on entry, from
that pop to the CR3 write on exit.

## Why is this bad?
The first page-table isolation series fixed the order ("SWAPGS must be done
before the CR3 MOV", MODEL 1): it keeps per-cpu data usable at every point
of a transition that runs on the kernel page table.  In that series the
switch macros themselves read per-cpu data (the PCID bits), so the wrong
order read them through a user-chosen GS base; later switch macros (4.15+
SWITCH_TO_USER_CR3 reads ``cpu_tlbstate``) still do on exit.  A SWAPGS pair
with no CR3 write between (as in the helper that loads the user GS
selector) is not a transition and is not judged.

Since 5.18 the paranoid entry (NMI, #MC, #DB, #DF) switches CR3 first and
fixes GS after it, on purpose: the kernel's comment says the switch does not
depend on the kernel GS base, and nothing between the two reads per-cpu
data.  That is the no-hazard case: a check, not an error.

## Example
```asm
entry_SYSCALL_64:
	SWITCH_TO_KERNEL_CR3 scratch_reg=%rsp
	movq	%rsp, PER_CPU_VAR(cpu_tss_rw + TSS_sp2)	/* per-cpu with the user GS */
	swapgs
```

Use instead:
```asm
entry_SYSCALL_64:
	swapgs
	movq	%rsp, PER_CPU_VAR(cpu_tss_rw + TSS_sp2)
	SWITCH_TO_KERNEL_CR3 scratch_reg=%rsp
```

## Options
None.  Paths with PTI off (the alternative skips the write) are not judged,
nor are those that assume Xen PV (``X86_FEATURE_XENPV`` on): there the
hypervisor switches the GS base on every transition (``SWAPGS`` is a pv
op that does nothing) and the guest kernel always runs with its own (as for
EL302 and EL303).

## References
- The review of the first KAISER patch (2017): "SWAPGS must be done before the CR3 MOV".
- 5.18, "x86/entry: Switch the stack after error_entry() returns" series and
  "x86/entry: Don't call error_entry() for XENPV": paranoid_entry switches CR3
  before it handles GS (info here, not an error).
"""

from __future__ import annotations

import sys
from itertools import islice

from entrylint.analysis.regs import abi
from entrylint.analysis.state import Feature, Space
from entrylint.findings.model import Finding, Severity
from entrylint.plugins import hookimpl
from entrylint.plugins.info import RuleInfo
from entrylint.plugins.support import finding
from entrylint.program.constants import XENPV
from entrylint_rules.gs_access_user_gs import gs_access


class SwapgsCr3Order(Finding):
    id = "EL301"
    slug = "swapgs-cr3-order"
    severity = Severity.ERROR
    # {seg}: the per-cpu segment, GS (FS in 32-bit code: no SWAPGS there, SAVE_ALL loads it)
    template = "CR3 switched to the {target} page table with the user {seg}"


class SwapgsCr3OrderNoHazard(SwapgsCr3Order):
    """The same order, with no per-cpu access in the window it opens."""

    severity = Severity.INFO
    template = "CR3 switched to the {target} page table with the user {seg} (no per-cpu access until {seg} is fixed)"


@hookimpl
def entrylint_rules():
    return [RuleInfo.from_module(sys.modules[__name__], SwapgsCr3Order, precision="high",
                                 security_severity=5.0, tags=("security", "pti", "swapgs"))]


@hookimpl
def entrylint_check(analysis, config):
    fw = analysis.forward
    P = analysis.program.instructions
    seen = set()
    window = None
    for ev in fw.event_list("cr3-write"):
        if not ev.detail.startswith("pti") or ev.before.gs is not Space.USER \
                or ev.before.feature(XENPV) is Feature.ON:
            continue
        if ev.node in seen:
            continue
        seen.add(ev.node)
        key = fw.key_of("cr3-write", ev.node, ev.before, ev.detail)
        target = ev.detail.split(":", 1)[1]
        window = window or _Window(analysis)
        cls = SwapgsCr3Order if window.hazard(key, target) else SwapgsCr3OrderNoHazard
        yield finding(cls, analysis, P[ev.node], key, target=target, seg=abi(P[ev.node].mode).percpu_segment.upper())


class _Window:
    """The window of kernel CR3 and user GS a wrong-order write belongs to,
    and whether it touches per-cpu data (see the module doc)."""

    def __init__(self, analysis):
        fw = analysis.forward
        P = analysis.program.instructions
        self.fw = fw
        calls = {ev.node for ev in fw.event_list("c-call")}
        self.uses = {n for n in fw.before if n in calls or (n < len(P) and gs_access(P[n]))}
        self._openers: set | None = None

    def hazard(self, key, target: str) -> bool:
        if key is None:
            return True
        if target == "user":
            # exit: the window ran from the SWAPGS up to this write
            for node, t, _how in islice(self.fw.back(key), 1, None):
                if t.gs is not Space.USER:
                    break
                if node in self.uses:
                    return True
            return False
        # entry: the window runs from this write until GS becomes the kernel's
        if self._openers is None:
            self._openers = self._opening()
        return key in self._openers

    def _opening(self) -> set:
        """The keys after which the walk reaches a per-cpu use in the window
        (the kernel CR3 and the user GS at every key from the one after to
        the use), read backward: from each use reached inside a window, up
        the first-arrival links while they stay inside, the key it stops at
        included.  An entry write opens a window with a hazard when its key
        is one of them: its window, walked forward over the keys first
        reached from each, meets that use."""
        fw = self.fw
        pred = fw.pred
        out: set = set()
        for n in self.uses:
            for t in fw.before.get(n, ()):
                if not _inside(t):
                    continue
                for k in fw.keys_of(n, t):
                    cur = pred[k][0]
                    while cur is not None and cur not in out:
                        out.add(cur)
                        if not _inside(cur[1]):
                            break
                        cur = pred.get(cur, (None, ""))[0]
        return out


def _inside(t) -> bool:
    """The tuple is inside a window: the kernel CR3 with the user GS."""
    return t.gs is Space.USER and t.cr3 is Space.KERNEL
