"""Checks that a conditional jump reads only flags its last flag-writer defined.

## What it does
Reports a conditional jump, ``cmovcc``, ``setcc``, ``adc``/``sbb`` (an
instruction that reads some of the arithmetic flags) when

- on some path the flag it reads was last left *undefined* (``bt`` leaves
  SF, OF, PF and AF undefined; a call into C leaves every status flag
  undefined; an instruction that enters other code and sets flags of its
  own, ``vmlaunch`` or ``seamcall`` with CF for VMfailInvalid, defines
  them as the decoder says), or
- the nearest instruction before it in the same straight-line code that
  writes status flags does not write this one (``bt`` writes only CF: a
  ``jz`` after it tests whatever set ZF earlier).

Messages: ``jz tests ZF, but bt $12, %rax does not set it``;
``js tests SF, but bt $12, %rax leaves it undefined``.

## Why is this bad?
The branch decides on a stale or undefined value (MODEL 1, 4): with
``bt $PTI_USER_PGTABLE_BIT, %rax; jz`` instead of ``jnc`` the paranoid
entry would skip or take the CR3 switch according to an older comparison.

## Example
```asm
	movq	%cr3, %rax
	bt	$12, %rax
	jz	.Ldone			/* bt sets CF, not ZF */
```

Use instead:
```asm
	movq	%cr3, %rax
	bt	$12, %rax
	jnc	.Ldone
```

## Options
None.  ``pushf`` and ``lahf`` (which copy all flags) are not judged, nor is
a flag with no writer since the entry point (the CPU's or the caller's).
The second check looks back only through code with a single predecessor
and stops at calls and alternative sites.  ``inc`` and ``dec`` leave CF
alone so that a loop counter can run inside a carry chain: an instruction
that reads a flag and writes it again (``adc``/``sbb``/``rcl``/``rcr`` and
CF) reads it from the last instruction that wrote it, past those that
leave it alone (``adcq; decl; jnz; adcq``, the checksum loops of
arch/x86/lib).  A conditional jump on such a carry (``cmp; inc; jc``) is
still reported: say so with a comment and a suppression.

## References
- MODEL 1, 4; the mutation "turn ``jnc`` into ``jz`` after ``bt``" (MODEL 7).
- Known true positive: the first KAISER patch (2017, shared/seed) posted
  ``SAVE_AND_SWITCH_TO_KERNEL_CR3`` with a placeholder ``bt $63, %rax;
  jz .Ldone`` -- ``bt`` sets CF only, so the ``jz`` tested whatever ZF the
  entry code left; the merged macro uses ``bt $PTI_USER_PGTABLE_BIT; jnc``.
"""

from __future__ import annotations

import sys

from entrylint.findings.model import Finding, Severity
from entrylint.plugins import hookimpl
from entrylint.plugins.info import RuleInfo
from entrylint.plugins.support import finding
from entrylint.program.effects import STATUS_FLAGS, Flow


class FlagMisuse(Finding):
    id = "EL501"
    slug = "flag-misuse"
    severity = Severity.WARNING
    template = "{reader} tests {flag}, but {writer} {how}"


@hookimpl
def entrylint_rules():
    return [RuleInfo.from_module(sys.modules[__name__], FlagMisuse, precision="high", tags=("flags",))]


@hookimpl
def entrylint_check(analysis, config):
    if not config.is_enabled(FlagMisuse.id) or analysis.flags is None:
        return
    P, cfg = analysis.program.instructions, analysis.cfg
    for i in sorted(analysis.flags.before):
        info = P[i].info
        if not info.flags_read or not info.flags_read <= STATUS_FLAGS or len(info.flags_read) >= 5:
            continue  # not a condition (pushf, lahf, string instructions reading DF)
        bad = _misuse(analysis, P, cfg, i, info)
        if bad is not None:
            flag, writer, how = bad
            yield finding(FlagMisuse, analysis, P[i], reader=P[i].mnemonic, flag=flag.upper(),
                          writer=P[writer].text, how=how)


def _misuse(analysis, P, cfg, i, info):
    w = _nearest_writer(P, cfg, i)
    for flag in sorted(info.flags_read):
        at = w
        if flag in info.flags_written:
            # a carry chain (adc, sbb, rcl, rcr read CF and write it again): it
            # adds in the carry of the last instruction that wrote CF, past
            # those that leave it alone (inc, dec: csum-copy's loop counter)
            while at is not None and flag not in P[at].info.flags_touched:
                at = _nearest_writer(P, cfg, at)
        if at is not None and flag not in P[at].info.flags_touched:
            return flag, at, "does not set it"
        undefined = sorted(d.writer for d in analysis.flags.defs(i, flag) if d.undefined and d.writer is not None)
        if undefined:
            return flag, undefined[-1], "leaves it undefined"
    return None


def _nearest_writer(P, cfg, i: int) -> int | None:
    """The closest instruction before ``i`` on its only path that touches a
    status flag, or None (a join, a call or an alternative comes first)."""
    for cur in cfg.only_path_back(i):
        info = P[cur].info if cur < len(P) else None
        if info is None or info.flow in (Flow.CALL, Flow.INDIRECT_CALL):
            return None
        if info.flags_touched & STATUS_FLAGS:
            return cur
    return None
