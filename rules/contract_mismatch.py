"""Reports a CR3-switch macro whose body does not do what its contract says.

## What it does
Each CR3-switch macro family has a declared effect (MODEL 3 "Contracts",
``entrylint contracts``): ``SWITCH_TO_KERNEL_CR3`` leaves the kernel page
table in CR3, ``SWITCH_TO_USER_CR3`` the user one, ``ADJUST_*_CR3`` leave CR3
alone, ``RESTORE_CR3`` writes back what was saved (not compared).  When a
path with PTI on (or not tested) leaves one invocation of such a macro with
another page table than the contract's, this rule says so once per
invocation, and the analysis goes on with the contract's value: the other
rules judge the code as its author meant it, not the placeholder body.

Message: ``{macro} leaves the {found} page table in CR3, its contract says {expected}``.

## Why is this bad?
It is an info finding, not a fault by itself.  The first patch of the KAISER
series (2017) defined ``ADJUST_KERNEL_CR3``/``ADJUST_USER_CR3`` with empty
bodies on purpose ("macros that allow changing to the user and kernel CR3
values, but do not actually switch CR3"), so that bisecting to it tests the
scratch registers and the CR3 writes without the switch.  Outside such a
step, a body that disagrees with its contract is a broken switch (a wrong
mask, a lost bit) or a contract that needs an override (``[contracts.NAME]``
in the configuration).

## Example
```asm
.macro ADJUST_KERNEL_CR3 reg:req
.endm
.macro SWITCH_TO_KERNEL_CR3 scratch_reg:req
	mov	%cr3, \\scratch_reg
	ADJUST_KERNEL_CR3 \\scratch_reg
	mov	\\scratch_reg, %cr3
.endm
```

Use instead:
```asm
.macro ADJUST_KERNEL_CR3 reg:req
	andq	$(~0x1000), \\reg
.endm
```

## Options
Contracts come from the built-in family the file's macros name (first KAISER
series, 4.4/4.9 backport, 4.15+ ``pti``); the ``[contracts]`` table of the
configuration adds or overrides them.

## References
- "[PATCH 01/23] x86, kaiser: prepare assembly for entry/exit CR3 switching"
  (Dave Hansen, 2017-10-31) and its review: the placeholder bodies.
- ``entrylint/analysis/contracts.py``: the built-in contracts and where each
  was read.
"""

from __future__ import annotations

import sys

from entrylint.findings.model import Finding, Severity
from entrylint.plugins import hookimpl
from entrylint.plugins.info import RuleInfo
from entrylint.plugins.support import finding


class ContractMismatch(Finding):
    id = "EL502"
    slug = "contract-mismatch"
    severity = Severity.INFO
    template = "{macro} leaves the {found} page table in CR3, its contract says {expected}"


@hookimpl
def entrylint_rules():
    return [RuleInfo.from_module(sys.modules[__name__], ContractMismatch, precision="medium",
                                 tags=("pti", "contracts"))]


@hookimpl
def entrylint_check(analysis, config):
    fw = analysis.forward
    seen = set()
    for ev in sorted(fw.event_list("contract-mismatch"), key=lambda e: (e.node, e.before)):
        macro, expected, found = ev.detail.split(":")
        ins = _instruction(analysis, ev.node)
        instance = _instance(ins.trace, macro)
        if instance in seen:
            continue
        seen.add(instance)
        key = fw.key_of("contract-mismatch", ev.node, ev.before, ev.detail)
        yield finding(ContractMismatch, analysis, ins, key, macro=macro, expected=expected, found=found)


def _instruction(analysis, node):
    """The instruction at ``node``; for an alternative's fork node, its first one."""
    P = analysis.program.instructions
    if node < len(P):
        return P[node]
    fork = analysis.program.forks[node - len(P)]
    return P[(fork.orig or next(r.insns for r in fork.replacements if r.insns))[0]]


def _instance(trace, macro):
    """One invocation of ``macro``: the trace up to its (innermost) frame."""
    k = max((i for i, f in enumerate(trace) if f.kind == "macro" and (f.name or "").upper() == macro), default=len(trace))
    return tuple(trace[:k + 1])
