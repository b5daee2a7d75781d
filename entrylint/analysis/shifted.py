"""The last walk moved over the instructions a line added or removed (the
language server's re-analysis after a line of code is added or deleted: the
first key of a new line makes an instruction the assembler refuses, ``m``,
the last backspace takes it away; a ``nop`` pasted in, a line cut).  A line
of the file's code is one instruction ``k``; a line of a macro's body is one
per expansion, each a ``k`` of its own, taken one after the other (none
next to another); a line moved (cut and pasted back elsewhere in one
change: an editor's "move line") is a ``k`` taken out and one put in, once
per expansion of the macro it left or went into (program/lineup.py); a
line that makes none (a ``.if`` not taken, a macro that expands to
nothing) moves only the lines after it.

Every node past an instruction ``k`` is the last program's node one
further (added) or one nearer (removed) -- as many as the ``k`` before it
put in, less those taken out: ``m(j)``, forks too.  When ``k``
leaves every tuple that reaches it as it is and is walked on at once to
the node after it, a walk of the program with ``k`` visits what a walk of
the one without it visits, in the same order, with ``k``'s visits just
before that node's: the last walk, its nodes moved, with those visits put
in or taken out, *is* the walk of the new program.  What that takes (each
checked here, else the walk is made from the start), ``k -> s`` in the
program that has ``k``:

* ``k`` has one way on, to ``s``, which has no other way in; in the
  program without ``k``, ``s`` has the ways in ``k`` has (a label on
  ``k`` is on ``s``): each push to ``k`` was one to ``s``, and ``s``'s
  visits follow ``k``'s at once (forward.py's ``once``).  Neither has a
  way in that is no edge: no callee starts there, no iret or jump through
  a register goes there (a label that moved onto ``k`` is checked where
  those read it), no entry point but one whose label moved with the line
  (on ``k``, added before the entry's first instruction: the walk starts
  at ``k``, and ``s`` is walked on at once);
* every tuple that reaches ``k`` passes it unchanged and quietly
  (transfer.quiet: no step, no event, no register forgotten), and ``k`` is
  in the contracted macro instances ``s`` is in, or, before an
  invocation, in those its ways in are in (an edge leaving one applies its
  contract: the same into ``k`` as into ``s``, none from ``k`` to ``s``);
* at every node the last walk visited, what the walk reads is what it read
  at the node it moved from: the plan (flow, fixups, edges -- moved, to
  ``k`` for ``s`` or back --, instances, the signature of what step()
  reads, a code label's position in it moved), the registers live after
  it (where the edit made one live longer or shorter: what the node leaves
  of each tuple, compared), the labels of a faulting one, the entry of a
  callee, a call into another file's asm's answers; the entry points,
  moved; and the instances, their places moved with the lines;
* the positions the tuples hold (``insn:N``, a code label's address
  ``#N``: pushq $1f ... iretq) moved keep the order the walk sorts tuples
  in, and none is ``k`` removed; ``k`` and ``s`` were not crowded
  (forward.py's WIDEN: a widening at ``k`` is made again at ``s``, counted
  twice); and the walk was not cut short.

An instruction nothing leads to (after a jump or a return) is met by no
walk: the last walk's nodes are moved, what the walk reads at each checked
as above -- added, the node it comes before has no way in that is no edge
either (a label there may be on it now, and a position a tuple holds of
that label its own).

The records are then the last walk's, nodes and positions moved, ``k``'s
visits put in where a walk makes them: ``k`` pops where ``s`` popped, and
``s`` just after it.  The first arrival of a tuple at ``s`` becomes its
arrival at ``k``, in its place; its arrival at ``s`` from ``k`` comes just
after it when ``k``'s one way in walks on at once (straight-line code:
nothing pops between), else just before the first link ``s``'s visit made
(and where a visit of ``s`` made none, the walk is made).  Removed, the
reverse: ``s``'s arrivals take ``k``'s places.  An analysis from the start
gives the same: tests/test_shifted.py, and ``incremental.outcome()`` after
every edit of tools/incremental_check.py.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from dataclasses import replace

from entrylint.analysis.cfg import COND_KINDS
from entrylint.analysis.forward import _CALL, _EDGES, labels_by_node, plan, plan_edges, without_dead
from entrylint.program.lineup import edits, renumbering
from entrylint.analysis.rewalk import _outcome, outside_alike
from entrylint.analysis.walked import Forward

_POSITION = re.compile(r"insn:(\d+)|#(\d+)")  # a position a tuple holds (transfer, frames.py)


def shifted(memo, program, cfg, entries, config, live_out, max_visits: int, max_steps: int | None,
            inst: dict) -> Forward | None:
    """The memo's last walk, moved over the instructions ``program`` added
    to its program or removed from it, as the walk of ``program``; None
    when the walk has to be made (see the module's doc)."""
    last = memo.last if memo is not None else None
    if last is None or memo.key is None or memo.key != config.key:
        return None
    old, plans, old_live, old_external, old_labels_at = last
    ocfg = old.cfg
    if old.truncated or (old_external is None) != (config.external is None) \
            or (old_live is None) != (live_out is None) or len(program.forks) != len(ocfg.program.forks):
        return None
    was_ins, now_ins = ocfg.program.instructions, program.instructions
    got = edits(was_ins, now_ins)
    if got is None or got == ([], []) and inst == old.instances:
        return None  # (none: lines moved, and the instances' places with them -- else rewalk.reused's)
    t0 = time.perf_counter()
    gone, put = got
    total = ocfg.n + len(ocfg.program.forks)
    mv = renumbering(gone, put, total)  # an old node -> its new number (one taken out: None)
    m = mv.__getitem__
    back = renumbering(put, gone, total - len(gone) + len(put))  # the reverse (one put in: None)
    gone_s, put_s = set(gone), set(put)
    onto = _entries_onto(old.entries, entries, m, gone_s, put_s)
    if onto is None:
        return None
    # each k in the program that has it (kc) and the one that has not (nc):
    # put in, the new program; taken out, the old
    ways = {1: (cfg, ocfg, back.__getitem__, inst, put_s), -1: (ocfg, cfg, m, old.instances, gone_s)}
    sides = []  # (k, 1 put in / -1 taken out, p_old, s_old, how k goes on to s); s_old None: nothing leads to k
    redirect: dict = {}  # an edge's old destination -> its new one, where not m's
    bare: set[int] = set()  # old nodes that may have no way in but edges
    cmove: dict = {}  # an entry's or callee's old node -> its new one (its label on k now, or on s)
    called: dict = defaultdict(set)  # old node -> the names the calls that start a context there name
    for c in old.contexts:
        if c.kind == "call":
            called[c.node].add(c.name)
    labels_at = labels_by_node(program)
    for d, k in [(-1, k) for k in gone] + [(1, k) for k in put]:
        kc, nc, to_nc, kinst, kset = ways[d]
        added = d > 0
        into, on = kc.preds().get(k, ()), kc.succ(k)
        # a callee's first instruction: put in after its label (the label
        # on k now: the calls start there), or taken out (they start at s)
        starts = k in called if not added else \
            (names := called.get(_next_old(k, back, put_s))) is not None and names <= labels_at.get(k, set())
        if not into and (d, k) not in onto and not starts and not (old.before.get(k) if not added else None):
            # nothing leads to k (after a jump, a return): no walk meets it --
            # but whether it is a callee's or a label's position is checked at
            # the calls and the code labels loaded (_same_reads)
            sides.append((k, d, None, None, ""))
            bare.add(_next_old(k, back, put_s) if added else k)  # (added: the old node it comes before)
            continue
        if len(on) != 1 or on[0].kind in COND_KINDS or on[0].kind == "fault":
            return None
        s = on[0].dst
        if s == k or s in kset or kset.intersection(into) or kc.preds().get(s, ()) != [k]:
            return None
        s_n = to_nc(s)  # (in nc)
        if s_n is None or list(nc.preds().get(s_n, ())) != [to_nc(q) for q in into]:
            return None  # (without k, s has k's ways in: a label on k is on s)
        s_old = s_n if added else s
        if s_old in old.crowded or not added and k in old.crowded:
            return None  # (a widening at k is made again at s, counted twice)
        if not _contracts_alike(kinst, k, s, into):
            return None
        # straight: k's one way in is from a node (no fork) whose only edge
        # goes to it, its push walked on at once; else k is a join
        p = into[0] if len(into) == 1 and not kc.is_fork(into[0]) and (d, k) not in onto and not starts else None
        if p is not None:
            out = [e for e in kc.succ(p) if e.kind != "fault"]
            if len(out) != 1 or out[0].kind in COND_KINDS:
                p = None
        if (d, k) in onto:  # an entry point's label on k: on s without it
            if onto[(d, k)] != (s_old if added else m(s_old)):
                return None
            cmove[s_old if added else k] = k if added else m(s_old)
        if starts:  # the calls to k's label: their contexts start at k, or at s without it (_same_reads checks them)
            cmove[s_old if added else k] = k if added else m(s_old)
        p_old = (to_nc(p) if added else p) if p is not None else None
        sides.append((k, d, p_old, s_old, on[0].kind))
        # the edges to s go to k (added), the edges to k to s's new number (removed)
        if added:
            redirect[s_old] = k
        else:
            redirect[k] = m(s_old)
        bare.update((s_old,) if added else (k, s_old))
    if not _instances_moved(old.instances, inst, m, gone, put):
        return None
    moved = _tuples_moved(old, m)  # the tuples that hold a position past a k, moved
    if moved is None:
        return None
    tm, held = moved
    # k (removed) and s have no way in but their edges: no callee starts
    # there, no iret or jump through a register goes there, no entry point
    # but one whose label moved with the line (those pushes come at their
    # own times; a label on k that was on s, added, is checked where they
    # read it: the calls and the code labels loaded).  Added where nothing
    # leads, the node it comes before has none either: a label there may be
    # on k now, and the position a tuple holds of it k's, not that node's moved.
    if any(c.node in bare and c.node not in cmove for c in old.contexts) \
            or any(not bare.isdisjoint(v) for v in old.frame_returns.values()) \
            or any(n in bare or ocfg.entry(n) in bare for n in held if n < ocfg.n):
        return None
    k_plans = {}
    for k, d, _p, s_old, _how in sides:
        if s_old is None:
            continue
        # k: quiet on every tuple that reaches it (the tuples s got) -- checked first: cheap
        if d > 0:
            k_plan, live_k = plan(k, now_ins[k], cfg, config, memo, memo.alike, inst), live_out
            arriving = [tm.get(t, t) for t in old.before.get(s_old, ())]
            k_plans[k] = k_plan
        else:
            k_plan, live_k = plans.get(k) or plan(k, was_ins[k], ocfg, config, None, {}, old.instances), old_live
            arriving = old.before.get(k, ())
        q = k_plan[6]
        if k_plan[1] is not _EDGES or k_plan[2] or k_plan[3] or q is None:
            return None
        live_k = live_k.get(k, ()) if live_k is not None else None
        for t in arriving:
            if t.held and (not q.isdisjoint(t.held_regs()) or live_k is not None
                           and without_dead(t, live_k) is not t):
                return None
    now_plans = _same_reads(old, plans, program, cfg, config, memo, inst, live_out, old_live, old_external,
                            old_labels_at, labels_at, m, tm, redirect, gone_s)
    if now_plans is None:
        return None
    now_plans.update(k_plans)
    for i, (k, d, p_old, s_old, how) in enumerate(sides):
        if p_old is not None:
            p_plan = now_plans.get(m(p_old)) if d > 0 else plans.get(p_old)
            if p_plan is not None and (p_plan[1] is not _EDGES or p_plan[3]):
                # (a call's return comes back later, asm of another file's too:
                # p's push is not walked on at once)
                sides[i] = (k, d, None, s_old, how)
    if max_steps is not None and old.steps > max_steps:
        return None
    new = _moved(old, mv, back, tm, sides, cmove)
    if new is None or len(new.pred) > max_visits:
        return None
    new.cfg, new.entries, new.instances = cfg, entries, inst
    new.seconds, new.reused = time.perf_counter() - t0, True
    memo.walked(new, now_plans, live_out, memo.alike, config.external, labels_at)
    return new


def _next_old(k: int, back: list, put: set) -> int:
    """The old node an instruction put in at ``k`` comes before."""
    j = k + 1
    while j in put:
        j += 1
    return back[j] if j < len(back) else -1


def _contracts_alike(inst: dict, k: int, s: int, into) -> bool:
    """The edges into ``k`` and on to ``s`` leave the contracted macro
    instances (``inst``) the edges into ``s`` leave without ``k``, and
    ``k -> s`` leaves none (forward.py's leave(): a tuple that reaches ``k``
    reaches ``s`` as it is): ``k`` in the instances ``s`` is in, or a line
    before a macro's invocation, in those its ways in are in (entering one
    applies no contract)."""
    at_k, at_s = inst.get(k, ()), inst.get(s, ())
    if at_k == at_s:
        return True
    in_k, in_s = {w for w, _ in at_k}, {w for w, _ in at_s}
    if not in_k <= in_s:
        return False
    return all((in_q := {w for w, _ in inst.get(q, ())}) - in_k == in_q - in_s for q in into)


def _entries_onto(old: list, new: list, m, gone: set, put: set) -> dict | None:
    """The entry points ``new`` has where ``old`` has them, nodes moved
    (``m``), but those whose label moved onto an instruction put in or off
    one taken out: (1, k) -> the entry's old node, (-1, k) -> its new one;
    None where they differ otherwise, or where another entry point stays at
    a node one left (its pushes would come before k's)."""
    if len(old) != len(new):
        return None
    onto: dict = {}
    stay = set()
    for e, f in zip(old, new):
        if e.symbol != f.symbol or e.kind.name != f.kind.name or e.kind.tuples != f.kind.tuples:
            return None
        if f.node == m(e.node):
            stay.add(e.node)
            continue
        if f.node in put:
            key, at = (1, f.node), e.node
        elif e.node in gone:
            key, at = (-1, e.node), f.node
        else:
            return None
        if onto.setdefault(key, at) != at:
            return None
    if not stay.isdisjoint(at for (d, _k), at in onto.items() if d > 0):
        return None
    return onto


def _same_reads(old, plans, program, cfg, config, memo, inst, live_out, old_live, old_external, old_labels_at,
                labels_at: dict, m, tm: dict, redirect: dict, removed) -> dict | None:
    """The plans of the nodes the last walk visited (``removed`` left out),
    moved, when what the walk reads at each is what it read there (the
    module's doc); None when one differs.  ``redirect``: old -> new
    destination of the edges that go elsewhere than theirs moved (a p's)."""
    ocfg = old.cfg
    alike, by_sig = memo.alike, memo.by_sig
    sigs = None  # alike's signatures by id, made if one differs
    rget = redirect.get
    now_plans: dict[int, tuple] = {}
    for j, ts in old.before.items():
        if not ts or j in removed:
            continue  # (a reader's lookup of the last analysis left it; k's visits are checked apart)
        jn = m(j)
        if jn >= cfg.n:  # a fork: its edges and assumptions
            if [(rget(e.dst) if e.dst in redirect else m(e.dst), e.kind, e.assume) for e in ocfg.succ(j)] \
                    != [(e.dst, e.kind, e.assume) for e in cfg.succ(jn)]:
                return None
            continue
        was = plans[j]
        ins, wi = program.instructions[jn], was[0]
        if ins.info is wi.info and ins.imm_target is None and wi.imm_target is None \
                and ins.target_name == wi.target_name and (ins.target is None) == (wi.target is None):
            # what step() reads is the same (inserted: the same text): the
            # flow, the quiet registers and the signature; the edges are the new CFG's
            now = now_plans[jn] = (ins, was[1], cfg.fixups.get(jn), was[3], plan_edges(jn, cfg), jn in inst,
                                   was[6], was[7])
        else:
            now = now_plans[jn] = plan(jn, ins, cfg, config, memo, alike, inst)
        want_edges = tuple((rget(dst) if dst in redirect else m(dst), kind, cond, once)
                           for dst, kind, cond, once in was[4])
        if now[1] != was[1] or now[3] != was[3] or now[5] != was[5] or now[6] != was[6] \
                or now[4] != want_edges or (tuple(m(x) for x in was[2]) if was[2] else was[2]) != now[2]:
            return None
        if now[7] != was[7]:  # what step() reads: the same but a code label's position, moved
            if sigs is None or now[7] not in sigs or was[7] not in sigs:
                sigs = {v: key for key, v in alike.items()}
            a, b = sigs.get(was[7]), sigs.get(now[7])
            if a is None or b is None or a[:5] != b[:5] or a[5] is None or b[5] is None or b[5] != m(a[5]):
                return None
        if not outside_alike(now, was, ts, labels_at, old_labels_at, jn, j, config, old_external):
            return None
        if now[1] is _CALL:  # (a callee whose label moved with k: its redirect)
            callee = ocfg.entry(was[0].target)
            want = (rget(callee) if callee in redirect else m(callee)) if callee is not None else None
            if callee is not None and want is None or not now[0].target_name or cfg.entry(now[0].target) != want:
                return None  # (a call's path names its target: an index is no name)
        if live_out is not None:
            lv, old_lv = live_out.get(jn, ()), old_live.get(j, ())
            if lv is not old_lv and lv != old_lv:  # (the edit made a register live longer or shorter)
                for t in ts:  # what the node does to each tuple the last walk brought here
                    (a, evs), _ = _outcome(was, t, old_lv, config, by_sig)
                    if _outcome(now, tm.get(t, t), lv, config, by_sig)[0] != (tm.get(a, a), evs):
                        return None
    return now_plans


def _instances_moved(old: dict, new: dict, m, gone: list[int], put: list[int]) -> bool:
    """``new`` (node -> instances) is ``old`` with its nodes moved (``m``:
    the instructions at ``gone`` taken out, at ``put`` put in) and the
    places of its instances moved as the lines moved: each old place
    stands for one new place, and the contracts are the same."""
    if len(new) != len(old) + sum(k in new for k in put) - sum(k in old for k in gone):
        return False
    places: dict = {}
    back: dict = {}
    for j, was in old.items():
        jn = m(j)
        if jn is None:
            continue  # (one taken out)
        now = new.get(jn)
        if now is None or len(now) != len(was):
            return False
        for (wp, wc), (np, nc) in zip(was, now):
            if wc != nc or places.setdefault(wp, np) != np or back.setdefault(np, wp) != wp:
                return False
    return all(np in back for k in put for np, _ in new.get(k, ()))


def _moved(old: Forward, mv: list, back: list, tm: dict, sides: list, cmove: dict) -> Forward | None:
    """``old``'s records with every node moved (``mv``; ``back``: the
    reverse), the tuples that hold positions moved (``tm``), and each
    ``k``'s visits put in (added) or taken out where a walk makes them: k
    pops where s popped, s just after it (``sides``: (k, 1 added / -1
    removed, p_old, s_old, how k goes on) of each k; s_old None: nothing
    leads to k).  A first arrival at s is made where it was, now at
    k (removed: the reverse); the one at s from k when k pops: just after
    that first arrival when k's one way in walks on at once (``p_old``:
    straight code), else just before the first link s's visit made (None
    when one made none: where it goes is not known).  ``cmove``: an entry
    point's context moved with its label (old node -> new)."""
    g = tm.get
    m = mv.__getitem__

    def mk(key):
        return (m(key[0]), g(key[1], key[1]), key[2]) if key is not None else None

    keys = frozenset(tm)

    def ms(ts: set) -> set:
        return {g(t, t) for t in ts} if keys and not ts.isdisjoint(keys) else ts

    # s_old -> (1, k, s's new number, k walked on at once, how) (added);
    # k -> (-1, s_old, s's new number, ...) (removed)
    at = {(s_old if d > 0 else k): (d, k if d > 0 else s_old, m(s_old), p_old is not None, how)
          for k, d, p_old, s_old, how in sides if s_old is not None}
    before: defaultdict = defaultdict(set)
    skip = {s_old for _k, d, _p, s_old, _h in sides if s_old is not None and d < 0}  # (removed: s's from k)
    for j, ts in old.before.items():
        if not ts:
            continue
        got = at.get(j)
        if got is None:
            if j not in skip:
                before[m(j)] = ms(ts)
        elif got[0] > 0:  # k's first visit, then s's
            before[got[1]] = set(ms(ts))
            before[got[2]] = ms(ts)
        elif old.before.get(got[1]):  # s's first visit is where k's was
            before[got[2]] = ms(old.before[got[1]])
    # a node's first visit makes its entries in both, an instruction's (a
    # fork has none in ``after``): ``after`` in ``before``'s order
    after: defaultdict = defaultdict(set)
    was_after = old.after
    ks = {k for k, d, _p, _s, _h in sides if d > 0}
    for jn in before:
        if jn in ks:
            after[jn] = set(before[jn])  # (quiet: the tuples it was given)
            continue
        ts = was_after.get(back[jn])
        if ts:
            after[jn] = ms(ts)
    pred: dict = {}
    waiting: dict = {}  # (s_old, tuple, context) of an arrival at s still to put in -> k, s new
    first = min((k for k, *_ in sides), default=len(mv))  # the first node that moves
    for key, val in old.pred.items():  # (18k for 6.12's entry_64.S: the keys and links before the first k kept)
        n, t, c = key
        if n < first and not (keys and t in keys):
            pk = val[0]
            if pk is None or pk[0] < first and not (keys and pk[1] in keys):
                pred[key] = val
                continue
        nn = mv[n]
        if t in tm:
            t = tm[t]
            key = (nn, t, c)
        elif nn != n:
            key = (nn, t, c)
        pk = val[0]
        if pk is not None:
            pn, pt, pc = pk
            if waiting and (pn, g(pt, pt), pc) in waiting:
                # the first link s's visit made: the arrival at s from k just before it
                pt2 = g(pt, pt)
                k, s, how = waiting.pop((pn, pt2, pc))
                pred[(s, pt2, pc)] = ((k, pt2, pc), how)
            pnn = mv[pn]
            if pt in tm:
                val = ((pnn, tm[pt], pc), val[1])
            elif pnn != pn:
                val = ((pnn, pt, pc), val[1])
        got = at.get(n)
        if got is None:
            if n not in skip:  # (removed: s's arrivals from k are left out, k's first are s's)
                pred[key] = val
        elif got[0] > 0:  # the first arrival at s: at k now
            _d, k, s, once, how = got
            kk = (k, t, c)
            pred[kk] = val
            if once:  # k walked on at once: then s
                pred[(s, t, c)] = (kk, how)
            else:
                waiting[(n, t, c)] = (k, s, how)
        else:  # k's first arrival: s's now
            pred[(got[2], t, c)] = val
    if waiting:
        return None
    new = replace(old, before=before, after=after, pred=pred, memo={},
                  events={(kind, m(n), g(t, t), d): mk(key) for (kind, n, t, d), key in old.events.items()},
                  contexts=[replace(c, node=cmove[c.node] if c.node in cmove else m(c.node),
                                    start=g(c.start, c.start)) for c in old.contexts],
                  exit_state={(m(n), g(t, t)): g(u, u) for (n, t), u in old.exit_state.items()},
                  kernel_returns=defaultdict(set, {(m(n), g(t, t)): {(ek, g(st, st)) for ek, st in v}
                                                   for (n, t), v in old.kernel_returns.items() if v}),
                  kernel_return_keys={(m(n), g(t, t), ek, g(st, st)): mk(key)
                                      for (n, t, ek, st), key in old.kernel_return_keys.items()},
                  frame_returns={m(n): {m(x) for x in v} for n, v in old.frame_returns.items()},
                  # (the walk's tuples are the last one's, moved: k's are s's)
                  held_positions=([g(t, t) for t in old.held_positions[0]],
                                  {k: [g(t, t) for t in grp] for k, grp in old.held_positions[1].items()})
                  if old.held_positions is not None else None,
                  crowded=frozenset(m(j) for j in old.crowded))
    new.lookups_moved()
    return new


def _tuples_moved(old: Forward, m) -> tuple[dict, set[int]] | None:
    """The tuples of ``old`` that hold a position that moves (``m``: an old
    node's new number, None for one removed), each to itself with those
    positions moved, and every position the tuples hold; None when one
    holds a removed one, or when moving them would change how two tuples
    sort (the walk sorts the tuples a call returns, a fault resumes with: a
    path first found may be another), e.g. ``insn:99`` moved to
    ``insn:100`` past ``insn:150``."""
    holding, groups = _held_positions(old)
    gone = False

    def moved(mo) -> str:
        nonlocal gone
        a, b = mo.group(1), mo.group(2)
        n = int(a or b)
        try:
            n2 = m(n)
        except IndexError:  # (past the last node: a position no node has)
            n2 = n
        if n2 is None:
            gone = True
            n2 = n
        return f"insn:{n2}" if a else f"#{n2}"

    tm: dict = {}
    positions: set[int] = set()
    for t in holding:
        positions.update(int(a or b) for _, v in t.held for a, b in _POSITION.findall(v))
        held = tuple((r, _POSITION.sub(moved, v)) for r, v in t.held)
        if gone:
            return None
        if held != t.held:
            tm[t] = t.with_(held=held)
    if tm:
        for grp in groups.values():
            if len(grp) > 1 and any(t in tm for t in grp):
                was = sorted(grp, key=_rest)
                now = [_rest(tm.get(t, t)) for t in was]
                if any(a >= b for a, b in zip(now, now[1:])):
                    return None
    return tm, positions


def _held_positions(fw: Forward) -> tuple:
    """``fw.held_positions``, made the first time: the tuples of the walk
    that hold a code position, and by the fields before ``held`` every
    tuple alike to one of them in those (what _tuples_moved reads of the
    walk's tuples: a walk of 6.12's entry_64.S has thousands, a few dozen
    hold one)."""
    if fw.held_positions is None:
        seen: set = set()
        for ts in fw.before.values():
            seen |= ts
        for ts in fw.after.values():
            seen |= ts
        search = _POSITION.search
        holding = [t for t in seen if t.held and any(("insn:" in v or "#" in v) and search(v) for _, v in t.held)]
        keys = {_fields(t) for t in holding}
        groups: dict = defaultdict(list)
        for t in seen:
            if _fields(t) in keys:
                groups[_fields(t)].append(t)
        fw.held_positions = (holding, dict(groups))
    return fw.held_positions


def _fields(t) -> tuple:
    """The fields of a tuple before ``held``."""
    return (t.origin, t.gs, t.cr3, t.stack, t.features)


def _rest(t) -> tuple:
    """What orders two tuples alike in the fields before ``held``."""
    return (t.held, t.flags, t.site)
