"""The last walk taken again (the language server's re-analysis after an
edit): when nothing the walk reads differs, a walk of the new program
would visit the same (node, tuple, context) triples in the same order, find
the same first paths and record the same events -- the last walk *is* that
walk, and it is not made again.

What the walk reads (forward.analyze): the entry points and their tuples;
the transfer configuration; the CFG's node numbering (``cfg.entry`` of a
position a tuple holds: ``pushq $1f`` ... ``iretq``); and, at each node it
visited, what ``forward.plan`` works out (flow, edges, fixups and the labels
their faults are told apart by, the contracted macro instances, the callee
a call enters) and what the node does to each tuple that reached it (a step
or a quiet pass, less the registers dead after it).  A node whose plan
differs only in what step() reads of its instruction (an operand retyped:
its signature) or in the registers live after it (the edit moved a use)
is compared tuple by tuple: the result of the new instruction on each tuple
the last walk brought there against the old one's (for an instruction that
goes on to the next one or jumps: a conditional branch, a call or a return
the walk reads for more than its step).  Nodes the last walk
never visited cannot be reached unless one of these differs.

Anything else -- a line added or deleted (every node after it renumbered:
analysis/shifted.py), a branch retargeted, another answer for a call into
another file's asm
(``Config.external``: asked again for each tuple the last walk brought to
the call), a walk cut by its limits -- and the walk is made from the start.

A line added or deleted moves every node after it, in the records and in
the positions a tuple holds (``insn:N``, pushq $1f): analysis/shifted.py
takes the last walk moved when the line's instruction changes no tuple
and goes on to a node nothing else leads to.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import replace

from entrylint.analysis.forward import labels_by_node, plan, stepped_at, without_dead
from entrylint.analysis.walked import Forward
from entrylint.program.effects import Flow


def entries_key(entries) -> tuple:
    return tuple((e.node, e.symbol, e.kind.name, e.kind.tuples) for e in entries)


def numbering(cfg) -> tuple:
    """What ``cfg.entry`` of any position depends on: the instruction count
    and the forks chained at each place."""
    return cfg.n, tuple((i, tuple(f.index for f in chain)) for i, chain in cfg.chains.items())


def reused(memo, program, cfg, entries, config, live_out, max_visits: int, max_steps: int | None,
           inst: dict) -> Forward | None:
    """The memo's last walk as the walk of ``program`` (a Forward of its
    own: the last one's records, this program's CFG), or None when the walk
    has to be made (see the module's doc).  ``inst``: this program's
    contracted macro instances (contracts.contract_instances)."""
    last = memo.last if memo is not None else None
    if last is None or memo.key is None or memo.key != config.key:
        return None
    old, plans, old_live, old_external, old_labels_at = last
    if (old_external is None) != (config.external is None):
        return None
    if (old_live is None) != (live_out is None) or old.visits > max_visits \
            or entries_key(entries) != entries_key(old.entries) or numbering(cfg) != numbering(old.cfg):
        return None
    alike, by_sig = memo.alike, memo.by_sig
    labels_at: dict[int, set[str]] | None = None  # this program's, made if a faulting node asks
    old_inst = old.instances
    steps = old.steps
    ins_list = program.instructions
    # a program made from the last walk's (program/patch.py): but for these
    # instructions, every one is that program's, with its edges
    pf = program.patched_from
    changed = pf[1] if pf is not None and pf[0] is old.cfg.program.token else None
    t0 = time.perf_counter()
    now_plans: dict[int, tuple] = {}
    for node, ts in old.before.items():
        if not ts:
            continue  # (a reader's lookup of the last analysis left it)
        if inst.get(node) != old_inst.get(node):
            return None
        if node >= cfg.n:  # a fork: its edges and assumptions
            if cfg.succ(node) != old.cfg.succ(node):
                return None
            continue
        was = plans[node]
        if changed is not None and node not in changed and was[0].info is not None and was[0].info.flow is Flow.NEXT:
            # the last program's instruction, its edges and labels: its plan
            # (which reads nothing else of an instruction that falls through)
            now = now_plans[node] = (ins_list[node], *was[1:])
        else:
            now = now_plans[node] = plan(node, ins_list[node], cfg, config, memo, alike, inst)
            if now[1:6] != was[1:6]:  # how, fixups, external, edges, in an instance
                return None
            if now[2] and labels_at is None:
                labels_at = labels_by_node(program)
            if not outside_alike(now, was, ts, labels_at, old_labels_at, node, node, config, old_external):
                return None
            if now[1] == "call" and cfg.entry(now[0].target) != old.cfg.entry(was[0].target):
                return None
        lv = live_out.get(node, ()) if live_out is not None else None
        old_lv = old_live.get(node, ()) if old_live is not None else None
        if now[7] == was[7] and (lv is old_lv or lv == old_lv):
            continue
        if now[7] != was[7] and (now[1] != "edges" or any(cond for _, _, cond, _ in now[4])):
            return None  # the loop reads such an instruction itself (a branch's flag, a call's name)
        for t in ts:  # what the node does to each tuple the last walk brought here
            a, stepped_a = _outcome(was, t, old_lv, config, by_sig)
            b, stepped_b = _outcome(now, t, lv, config, by_sig)
            if a != b:
                return None
            steps += stepped_b - stepped_a
    if max_steps is not None and steps > max_steps:
        return None
    new = replace(old, cfg=cfg, entries=entries, instances=inst, memo={}, steps=steps,
                  before=_walked(old.before), after=_walked(old.after),
                  kernel_returns=_walked(old.kernel_returns), seconds=time.perf_counter() - t0, reused=True)
    if labels_at is None:  # (a program made from the last walk's has its labels)
        labels_at = old_labels_at if changed is not None else labels_by_node(program)
    memo.last = (new, now_plans, live_out, config.external, labels_at)
    return new


def outside_alike(now: tuple, was: tuple, ts, labels: dict | None, old_labels: dict, node: int, old_node: int,
                  config, old_external) -> bool:
    """What the walk reads at instruction ``node`` (plan ``now``) besides
    its plan and steps is what the last walk read at ``old_node`` (plan
    ``was``): a faulting instruction's labels (``labels``: the program's by
    node, made when a faulting node asks: its fixups tell returns apart by
    them), and what a call into another file's asm answers now for each
    tuple ``ts`` the last walk brought there."""
    if now[2] and labels.get(node) != old_labels.get(old_node):
        return False
    return not now[3] or all(config.external(now[0].target_name, t) == old_external(was[0].target_name, t)
                             for t in ts)


def _outcome(pl: tuple, t, live, config, by_sig: dict) -> tuple[tuple, int]:
    """What forward.analyze's loop makes of ``t`` at a node with plan ``pl``
    (the tuple after it and its events), and 1 when that is a step (the
    analysis-steps budget counts them)."""
    ins, _how, _fx, _ext, _edges, _in, q, sig = pl
    if q is not None and (not t.held or q.isdisjoint(t.held_regs())):
        return (without_dead(t, live) if live is not None and t.held else t, ()), 0
    u, evs = stepped_at(ins, sig, t, live, config, by_sig)
    return (u, tuple(evs)), 1


def _walked(d: dict) -> defaultdict:
    """A walk's per-node dict as the walk left it: without the empty entries
    a reader's lookup of the last analysis added (a defaultdict)."""
    return defaultdict(set, {k: v for k, v in d.items() if v})
