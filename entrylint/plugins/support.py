"""Helpers rules share to build findings from the analysis' records (the
rule modules stay as short as their docs)."""

from __future__ import annotations

import re
from collections import deque

from entrylint.analysis.state import Feature, Space
from entrylint.findings.model import PathStep, TraceStep
from entrylint.program.constants import XENPV
from entrylint.program.effects import DataOp


def on_user_gs(tuples) -> list:
    """The tuples that reach a per-cpu access with the user GS: EL302's
    finding there (less those that assume Xen PV: the hypervisor switches
    GS and ``swapgs`` is patched out)."""
    return [t for t in tuples if t.gs is Space.USER and t.feature(XENPV) is not Feature.ON]


def cr3_operand(ins) -> str | None:
    """The register ``ins`` takes as a CR3 value: the source of a CR3
    write, or the register whose bits a ``bt``/``test`` asks
    (``testl $PTI_SWITCH_MASK, %eax``; 6.12's PARANOID_RESTORE_CR3 tests
    the saved value's user bit and writes nothing when it is the kernel's)."""
    info = ins.info
    if info is None or not (info.cr3_write or getattr(info, "op", None) in (DataOp.BT, DataOp.TEST)):
        return None
    return info.src


def trace_of(ins) -> tuple[TraceStep, ...]:
    return tuple(TraceStep(f.location, f.name, f.kind) for f in ins.trace)


_CALLS = None


def _is_call(ins) -> bool:
    global _CALLS
    if _CALLS is None:
        from entrylint.program.effects import Flow

        _CALLS = (Flow.CALL, Flow.INDIRECT_CALL)
    return ins.info is not None and ins.info.flow in _CALLS


def node_table(analysis, key, make) -> list:
    """``make(v)``'s values for every node of the analysis' CFG, made once
    per analysis (kept in ``analysis.memo`` under ``key``: the analysis'
    other rules, and the next analysis when it may take it:
    ``analysis.carries``; else the memo goes after the rules, api.check_one).  ``make(v)``
    returns (value, whether it read more than node ``v``'s own instruction
    and edges: what a callee out of the file does).  An analysis whose
    program was made from the last one's (``analysis.carried``: program/patch.py,
    instructions that fall through on both sides made again) takes the
    last table but at those instructions and at the nodes that read more."""
    got = analysis.memo.get(key)
    if got is not None:
        return got[0]
    total = analysis.cfg.n + len(analysis.program.forks)
    from entrylint.analysis.carry import per_node

    last = analysis.carried.get(key) if analysis.carried is not None else None
    if last is not None and len(last[0]) != total:
        last = None
    more = set(last[1]) if last is not None else set()
    (table,), nodes = per_node(analysis.program, total, last[:1] if last is not None else None, (None,), more)
    for v in nodes:
        table[v], wider = make(v)
        if wider:
            more.add(v)
        else:
            more.discard(v)
    analysis.memo[key] = (table, frozenset(more))
    return table


def path_of(analysis, key, limit: int = 200) -> tuple[PathStep, ...]:
    """The path from the entry point to ``key``, one step per instruction
    where the state changed or control branched, per call it passed (a C
    call is a step of its own: which call a later step came through), and
    the first and last; its last ``limit`` steps.

    Rules ask for the path of every instruction they report, and a run of
    them along one path (a ``.rept`` of pushes on the user stack) asks for
    paths that share all but their last steps: each path is made from the
    nearest one asked for before on its way back to the entry (kept in
    ``forward.memo``), so a run of N costs N steps, not N times its length."""
    if key is None:
        return ()
    fw = analysis.forward
    P = analysis.program.instructions
    memo = fw.memo.setdefault(("path_of", limit), {})
    chain, cur = fw.back_to(key, memo)
    # what is kept of an element: the steps before it, the core of the last
    # instruction up to it, its place in the path, whether it is a step when
    # a longer path passes it, and its own step
    if cur is None:
        steps, core, pos, middle, own = deque(maxlen=limit), None, -1, False, None
    else:
        before, core, pos, middle, own = memo[cur]
        steps = deque(before, maxlen=limit)
    for k in reversed(chain):
        if middle:
            steps.append(own)
        pos += 1
        node, t, _ = k
        if node >= len(P):  # a fork: no step of its own
            middle, own = False, None
            continue
        how = fw.pred.get(k, (None, "entry"))[1]
        ins = P[node]
        c = t.core()
        middle = pos == 0 or c != core or how not in ("next", "here") or _is_call(ins)
        own = PathStep(ins.location, f"{how}: {ins.text}" if how != "next" else ins.text, str(t))
        core = c
    memo[key] = (tuple(steps), core, pos, middle, own)
    if own is not None:
        steps.append(own)  # the last: a step whatever it did
    return tuple(steps)


def last_change(analysis, key, name, changed) -> int | None:
    """The instruction (node) of the last step on the path to ``key``,
    looking back from it, after which ``changed(tuple there, tuple after)``
    holds; None when none does.  What is found for each key asked is kept
    under ``name`` (``forward.memo``): the search from a later key on the
    same path stops at it, so events along one path cost its length once."""
    if key is None:
        return None
    fw = analysis.forward
    memo = fw.memo.setdefault(name, {})
    chain, known = fw.back_to(key, memo)
    got = memo[known] if known is not None else None
    # the steps (x, y) of the chain, the last first; the one after ``known`` too
    for y, x in zip(chain, [*chain[1:], known]):
        if x is not None and changed(x[1], y[1]):
            got = x[0]
            break
    memo[key] = got
    return got


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
               context=context_of(ins), nodes=(ins.index,), key=key)
