"""Reports every SWAPGS that is not followed by an LFENCE before the next
instruction that reads GS-relative memory.

## What it does
An example of a third-party rule: it flags each ``swapgs`` so that a team
can audit them one by one.  It exists to test that plugins are discovered
through the ``entrylint.rules`` entry point and that their findings reach
every output format.

## Why is this bad?
It is not: this rule is an example.

## Example
```asm
	swapgs
```

Use instead:
```asm
	swapgs		/* audited */
```

## Options
None.
"""

from __future__ import annotations

import sys

from entrylint.findings.model import Finding, Severity
from entrylint.plugins import hookimpl
from entrylint.plugins.info import RuleInfo
from entrylint.plugins.support import finding


class SwapgsAudit(Finding):
    id = "EL801"
    slug = "example-swapgs-audit"
    severity = Severity.WARNING
    template = "swapgs to audit (example plugin)"


@hookimpl
def entrylint_rules():
    return [RuleInfo.from_module(sys.modules[__name__], SwapgsAudit, tags=("example",), status="preview")]


@hookimpl
def entrylint_check(analysis, config):
    for ins in analysis.program.instructions:
        if ins.info is not None and ins.info.swaps_gs:
            yield finding(SwapgsAudit, analysis, ins)
