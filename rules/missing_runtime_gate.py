"""Checks that every PTI CR3 switch is skipped at run time when PTI is off.

## What it does
Reports a PTI CR3 switch (as ``missing-config-guard`` finds them: a write
seen switching on some path, or a CR3 write in a contracted switch macro)
reached, with whatever value, on a path that never tested the PTI CPU
feature, or that assumed it off: no ``ALTERNATIVE`` fork or static branch on
``X86_FEATURE_PTI`` (the 4.4/4.9 backport: ``X86_FEATURE_KAISER``) lies
between the entry point and the switch.  A switch reached only through a
caller that tested the feature (``ALTERNATIVE "", "jmp .Lpti_restore", X86_FEATURE_PTI``
before an ungated body, as 6.12's ``SWITCH_TO_USER_CR3``) is gated: the path
carries PTI=on; a switch reached with PTI off (an earlier alternative
tested it, the switch itself has none) runs on a kernel booted without PTI.
A configuration without the PTI option (every path starts with the feature
off) is not judged: a switch built into it is ``missing-config-guard``.

Message: ``CR3 switched to the {target} page table without a {feature} gate, on a path {how}``
(``how``: "that never tests it" or "where it is off").

## Why is this bad?
MODEL 1 and 6: a kernel built with PTI still boots with it off (``nopti``,
CPUs not affected by Meltdown), and then the switch must cost nothing; the
review of the first KAISER patch asked for the switches to be "100%
optional".  An ungated switch runs on every entry whether PTI is wanted or
not, and on a CPU without PTI the user page table it switches to may not be
set up at all.

## Example
```asm
#ifdef CONFIG_PAGE_TABLE_ISOLATION
.macro SWITCH_TO_KERNEL_CR3 scratch_reg:req
	mov	%cr3, \\scratch_reg
	andq	$(~0x1000), \\scratch_reg
	mov	\\scratch_reg, %cr3
.endm
#endif
```

Use instead:
```asm
#ifdef CONFIG_PAGE_TABLE_ISOLATION
.macro SWITCH_TO_KERNEL_CR3 scratch_reg:req
	ALTERNATIVE "jmp .Lend_\\@", "", X86_FEATURE_PTI
	mov	%cr3, \\scratch_reg
	andq	$(~0x1000), \\scratch_reg
	mov	\\scratch_reg, %cr3
.Lend_\\@:
.endm
#endif
```

## Options
- ``pti_features``: the CPU features that gate PTI (default
  ``X86_FEATURE_PTI``, ``X86_FEATURE_KAISER``).

## References
- Brian Gerst's review of the first KAISER patch (2017-10-31): "Something
  with this amount of performance impact needs to be 100% optional."
- Linux 4.15+ ``calling.h``: every switch macro starts with
  ``ALTERNATIVE "jmp .Lend_\\@", "", X86_FEATURE_PTI``.
"""

from __future__ import annotations

import sys

from entrylint.analysis.state import Feature
from entrylint.findings.model import Finding, Severity
from entrylint.plugins import hookimpl
from entrylint.plugins.info import RuleInfo
from entrylint.plugins.support import finding
from entrylint.program.constants import PTI_FEATURES
from entrylint_rules.missing_config_guard import switches


class MissingRuntimeGate(Finding):
    id = "EL402"
    slug = "missing-runtime-gate"
    severity = Severity.WARNING
    template = "CR3 switched to the {target} page table without a {feature} gate, on a path {how}"


@hookimpl
def entrylint_rules():
    return [RuleInfo.from_module(sys.modules[__name__], MissingRuntimeGate, precision="high",
                                 tags=("pti", "performance"))]


@hookimpl
def entrylint_check(analysis, config):
    features = tuple(config.option(MissingRuntimeGate.slug, "pti_features", PTI_FEATURES))
    fw = analysis.forward
    P = analysis.program.instructions
    if any(f in analysis.program.disabled for f in features):
        return  # the configuration has no PTI: a switch built anyway is missing-config-guard
    built = switches(analysis)
    seen = set()
    for ev in sorted(fw.event_list("cr3-write"), key=lambda e: (e.node, e.before)):
        if ev.node not in built or ev.node in seen:
            continue
        values = {ev.before.feature(f) for f in features} - {None}
        if Feature.ON in values:
            continue
        seen.add(ev.node)
        how = "where it is off" if values else "that never tests it"
        key = fw.key_of("cr3-write", ev.node, ev.before, ev.detail)
        yield finding(MissingRuntimeGate, analysis, P[ev.node], key, target=built[ev.node][0],
                      feature=features[0], how=how)
