"""Checks that every PTI CR3 switch is compiled only under the PTI config option.

## What it does
Reports a PTI CR3 write (a value read from CR3, its user bit set or cleared,
or a saved one, written back: of the user page table, or of the kernel one
while CR3 holds the user one; or any CR3 write in the body of a CR3-switch macro that has a
contract, reached or not) whose presence condition -- the ``#if``s around
the line and around every macro definition along its expansion trace -- does
not imply the page-table isolation option.  A switch expanded from a macro
defined under ``#ifdef CONFIG_PAGE_TABLE_ISOLATION`` is guarded.

The kernel page table written back while CR3 holds it (a TLB flush: ``mov
%cr3, %rcx; mov %rcx, %cr3``; a saved CR3 restored by a helper called from
C that loaded another one, as hibernation and SEV's C-bit check do)
switches nothing and is no PTI code (MODEL 3.1).  A write of the user page
table always is: that table exists for PTI alone.

A condition implies the option when, with the option(s) set to 0, it is false
whatever the other symbols are: ``#ifdef CONFIG_X``, ``#if IS_ENABLED(CONFIG_X)
&& defined(CONFIG_Y)``, the ``#else`` side of ``#ifndef CONFIG_X``.

A run-time gate on a feature the configuration compiles out when the option
is off keeps the switch from ever running without the option (MODEL 6.1): a
switch that only the on-side of alternatives on features F reaches
(``ALTERNATIVE "jmp .Lend_\\@", "", X86_FEATURE_PTI``), where the tree's own
``DISABLED_MASKn`` (``disabled-features.h``: ``DISABLE_PTI`` under ``#ifndef
CONFIG_PAGE_TABLE_ISOLATION``; 6.15+: the masks the build writes from
``Kconfig.cpufeatures``, ``X86_DISABLED_FEATURE_PTI`` ``depends on
!MITIGATION_PAGE_TABLE_ISOLATION``), evaluated with the option(s) off, holds every
F.  That is not an error: the switch is dead code in a kernel built without
PTI (a few bytes and the ``jmp`` around them).  It is reported as a check
(info), so that a reviewer still sees a switch compiled in without its
option.  This is how the 32-bit entry code (4.19+ ``entry_32.S``, the
IDT-entry macros it expands) builds its switches.  A tree that defines no
mask gives no such gate: the finding is then an error.

Messages: ``CR3 switched to the {target} page table outside #ifdef {option}``
(error), and ``... outside #ifdef {option} (compiled out at run time: the
gate's feature is disabled without it)`` (info); ``{option}`` is the first of
the options the tree's Kconfig declares.

## Why is this bad?
MODEL 1 and 6: "Something with this amount of performance impact needs to be
100% optional" (the review of the first KAISER patch, 2017, whose switch
macros were defined with no config option around them).  A kernel built
without PTI must not contain the switch at all.  The rule judges the code the
current profile compiles; run it with the ``pti-off`` profile too: there a
correct kernel compiles no switch.  In that profile every path starts with
the PTI feature off, so a gated switch is never reached: only the switch
macros' bodies (by their contracts) and ungated switches are seen there.

## Example
```asm
.macro SWITCH_TO_KERNEL_CR3 scratch_reg:req
	mov	%cr3, \\scratch_reg
	andq	$(~0x1000), \\scratch_reg
	mov	\\scratch_reg, %cr3
.endm
```

Use instead:
```asm
#ifdef CONFIG_PAGE_TABLE_ISOLATION
.macro SWITCH_TO_KERNEL_CR3 scratch_reg:req
	mov	%cr3, \\scratch_reg
	andq	$(~0x1000), \\scratch_reg
	mov	\\scratch_reg, %cr3
.endm
#else
.macro SWITCH_TO_KERNEL_CR3 scratch_reg:req
.endm
#endif
```

## Options
- ``pti_options``: the config symbols that count as the PTI option
  (default ``CONFIG_PAGE_TABLE_ISOLATION``, ``CONFIG_MITIGATION_PAGE_TABLE_ISOLATION``,
  ``CONFIG_KAISER``).

## References
- Brian Gerst's review of "[PATCH 01/23] x86, kaiser: prepare assembly for
  entry/exit CR3 switching" (2017-10-31): "This all needs to be conditional
  on a config option."
- Linux 4.15+ ``arch/x86/entry/calling.h`` defines the switch macros under
  ``#ifdef CONFIG_PAGE_TABLE_ISOLATION`` (6.9+: ``CONFIG_MITIGATION_PAGE_TABLE_ISOLATION``),
  with empty macros in the ``#else`` side.
- Linux 4.19+ ``arch/x86/entry/entry_32.S``: the switch macros are built
  always, gated by an alternative on ``X86_FEATURE_PTI``, which
  ``asm/disabled-features.h`` compiles out without the option.
"""

from __future__ import annotations

import itertools
import sys

from entrylint.analysis.contracts import CR3Effect
from entrylint.analysis.gates import Gates
from entrylint.cpp.expr import evaluate
from entrylint.cpp.lexer import lex_text
from entrylint.findings.model import Finding, Severity
from entrylint.plugins import hookimpl
from entrylint.plugins.info import RuleInfo
from entrylint.plugins.support import finding
from entrylint.source.tree import kconfig_declares

