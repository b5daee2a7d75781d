"""Helpers rules share to build findings from the analysis' records (the
rule modules stay as short as their docs)."""

from __future__ import annotations

import re

from entrylint.findings.model import PathStep, TraceStep


def trace_of(ins) -> tuple[TraceStep, ...]:
    return tuple(TraceStep(f.location, f.name, f.kind) for f in ins.trace)


_CALLS = None


def _is_call(ins) -> bool:
    global _CALLS
    if _CALLS is None:
        from entrylint.program.effects import Flow

        _CALLS = (Flow.CALL, Flow.INDIRECT_CALL)
    return ins.info is not None and ins.info.flow in _CALLS


def route_of(analysis, key) -> tuple[int, ...]:
    """The instructions (indexes) the path to ``key`` passes, in order, each
    once: which reported steps a later finding passed (findings/group.py)."""
    if key is None:
        return ()
    n = len(analysis.program.instructions)
    return tuple(dict.fromkeys(node for node, _t, _how in analysis.forward.path(key) if node < n))


def path_of(analysis, key, limit: int = 200) -> tuple[PathStep, ...]:
    """The path from the entry point to ``key``, one step per instruction
    where the state changed or control branched, per call it passed (a C
    call is a step of its own: which call a later step came through), and
    the first and last."""
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
        if n in (0, len(raw) - 1) or core != prev_core or branchy or _is_call(ins):
            note = f"{how}: {ins.text}" if how not in ("next",) else ins.text
            steps.append(PathStep(ins.location, note, str(t)))
        prev_core = core
    return tuple(steps[-limit:])


_COUNTED = re.compile(r"(\.L[\w.$]*?)\d+\b")


def context_of(ins) -> str:
    """The instruction's text for the fingerprint (MODEL 2.8: stable across
    unrelated edits).  A local label a macro names with ``\\@`` carries the
    assembler's count of macro invocations so far, which any macro added
    above, or another profile's expansions, change: from a macro, its digits
    do not count (``.Ldone_57`` -> ``.Ldone_#``)."""
    text = " ".join(ins.text.split())
    return _COUNTED.sub(r"\1#", text) if len(ins.trace) > 1 else text


def finding(cls, analysis, ins, key=None, **args):
    """A finding of ``cls`` at instruction ``ins`` (the reviewer's line), with
    its expansion trace and, when ``key`` names a visited state, the path."""
    assumptions = ()
    if key is not None:
        compiled_out = getattr(analysis.program, "disabled", set())
        assumptions = tuple(f"{n}={v.value}" for n, v in key[1].features if n not in compiled_out)
    return cls(location=ins.location, args=args, trace=trace_of(ins), path=path_of(analysis, key),
               profiles=(analysis.expansion.profile,), assumptions=assumptions, symbol=ins.symbol,
               context=context_of(ins), nodes=(ins.index,), route=route_of(analysis, key))
