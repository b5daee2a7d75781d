"""One fault, one finding (MODEL 8): when every expansion of a macro body
line yields the same finding, it is reported once, at that body line -- the
line the author has to change -- with the expansion sites listed.

A finding is a candidate when its instruction came from a macro (its trace
has a body line below the reviewer's line).  The expansions of a body line
are the distinct outermost sites of the program's instructions whose trace
passes through it.  When the findings of one rule with one message cover all
of them (two or more), they become one finding at the body line with
``sites``; when only some expansions are faulty, each stays at its site.
"""

from __future__ import annotations

from dataclasses import replace

from entrylint.findings.model import Finding
from entrylint.source import Location


def _body(f: Finding) -> Location | None:
    return f.trace[-1].location if len(f.trace) >= 2 else None


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
    groups: dict[tuple, list[Finding]] = {}
    for f in findings:
        body = _body(f)
        if body is not None and not f.id.startswith("EL9") and f.location is not None:
            groups.setdefault((f.id, f.message, _key(body)), []).append(f)
    if not groups:
        return findings
    sites = expansion_sites(program)
    merged: dict[int, Finding | None] = {}
    for (_id, _msg, body), fs in groups.items():
        at = {_key(f.location) for f in fs}
        every = sites.get(body, set())
        if len(at) < 2 or at != every:
            continue
        fs = sorted(fs, key=Finding.sort_key)
        first = fs[0]
        one = replace(first, location=first.trace[-1].location, trace=first.trace[-1:],
                      sites=tuple(sorted({f.location for f in fs}, key=lambda loc: (loc.file, loc.line, loc.col))),
                      symbol=first.trace[-2].macro or first.symbol)
        merged[id(first)] = one
        for f in fs[1:]:
            merged[id(f)] = None
    out = []
    for f in findings:
        if id(f) in merged:
            if merged[id(f)] is not None:
                out.append(merged[id(f)])
        else:
            out.append(f)
    return out
