"""Checks that every PTI CR3 write happens while GS is the kernel's.

## What it does
Reports a write to CR3 that switches the page table (a value read from CR3
with the PTI user bit cleared or set, or a saved one written back) on a path
where GS may still hold the user's base: entry must do SWAPGS, then the CR3
write; exit must do the CR3 write, then SWAPGS.

Message: ``CR3 switched to the {target} page table with the user GS``.

## Why is this bad?
The first page-table isolation series fixed the order ("SWAPGS must be done
before the CR3 MOV", MODEL 1): it keeps per-cpu data usable at every point
of a transition that runs on the kernel page table, so that scratch space,
debugging data or a later change that reads per-cpu data between the two
cannot go through a user-chosen GS base.  A SWAPGS pair with no CR3 write
between (as in the helper that loads the user GS selector) is not a
transition and is not judged.

## Example
```asm
entry_SYSCALL_64:
	SWITCH_TO_KERNEL_CR3 scratch_reg=%rsp
	swapgs
```

Use instead:
```asm
entry_SYSCALL_64:
	swapgs
	SWITCH_TO_KERNEL_CR3 scratch_reg=%rsp
```

## Options
None.  Paths with PTI off (the alternative skips the write) are not judged.

## References
- The review of the first KAISER patch (2017): "SWAPGS must be done before the CR3 MOV".
- Since 5.18 the paranoid entry switches CR3 before it fixes GS on purpose
  (switching CR3 does not depend on the kernel GS base); entrylint reports it
  and the project documents it as a known true positive.
"""

from __future__ import annotations

import sys

from entrylint.analysis.state import Space
from entrylint.findings.model import Finding, Severity
from entrylint.plugins import hookimpl
from entrylint.plugins.info import RuleInfo
from entrylint.plugins.support import finding


class SwapgsCr3Order(Finding):
    id = "EL301"
    slug = "swapgs-cr3-order"
    severity = Severity.ERROR
    template = "CR3 switched to the {target} page table with the user GS"


@hookimpl
def entrylint_rules():
    return [RuleInfo.from_module(sys.modules[__name__], SwapgsCr3Order, precision="high",
                                 security_severity=5.0, tags=("security", "pti", "swapgs"))]


@hookimpl
def entrylint_check(analysis, config):
    fw = analysis.forward
    P = analysis.program.instructions
    seen = set()
    for ev in fw.event_list("cr3-write"):
        if not ev.detail.startswith("pti") or ev.before.gs is not Space.USER:
            continue
        if ev.node in seen:
            continue
        seen.add(ev.node)
        key = fw.key_of("cr3-write", ev.node, ev.before, ev.detail)
        yield finding(SwapgsCr3Order, analysis, P[ev.node], key, target=ev.detail.split(":", 1)[1])
