"""``entrylint expand``: the expanded program, each instruction with its origin
and trace -- what ``gcc -E`` gives a C reviewer, for entry code.

The JSON shape is a stable contract (MODEL 8): keys may be added, never
renamed or dropped.
"""

from __future__ import annotations

import json

from entrylint.report.paths import display_path

JSON_VERSION = 1


def _frame(f, root) -> dict:
    return {"file": display_path(f.location.file, root), "line": f.location.line,
            "column": f.location.col, "macro": f.name, "kind": f.kind}


def _alt(ins, program) -> dict | None:
    if ins.alt is None:
        return None
    fork = program.forks[ins.alt.fork]
    return {"feature": ins.alt.feature, "side": ins.alt.side, "negated": ins.alt.negated,
            "fork": ins.alt.fork, "replacement": ins.alt.replacement,
            "features": [r.feature for r in fork.replacements]}


def _operand_text(op) -> str:
    return getattr(op, "text", None) or str(op)


def to_json_obj(exp) -> dict:
    prog, root = exp.program, exp.root
    instructions = []
    for ins in prog.instructions:
        loc = ins.location
        instructions.append({
            "index": ins.index,
            "symbol": ins.symbol,
            "section": ins.section,
            "mnemonic": ins.mnemonic,
            "operands": [_operand_text(o) for o in ins.operands],
            "text": ins.text,
            "file": display_path(loc.file, root),
            "line": loc.line,
            "column": loc.col,
            "trace": [_frame(f, root) for f in ins.trace],
            "alt": _alt(ins, prog),
            "canonical": ins.canonical,
            "offset": ins.offset,
            "size": ins.size,
            "condition": [str(c) for c in ins.cond],
            "encoded": ins.encoded,  # written as bytes (.byte), decoded by entrylint
        })
    data = [{"section": d.section, "symbol": d.symbol, "offset": d.offset, "size": d.size,
             "directive": d.stmt.text(), "file": display_path(d.stmt.location.file, root),
             "line": d.stmt.location.line} for d in prog.data]
    symbols = [{"name": s.name, "kind": s.kind, "section": s.section, "start": s.start, "end": s.end,
                "global": s.is_global, "file": display_path(s.location.file, root),
                "line": s.location.line} for s in prog.symbols.values()]
    forks = [{"index": f.index, "section": f.section, "orig": [f.orig_start, f.orig_end],
              "file": display_path(f.location.file, root), "line": f.location.line,
              "replacements": [{"feature": r.feature, "negated": r.negated, "flags": r.flags,
                                "range": [r.start, r.end]} for r in f.replacements]}
             for f in prog.forks]
    findings = [{"id": f.id, "slug": f.slug, "severity": f.severity.value,
                 "file": display_path(f.location.file, root) if f.location else None,
                 "line": f.location.line if f.location else None,
                 "column": f.location.col if f.location else None,
                 "message": f.message} for f in exp.findings]
    return {"version": JSON_VERSION, "file": display_path(str(exp.path), root),
            # relative to the working folder when below it: no bytes depend on where that is
            "root": display_path(str(root), None) if root else None, "profile": exp.profile,
            "instructions": instructions, "data": data, "symbols": symbols, "forks": forks,
            "findings": findings}


def to_json(exp) -> str:
    return json.dumps(to_json_obj(exp), indent=1, sort_keys=False) + "\n"


def _trace_text(ins, root) -> str:
    frames = ins.trace
    if len(frames) <= 1:
        return ""
    parts = []
    for f in frames:
        where = f"{display_path(f.location.file, root).rsplit('/', 1)[-1]}:{f.location.line}"
        parts.append(f"{f.name}@{where}" if f.name else where)
    return " > ".join(parts)


def to_text(exp) -> str:
    """One line per instruction, grouped by symbol, with origin and trace."""
    prog, root = exp.program, exp.root
    out = [f"# entrylint expand {display_path(str(exp.path), root)} (profile {exp.profile})"]
    cur = object()
    for ins in prog.instructions:
        if (ins.section, ins.symbol) != cur:
            cur = (ins.section, ins.symbol)
            sym = prog.symbols.get(ins.symbol) if ins.symbol else None
            kind = f" [{sym.kind}]" if sym else ""
            out.append(f"\n{ins.symbol or '(no symbol)'}:{kind}  # {ins.section}")
        loc = ins.location
        where = f"{display_path(loc.file, root)}:{loc.line}"
        alt = ""
        if ins.alt is not None:
            neg = "!" if ins.alt.negated else ""
            alt = f"  [alt {ins.alt.side} {neg}{ins.alt.feature}]"
        trace = _trace_text(ins, root)
        line = f"  {where:<36} {ins.text}"
        if alt or trace:
            line = f"{line:<80}{alt}{'  via ' + trace if trace else ''}"
        out.append(line.rstrip())
    for f in exp.findings:
        out.append(f"# {f}")
    return "\n".join(out) + "\n"