PTI_OPTIONS = ("CONFIG_PAGE_TABLE_ISOLATION", "CONFIG_MITIGATION_PAGE_TABLE_ISOLATION", "CONFIG_KAISER")
_WRAPPERS = {"defined", "IS_ENABLED", "IS_BUILTIN", "IS_REACHABLE", "IS_MODULE"}


class MissingConfigGuard(Finding):
    id = "EL401"
    slug = "missing-config-guard"
    severity = Severity.ERROR
    template = "CR3 switched to the {target} page table outside #ifdef {option}"


class MissingConfigGuardGated(MissingConfigGuard):
    """The switch is built without the option but never runs there."""

    severity = Severity.INFO
    template = ("CR3 switched to the {target} page table outside #ifdef {option} "
                "(compiled out at run time: the gate's feature is disabled without it)")


@hookimpl
def entrylint_rules():
    return [RuleInfo.from_module(sys.modules[__name__], MissingConfigGuard, precision="high",
                                 security_severity=3.0, tags=("pti", "config"))]


@hookimpl
def entrylint_check(analysis, config):
    options = tuple(config.option(MissingConfigGuard.slug, "pti_options", PTI_OPTIONS))
    fw = analysis.forward
    P = analysis.program.instructions
    gates = None
    option = named_option(analysis.expansion.root, options)
    for node, (target, ev) in sorted(switches(analysis).items()):
        if any(implies(c.text, c.taken, options) for c in P[node].cond):
            continue
        gates = gates or Gates(analysis.cfg)
        cls = MissingConfigGuardGated if compiled_out_gate(analysis, gates, node, options) else MissingConfigGuard
        key = fw.key_of("cr3-write", ev.node, ev.before, ev.detail) if ev else None
        yield finding(cls, analysis, P[node], key, target=target, option=option)


def named_option(root, options: tuple[str, ...]) -> str:
    """The option as the tree names it: the first of ``options`` its Kconfig
    declares (6.9+: ``CONFIG_MITIGATION_PAGE_TABLE_ISOLATION``)."""
    declares = kconfig_declares(root)
    return next((o for o in options if declares is not None and declares(o)), options[0])


def compiled_out_gate(analysis, gates, node: int, options: tuple[str, ...]) -> bool:
    """Whether ``node`` runs only where alternatives on features have their
    on-side, each feature compiled out by the tree's ``DISABLED_MASK`` once
    the options are off."""
    out = analysis.expansion.compiled_out(options)
    if not out:
        return False
    on = gates.gates(node)
    return bool(on) and on <= out


def switches(analysis) -> dict:
    """node -> (target, first event) of every PTI CR3 switch built: a write seen
    switching on some path, or a CR3 write in the body of a contracted switch
    macro (a profile without PTI never reaches those, but builds them)."""
    out = {}
    for ev in sorted(analysis.forward.event_list("cr3-write"), key=lambda e: (e.node, e.before)):
        if ev.detail.startswith("pti:") and ev.node not in out:
            out[ev.node] = (ev.detail[4:], ev)
    inst = analysis.forward.instances
    for i in analysis.program.instructions:
        effects = [c.cr3 for _, c in inst.get(i.index, ()) if c.cr3 is not CR3Effect.NONE]
        if effects and i.info is not None and i.info.cr3_write and i.index not in out:
            out[i.index] = ("saved" if effects[0] is CR3Effect.RESTORE else effects[0].value, None)
    return out


def implies(text: str, taken: bool, options: tuple[str, ...]) -> bool:
    """True when the ``#if`` side (``taken``) or ``#else`` side of ``text`` can
    hold only with one of ``options`` set: with all of them 0, the condition
    is on the other side for every value of the other names."""
    words = _symbols(text)
    if words is None:
        return False
    free = sorted({w for w in words if w.isidentifier() and w not in options} - _WRAPPERS)
    if len(free) > 8 or not any(w in options for w in words):
        return False
    for values in itertools.product("01", repeat=len(free)):
        env = dict(zip(free, values))
        expr = " ".join("0" if w in options else env.get(w, w) for w in words)
        try:
            if bool(evaluate(lex_text(expr))) == taken:
                return False
        except Exception:
            return False
    return True


def _symbols(text: str) -> list[str] | None:
    """The expression's token texts with ``defined(X)``, ``IS_ENABLED(X)``...
    replaced by ``X`` (``IS_MODULE(X)`` by ``X_MODULE``)."""
    toks = [t.text for t in lex_text(text)]
    out, i = [], 0
    while i < len(toks):
        w = toks[i]
        if w in _WRAPPERS:
            if i + 3 < len(toks) and toks[i + 1] == "(" and toks[i + 3] == ")":
                name, i = toks[i + 2], i + 4
            elif w == "defined" and i + 1 < len(toks):
                name, i = toks[i + 1], i + 2
            else:
                return None
            out.append(name + "_MODULE" if w == "IS_MODULE" else name)
            continue
        out.append(w)
        i += 1
    return out
