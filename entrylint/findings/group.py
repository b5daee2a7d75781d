"""One fault, one finding (MODEL 8): when every expansion of a macro body
line yields the same finding, it is reported once, at that body line -- the
line the author has to change -- with the expansion sites listed.

A finding is a candidate when its instruction came from a macro (its trace
has a body line below the reviewer's line).  The expansions of a body line
are the distinct outermost sites of the program's instructions whose trace
passes through it.  Going from the innermost body line outward, the first
line whose expansions the findings of one rule with one message cover, all
of them and at least two, is where they become one finding, with ``sites``
(a SWAPGS wrapper used everywhere is not the line to change, the IDT-entry
macro line that invokes it is); when only some expansions are faulty, each
stays at its site.
"""

from __future__ import annotations

import re
from dataclasses import replace

from entrylint.findings.model import Finding
from entrylint.source import Location


def _key(loc: Location) -> tuple:
    return (loc.file, loc.line)


def expansion_sites(program) -> dict[tuple, set[tuple]]:
    """body line (file, line) -> the outermost sites (file, line) it was expanded at."""
    out: dict[tuple, set[tuple]] = {}
    for ins in program.instructions:
        tr = ins.trace
        if len(tr) < 2:
            continue
        site = _key(tr[0].location)
        for frame in tr[1:]:
            out.setdefault(_key(frame.location), set()).add(site)
    return out


def group_expansions(findings: list[Finding], program) -> list[Finding]:
    candidates = [f for f in findings if len(f.trace) >= 2 and not f.id.startswith("EL9") and f.location]
    if not candidates:
        return findings
    sites = expansion_sites(program)
    by_kind: dict[tuple, list[Finding]] = {}
    for f in candidates:
        by_kind.setdefault((f.id, f.message), []).append(f)
    merged: dict[int, Finding | None] = {}
    for fs in by_kind.values():
        if len(fs) < 2:
            continue
        # depth d counts frames from the innermost body line outward
        for d in range(1, max(len(f.trace) for f in fs)):
            groups: dict[tuple, list[Finding]] = {}
            for f in fs:
                if id(f) not in merged and len(f.trace) > d:
                    groups.setdefault(_key(f.trace[-d].location), []).append(f)
            for body, group in groups.items():
                at = {_key(f.location) for f in group}
                if len(at) >= 2 and at == sites.get(body, set()):
                    group = sorted(group, key=Finding.sort_key)
                    first = group[0]
                    merged[id(first)] = replace(
                        first, location=first.trace[-d].location, trace=first.trace,
                        sites=tuple(sorted({f.location for f in group}, key=lambda x: (x.file, x.line, x.col))),
                        symbol=first.trace[-d - 1].macro or first.symbol)
                    for f in group[1:]:
                        merged[id(f)] = None
    out = []
    for f in findings:
        if id(f) not in merged:
            out.append(f)
        elif merged[id(f)] is not None:
            out.append(merged[id(f)])
    return out


def _origin(f: Finding, comp: str, bad: str) -> tuple | None:
    """The step of the finding's path where the bad value it stands on was
    set (the first of the last run of steps holding it), as (file, line,
    col); None when the path does not say or the value came with the entry
    (each access before a missing or late switch is then its own fault: the
    line to change differs).  Paths into one switch by other ways (a branch
    taken, a replacement patched in) share it: the step's place, not how the
    path got there."""
    want = re.compile(rf"\b{comp}={bad}\b")
    steps = f.path
    k = len(steps)
    while k > 0 and want.search(steps[k - 1].state):
        k -= 1
    if k == len(steps) or k == 0:
        return None
    s = steps[k]
    return (s.location.file, s.location.line, s.location.col)


def group_inherited(findings: list[Finding]) -> list[Finding]:
    """One fault, one finding along a path (MODEL 8): once an instruction set
    a bad state (an exit switched to the user CR3 before it was done with
    kernel memory), the findings whose kind names a ``state_fault`` and whose paths
    hold that value from that same step only inherit the fault.  The one
    nearest the step (the shortest path) is reported, the others are its
    later steps.  A finding that stands for several expansions stays."""
    groups: dict[tuple, list[Finding]] = {}
    for f in findings:
        rule = type(f).state_fault
        if rule is None or f.sites or not f.location:
            continue
        origin = _origin(f, *rule)
        if origin is not None:
            groups.setdefault((rule, origin), []).append(f)
    merged: dict[int, Finding | None] = {}
    for group in groups.values():
        if len(group) < 2:
            continue
        group = sorted(group, key=lambda f: (len(f.path), f.sort_key()))
        first = group[0]
        later = sorted({f.location for f in group[1:]} - {first.location}, key=lambda x: (x.file, x.line, x.col))
        merged[id(first)] = replace(first, sites=tuple(later), sites_kind="later steps") if later else first
        for f in group[1:]:
            merged[id(f)] = None
    out = []
    for f in findings:
        g = merged.get(id(f), f)
        if g is not None:
            out.append(g)
    return out
