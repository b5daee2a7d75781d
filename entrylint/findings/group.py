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

Along a path (``group_inherited``): the findings of a kind that names a
``state_fault`` are one fault per place the state went wrong -- the step that
set it, or, when it came with the entry, the first step reported for it --
and the later findings that only carry it on are that finding's ``later``
steps.  ``fold_profiles`` does the same across the profiles ``api.check``
merges (``merge_profile``: one finding per key, its profiles and sites
joined).
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
                        nodes=tuple(sorted({n for f in group for n in f.nodes})),
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


def _origin(f: Finding, comp: str, bad: str, seen: dict):
    """Where the bad value the finding stands on came from: ``("step", (file,
    line, col))`` for the step of its path that set it (the first of the last
    run of steps holding it); ``("entry", None)`` when every step holds it
    (it came with the entry: no step set it); None when the path does not
    say.  Paths into one switch by other ways (a branch taken, a replacement
    patched in) share it: the step's place, not how the path got there.
    ``seen``: (comp, bad, state) -> whether the state holds it, for all the
    findings (a run of them along one path has the same few states)."""
    steps = f.path
    k = len(steps)
    while k > 0:
        state = steps[k - 1].state
        got = seen.get((comp, bad, state))
        if got is None:
            got = seen[(comp, bad, state)] = re.search(rf"\b{comp}={bad}\b", state) is not None
        if not got:
            break
        k -= 1
    if k == len(steps):
        return None
    if k == 0:
        return ("entry", None)
    s = steps[k]
    return ("step", (s.location.file, s.location.line, s.location.col))


def _locs(fs) -> list:
    return sorted(set(fs), key=lambda x: (x.file, x.line, x.col))


def group_inherited(findings: list[Finding], forward=None) -> list[Finding]:
    """One fault, one finding along a path (MODEL 8).  The kinds that name a
    ``state_fault`` (a C call or a kernel access with the user CR3, a per-cpu
    access with the user GS) are judged on the state their path carries; the
    fault is the place where that state went wrong, and each later step that
    only carries it on is a further site of it, not a new finding:

    - **set by a step**: an instruction set the bad value (an exit switched to
      the user CR3 before it was done with kernel memory).  The findings whose
      paths hold that value from that same step are one fault; the one nearest
      the step (the shortest path) is reported, the others are its later
      steps.
    - **came with the entry** (the entry never switched, or switched too
      late): no step set the value, so the fault is the first place it did
      harm -- the first step of the path that is itself reported for a state
      that came with its entry (the first C call on the user CR3; a step
      reported after a switch set the value is another fault: moving that
      switch does not fix a path that never switched).  A switch before that step
      fixes every later step whose path passed it with the value unchanged,
      so a finding whose path passes a reported step of the same state fault
      is a later step of it (transitively: of the first such finding).

    What one fault is: one place the author has to change.  Two entries that
    each never switch are two faults (two switches to add), and stay two:
    neither path passes the other's reported step.  An entry whose code is
    shared (one ``interrupt`` macro behind 18 IDT entries, reported once at
    its macro line) is one fault, and the vector stubs' calls that come
    through it are its later steps.  A finding stands on one path, its
    witness; a later step reached on another path too is judged by the
    witness (the analysis keeps one predecessor per state).  A finding that
    stands for several expansions is not the later step of a step-set fault
    (its expansions would hide in one site).  ``forward``: the walk the
    findings' path keys are of (without it no path passes a reported step)."""
    rules = {id(f): type(f).state_fault for f in findings}
    holds: dict = {}
    origin = {id(f): _origin(f, *rules[id(f)], holds) for f in findings
              if rules[id(f)] is not None and f.location}
    # the steps reported for a state that came with the entry (a step harmed
    # after a switch set the value is another fault: moving that switch does
    # not fix a path that never switched)
    reported: dict[tuple, Finding] = {}
    for f in sorted((f for f in findings if origin.get(id(f)) == ("entry", None)), key=Finding.sort_key):
        for n in f.nodes:
            reported.setdefault((rules[id(f)], n), f)
    parent: dict[int, Finding] = {}
    by_step: dict[tuple, list[Finding]] = {}
    firsts: dict = {}  # rule -> first_reported
    for f in findings:
        o = origin.get(id(f))
        if o is None:
            continue
        if o[0] == "step" and not f.sites:
            by_step.setdefault((rules[id(f)], o[1]), []).append(f)
        elif o[0] == "entry":
            rule = rules[id(f)]
            if rule not in firsts:
                firsts[rule] = _first_reported(forward, reported, rule) if forward is not None else (lambda f: None)
            first = firsts[rule](f)
            if first is not None and first is not f:
                parent[id(f)] = first
    for group in by_step.values():
        if len(group) < 2:
            continue
        group = sorted(group, key=lambda f: (len(f.path), f.sort_key()))
        for f in group[1:]:
            parent[id(f)] = group[0]

    return _fold(findings, parent)


