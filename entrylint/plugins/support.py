"""Helpers rules share to build findings from the analysis' records (the
rule modules stay as short as their docs)."""

from __future__ import annotations

from entrylint.findings.model import PathStep, TraceStep


def trace_of(ins) -> tuple[TraceStep, ...]:
    return tuple(TraceStep(f.location, f.name, f.kind) for f in ins.trace)


def path_of(analysis, key, limit: int = 200) -> tuple[PathStep, ...]:
    """The path from the entry point to ``key``, one step per instruction
    where the state changed or control branched (and the first and last)."""
    if key is None:
        return ()
    fw = analysis.forward
    P = analysis.program.instructions
    steps = []
    prev_core = None
    raw = fw.path(key)
    for n, (node, t, how) in enumerate(raw):
        if node >= len(P):
            continue
        ins = P[node]
        core = t.core()
        branchy = how not in ("next", "here")
        if n in (0, len(raw) - 1) or core != prev_core or branchy:
            note = f"{how}: {ins.text}" if how not in ("next",) else ins.text
            steps.append(PathStep(ins.location, note, str(t)))
        prev_core = core
    return tuple(steps[-limit:])


def finding(cls, analysis, ins, key=None, **args):
    """A finding of ``cls`` at instruction ``ins`` (the reviewer's line), with
    its expansion trace and, when ``key`` names a visited state, the path."""
    assumptions = ()
    if key is not None:
        compiled_out = getattr(analysis.program, "disabled", set())
        assumptions = tuple(f"{n}={v.value}" for n, v in key[1].features if n not in compiled_out)
    return cls(location=ins.location, args=args, trace=trace_of(ins), path=path_of(analysis, key),
               profiles=(analysis.expansion.profile,), assumptions=assumptions, symbol=ins.symbol,
               context=" ".join(ins.text.split()))
