"""``entrylint explain``: where am I -- which CR3, which GS, which stack, which
registers are live -- before and after each instruction of a line.

Reads the recorded results of the analysis; never analyzes again.
"""

from __future__ import annotations

import json

from entrylint.analysis.state import Tuple
from entrylint.report.paths import display_path


def _tuples(ts: set[Tuple]) -> list[str]:
    """MODEL 3's tuples (the register facts kept for inference are not shown)."""
    return sorted({str(t) for t in ts})


def _tuple_json(t: Tuple) -> dict:
    return {"origin": t.origin.value, "gs": t.gs.value, "cr3": t.cr3.value, "stack": t.stack.value,
            "features": {n: v.value for n, v in t.features}}


def _unique(ts) -> list[dict]:
    out, seen = [], set()
    for t in sorted(ts):
        if t.core() not in seen:
            seen.add(t.core())
            out.append(_tuple_json(t))
    return out


def rows(an, line: int | None = None, file: str | None = None):
    """The instructions of the reviewer's ``line`` in ``file`` (every instruction if None)."""
    for ins in an.program.instructions:
        loc = ins.location
        if line is not None and loc.line != line:
            continue
        if file is not None and loc.file != file:
            continue
        yield ins


def _flags(an, ins) -> dict[str, list[str]]:
    if an.flags is None:
        return {}
    reach = an.flags.before.get(ins.index, {})
    out = {}
    for flag, defs in sorted(reach.items()):
        out[flag] = sorted(("entry" if d.writer is None else
                            f"{an.program.instructions[d.writer].text}{' (undefined)' if d.undefined else ''}")
                           for d in defs)
    return out


def to_json(an, line: int | None = None) -> str:
    fw, root = an.forward, an.expansion.root
    items = []
    for ins in rows(an, line, str(an.expansion.path.resolve()) if line is not None else None):
        items.append({
            "index": ins.index, "text": ins.text, "symbol": ins.symbol,
            "file": display_path(ins.location.file, root), "line": ins.location.line,
            "before": _unique(fw.before.get(ins.index, ())),
            "after": _unique(fw.after.get(ins.index, ())),
            "live_before": sorted(an.liveness.before(ins.index)) if an.liveness else None,
            "live_after": sorted(an.liveness.after(ins.index)) if an.liveness else None,
            "flags": _flags(an, ins),
        })
    return json.dumps({"version": 1, "file": display_path(str(an.expansion.path), root),
                       "entries": [{"symbol": e.symbol, "kind": e.kind.name} for e in an.entries],
                       "instructions": items}, indent=1) + "\n"


def to_text(an, line: int | None = None) -> str:
    fw, root = an.forward, an.expansion.root
    out = []
    last = None
    for ins in rows(an, line, str(an.expansion.path.resolve()) if line is not None else None):
        where = f"{display_path(ins.location.file, root)}:{ins.location.line}"
        if where != last:
            out.append(where)
            last = where
        out.append(f"  {ins.text:<40} [{ins.symbol or '-'}]")
        before, after = fw.before.get(ins.index, set()), fw.after.get(ins.index, set())
        if not before:
            out.append("    not reached from any entry point")
            continue
        out.append("    before: " + "  ".join(_tuples(before)))
        if after != before:
            out.append("    after:  " + "  ".join(_tuples(after)))
        if an.liveness is not None:
            out.append(f"    live:   {' '.join(sorted(an.liveness.before(ins.index))) or '-'}"
                       f"  ->  {' '.join(sorted(an.liveness.after(ins.index))) or '-'}")
        fl = _flags(an, ins)
        if fl:
            out.append("    flags:  " + "; ".join(f"{k} from {', '.join(v)}" for k, v in fl.items()))
    if not out:
        out.append(f"no instruction comes from line {line}" if line else "no instructions")
    return "\n".join(out) + "\n"