def _first_reported(forward, reported: dict, rule):
    """callable(finding) -> the finding in ``reported`` ((rule, instruction)
    -> finding) at the first instruction of the finding's path, from its
    entry point, that has one; else None.  What is found is kept per path
    key: a run of findings along one path costs its length once."""
    memo: dict = {}

    def first(f):
        if f.key is None:
            return None
        chain, cur = forward.back_to(f.key, memo)
        got = memo[cur] if cur is not None else None
        for k in reversed(chain):
            if got is None:
                got = reported.get((rule, k[0]))
            memo[k] = got
        return got

    return first


def _fold(findings: list[Finding], parent: dict[int, Finding]) -> list[Finding]:
    """Each finding with a parent becomes a later step of its root (the end
    of its parent chain; in a loop, where each passed the other first, the
    one with the shortest path), with its own later steps."""
    roots: dict[int, Finding] = {}

    def root(f: Finding) -> Finding:
        chain, cur = [], f
        while id(cur) not in roots and id(cur) in parent and all(g is not cur for g in chain):
            chain.append(cur)
            cur = parent[id(cur)]
        if id(cur) in roots:
            r = roots[id(cur)]
        elif any(g is cur for g in chain):
            at = next(i for i, g in enumerate(chain) if g is cur)
            r = min(chain[at:], key=lambda g: (len(g.path), g.sort_key()))
        else:
            r = cur
        for g in (*chain, cur):
            roots[id(g)] = r
        return r

    members: dict[int, list[Finding]] = {}
    for f in findings:
        r = root(f)
        if r is not f:
            members.setdefault(id(r), []).append(f)
    out = []
    for f in findings:
        if root(f) is not f:
            continue
        later = [loc for m in members.get(id(f), ()) for loc in (m.location, *m.later)]
        later = [loc for loc in _locs(later + list(f.later)) if loc != f.location]
        out.append(replace(f, later=tuple(later)) if later else f)
    return out


def fold_profiles(findings: list[Finding]) -> list[Finding]:
    """Across profiles (after ``api.check`` merged each profile's findings):
    a finding one profile reports on its own, at a place another profile
    reports as a later step of a finding of the same state fault, is that
    fault too.  The profiles differ in what is compiled (with
    CONFIG_TRACE_IRQFLAGS the IDT entry's first harm is the tracing call;
    without it the first harm is the irq-stack counter, a later step of the
    call where the call exists): one missing switch, one finding.  The
    finding keeps its own profiles (they say where its line is a fault)."""
    later_of: dict[tuple, Finding] = {}
    for f in sorted(findings, key=Finding.sort_key):
        rule = type(f).state_fault
        for loc in f.later if rule is not None else ():
            later_of.setdefault((rule, loc), f)
    parent = {}
    for f in findings:
        rule = type(f).state_fault
        y = later_of.get((rule, f.location)) if rule is not None else None
        if y is not None and y is not f:
            parent[id(f)] = y
    return _fold(findings, parent) if parent else findings


def _sites_union(a: tuple, b: tuple) -> tuple:
    """The sites of one finding under two profiles, in source order."""
    return tuple(sorted(set(a) | set(b), key=lambda x: (x.file, x.line, x.col)))


def merge_profile(merged: dict, findings) -> None:
    """One profile's findings into ``merged``: a finding another profile
    made too gets this one's profiles and sites added."""
    for f in findings:
        key = (f.id, f.fingerprint, f.location, f.message)
        old = merged.get(key)
        if old is None:
            merged[key] = f
        elif (not set(f.profiles) <= set(old.profiles) or not set(f.sites) <= set(old.sites)
              or not set(f.later) <= set(old.later)):
            merged[key] = replace(old, profiles=old.profiles + tuple(
                p for p in f.profiles if p not in old.profiles), sites=_sites_union(old.sites, f.sites),
                later=_sites_union(old.later, f.later))
