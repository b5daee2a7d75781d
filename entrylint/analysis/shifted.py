"""The last walk moved over an instruction added (the language server's
re-analysis after a line of code is added: the first key of a new line
makes an instruction the assembler refuses, ``m``; a ``nop`` pasted in).

Every node from the new instruction ``k`` on is the last program's node
one further (``m(j)``: ``j`` below ``k``, ``j + 1`` from it, forks too).
When the new instruction sits in straight-line code and leaves every tuple
that reaches it as it is, a walk of the new program visits what the last
walk visited, in the same order, with the new instruction's visits just
after its predecessor's: the last walk, its nodes moved, with those visits
put in, *is* that walk.  What that takes (each checked here, else the walk
is made from the start):

* the new instruction has one way in, from a node ``p`` whose only edge
  (but its faults) goes to it, and one way on, to ``s``, the node ``p``
  went on to in the last program, which had no other way in: ``p``'s push
  was walked on at once (forward.py's ``once``) and is now, through ``k``
  (``p`` no call: what a call returns comes back later);
* every tuple the last walk brought to ``s`` passes ``k`` unchanged and
  quietly (transfer.quiet: no step, no event, no register forgotten), and
  ``k`` is in the contracted macro instances ``s`` is in (an edge leaving
  one applies its contract: the same on ``p -> k`` as on ``p -> s``
  before);
* at every node the last walk visited, what the walk reads is what it read
  at the node it moved from: the plan (flow, fixups, edges -- moved --,
  instances, the signature of what step() reads, a code label's position
  in it moved), the registers live after it (where the line made one live
  longer: what the node leaves of each tuple, compared), the labels of a
  faulting one, the entry of a callee, a call into another file's asm's
  answers; the entry points, moved; and the instances, their places moved
  with the lines;
* no tuple of the last walk holds a position at or past ``k`` (``insn:N``,
  a code label's address ``#N``: pushq $1f ... iretq), ``s`` was not
  crowded (forward.py's WIDEN: else ``k`` would be, the same way, and
  ``s`` again, counted twice), and the walk was not cut short.

The records are then the last walk's, nodes moved: ``before``/``after``
get ``k`` right after ``p``, and each first arrival at ``s`` from ``p``
becomes an arrival at ``k`` followed by one at ``s`` from ``k``.  An
analysis from the start gives the same: tests/test_shifted.py, and
``incremental.outcome()`` after every edit of tools/incremental_check.py.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from dataclasses import replace

from entrylint.analysis.cfg import COND_KINDS
from entrylint.analysis.forward import _CALL, _EDGES, labels_by_node, plan, without_dead
from entrylint.analysis.rewalk import _outcome, entries_key
from entrylint.analysis.walked import Forward

_POSITION = re.compile(r"insn:(\d+)|#(\d+)")  # a position a tuple holds (transfer, frames.py)


def inserted_at(old: list, new: list) -> int | None:
    """Where ``new`` (instructions) is ``old`` with one instruction put in:
    every other one's text, mode and section the same, in order."""
    if len(new) != len(old) + 1:
        return None
    k = 0
    n = len(old)
    while k < n and _alike(old[k], new[k]):
        k += 1
    for j in range(k, n):
        if not _alike(old[j], new[j + 1]):
            return None
    return k


def _alike(a, b) -> bool:
    return a.mnemonic == b.mnemonic and a.args == b.args and a.prefixes == b.prefixes and a.mode == b.mode \
        and a.section == b.section


def shifted(memo, program, cfg, entries, config, live_out, max_visits: int, max_steps: int | None,
            inst: dict) -> Forward | None:
    """The memo's last walk, moved over the instruction ``program`` added to
    its program, as the walk of ``program``; None when the walk has to be
    made (see the module's doc)."""
    last = memo.last if memo is not None else None
    if last is None or memo.key is None or memo.key != config.key:
        return None
    old, plans, old_live, old_external, old_labels_at = last
    ocfg = old.cfg
    if old.truncated or (old_external is None) != (config.external is None) \
            or (old_live is None) != (live_out is None) or len(program.forks) != len(ocfg.program.forks):
        return None
    k = inserted_at(ocfg.program.instructions, program.instructions)
    if k is None:
        return None
    t0 = time.perf_counter()

    def m(j: int) -> int:
        return j if j < k else j + 1

    if entries_key(entries) != tuple((m(e.node), e.symbol, e.kind.name, e.kind.tuples) for e in old.entries):
        return None
    # one way in, one way on, through straight-line code
    preds = cfg.preds()
    into = preds.get(k, ())
    on = cfg.succ(k)
    if len(into) != 1 or len(on) != 1 or on[0].kind in COND_KINDS or on[0].kind == "fault":
        return None
    p, s = into[0], on[0].dst
    if p == k or s == k or cfg.is_fork(p):
        return None
    p_old = p if p < k else p - 1
    s_old = s if s < k else s - 1
    if s_old in old.crowded:  # (crowded: the new instruction would be, and s after it, counted twice)
        return None
    out_p = [e for e in cfg.succ(p) if e.kind != "fault"]
    was_p = [e for e in ocfg.succ(p_old) if e.kind != "fault"]
    if len(out_p) != 1 or len(was_p) != 1 or out_p[0].dst != k or was_p[0].dst != s_old \
            or out_p[0].kind != was_p[0].kind or out_p[0].kind in COND_KINDS \
            or preds.get(s, ()) != [k] or ocfg.preds().get(s_old, ()) != [p_old]:
        return None
    if not _instances_moved(old.instances, inst, m, k):
        return None
    if inst.get(k) != inst.get(s):
        return None
    tm = _tuples_moved(old, k)  # the tuples that hold a position at or past k, moved
    if tm is None:
        return None
    # what the walk reads at every node it visited, moved
    alike, by_sig = memo.alike, memo.by_sig
    labels_at = None
    sigs = None  # alike's signatures by id, made if one differs
    now_plans: dict[int, tuple] = {}
    for j, ts in old.before.items():
        if not ts:
            continue  # (a reader's lookup of the last analysis left it)
        jn = m(j)
        if jn >= cfg.n:  # a fork: its edges and assumptions
            if [(m(e.dst), e.kind, e.assume) for e in ocfg.succ(j)] \
                    != [(e.dst, e.kind, e.assume) for e in cfg.succ(jn)]:
                return None
            continue
        was = plans[j]
        ins, wi = program.instructions[jn], was[0]
        if ins.info is wi.info and ins.imm_target is None and wi.imm_target is None \
                and ins.target_name == wi.target_name and (ins.target is None) == (wi.target is None):
            # what step() reads is the same (inserted_at: the same text): the
            # flow, the quiet registers and the signature; the edges are the new CFG's
            out = [e for e in cfg.succ(jn) if e.kind != "fault"]
            once = len(out) == 1 and out[0].kind not in COND_KINDS and len(preds.get(out[0].dst, ())) == 1
            now = now_plans[jn] = (ins, was[1], cfg.fixups.get(jn), was[3],
                                   tuple((e.dst, e.kind, e.kind in COND_KINDS, once) for e in out), jn in inst,
                                   was[6], was[7])
        else:
            now = now_plans[jn] = plan(jn, ins, cfg, config, memo, alike, inst)
        want_edges = tuple((k if j == p_old else m(d), kind, cond, once) for d, kind, cond, once in was[4])
        if now[1] != was[1] or now[3] != was[3] or now[5] != was[5] or now[6] != was[6] \
                or now[4] != want_edges or (tuple(m(x) for x in was[2]) if was[2] else was[2]) != now[2]:
            return None
        if now[7] != was[7]:  # what step() reads: the same but a code label's position, moved
            if sigs is None or now[7] not in sigs:
                sigs = {v: key for key, v in alike.items()}
            a, b = sigs[was[7]], sigs[now[7]]
            if a[:5] != b[:5] or a[5] is None or b[5] != m(a[5]):
                return None
        if now[2]:  # a faulting instruction: its fixups tell returns apart by its labels
            if labels_at is None:
                labels_at = labels_by_node(program)
            if labels_at.get(jn) != old_labels_at.get(j):
                return None
        if now[1] is _CALL:
            callee = ocfg.entry(was[0].target)
            if cfg.entry(now[0].target) != (m(callee) if callee is not None else None) or not now[0].target_name:
                return None  # (a call's path names its target: an index is no name)
        if now[3] and any(config.external(now[0].target_name, t) != old_external(was[0].target_name, t)
                          for t in ts):
            return None
        if live_out is not None:
            lv, old_lv = live_out.get(jn, ()), old_live.get(j, ())
            if lv is not old_lv and lv != old_lv:  # (the line reads a register: live longer before it)
                for t in ts:  # what the node does to each tuple the last walk brought here
                    (a, evs), _ = _outcome(was, t, old_lv, config, by_sig)
                    if _outcome(now, tm.get(t, t), lv, config, by_sig)[0] != (tm.get(a, a), evs):
                        return None
    # the new instruction: quiet on every tuple that reaches it
    if p in now_plans and (now_plans[p][1] is not _EDGES or now_plans[p][3]):
        # (a call's return comes back later, asm of another file's too: p's
        # push is not walked on at once)
        return None
    new_plan = now_plans[k] = plan(k, program.instructions[k], cfg, config, memo, alike, inst)
    q = new_plan[6]
    if new_plan[1] is not _EDGES or new_plan[2] or new_plan[3] or q is None:
        return None
    live_k = live_out.get(k, ()) if live_out is not None else None
    arriving = old.before.get(s_old, ())
    for t in (tm.get(t, t) for t in arriving):
        if t.held and (not q.isdisjoint(t.held_regs()) or live_k is not None and without_dead(t, live_k) is not t):
            return None
    if max_visits < len(old.pred) + len(arriving) or max_steps is not None and old.steps > max_steps:
        return None
    new = _moved(old, m, tm, k, p_old, s_old, on[0].kind)
    new.cfg, new.entries, new.instances = cfg, entries, inst
    if len(new.pred) > max_visits:
        return None
    new.seconds, new.reused = time.perf_counter() - t0, True
    if labels_at is None:
        labels_at = labels_by_node(program)
    memo.walked(new, now_plans, live_out, alike, config.external, labels_at)
    return new


def _instances_moved(old: dict, new: dict, m, k: int) -> bool:
    """``new`` (node -> instances) is ``old`` with its nodes moved and the
    places of its instances moved as the lines moved: each old place stands
    for one new place, and the contracts are the same."""
    if len(new) != len(old) + (k in new):
        return False
    places: dict = {}
    back: dict = {}
    for j, was in old.items():
        now = new.get(m(j))
        if now is None or len(now) != len(was):
            return False
        for (wp, wc), (np, nc) in zip(was, now):
            if wc != nc or places.setdefault(wp, np) != np or back.setdefault(np, wp) != wp:
                return False
    return all(np in back for np, _ in new.get(k, ()))


def _moved(old: Forward, m, tm: dict, k: int, p_old: int, s_old: int, how_k: str) -> Forward:
    """``old``'s records with every node moved (``m``), the tuples that hold
    positions moved (``tm``), and the new instruction ``k``'s visits put in
    where a walk makes them."""
    g = tm.get

    def mk(key):
        return (m(key[0]), g(key[1], key[1]), key[2]) if key is not None else None

    keys = frozenset(tm)

    def ms(ts: set) -> set:
        return {g(t, t) for t in ts} if keys and not ts.isdisjoint(keys) else ts

    before: defaultdict = defaultdict(set)
    after: defaultdict = defaultdict(set)
    s = m(s_old)
    for j, ts in old.before.items():
        if ts:
            before[m(j)] = ms(ts)
            if j == p_old:
                before[k] = set(ms(old.before[s_old]))
    for j, ts in old.after.items():
        if ts:
            after[m(j)] = ms(ts)
            if j == p_old:
                after[k] = set(ms(old.before[s_old]))
    pred: dict = {}
    for key, val in old.pred.items():  # (18k for 6.12's entry_64.S: the keys and links before k kept as they are)
        n, t, c = key
        pk = val[0]
        if t in tm:
            t = tm[t]
            key = (n if n < k else n + 1, t, c)
        elif n >= k:
            key = (n + 1, t, c)
        if pk is not None:
            pn, pt, pc = pk
            if pt in tm:
                val = ((pn if pn < k else pn + 1, tm[pt], pc), val[1])
            elif pn >= k:
                val = ((pn + 1, pt, pc), val[1])
        if n == s_old:  # p's push: to k, then from k to s at k's visit, next
            at_k = (k, t, c)
            pred[at_k] = val
            pred[(s, t, c)] = (at_k, how_k)
        else:
            pred[key] = val
    new = replace(old, before=before, after=after, pred=pred, memo={},
                  events={(kind, m(n), g(t, t), d): mk(key) for (kind, n, t, d), key in old.events.items()},
                  contexts=[replace(c, node=m(c.node), start=g(c.start, c.start)) for c in old.contexts],
                  exit_state={(m(n), g(t, t)): g(u, u) for (n, t), u in old.exit_state.items()},
                  kernel_returns=defaultdict(set, {(m(n), g(t, t)): {(ek, g(st, st)) for ek, st in v}
                                                   for (n, t), v in old.kernel_returns.items() if v}),
                  kernel_return_keys={(m(n), g(t, t), ek, g(st, st)): mk(key)
                                      for (n, t, ek, st), key in old.kernel_return_keys.items()},
                  frame_returns={m(n): {m(x) for x in v} for n, v in old.frame_returns.items()},
                  crowded=frozenset(m(j) for j in old.crowded))
    new._keys = new._children = new._by_kind = None
    return new


def _tuples_moved(old: Forward, k: int) -> dict | None:
    """The tuples of ``old`` that hold a position at or past ``k``, each to
    itself with those positions moved; None when that would change how two
    tuples sort (the walk sorts the tuples a call returns, a fault resumes
    with: a path first found may be another), e.g. ``insn:99`` moved to
    ``insn:100`` past ``insn:150``."""
    seen: set = set()
    for ts in old.before.values():
        seen |= ts
    for ts in old.after.values():
        seen |= ts

    def moved(mo) -> str:
        a, b = mo.group(1), mo.group(2)
        n = int(a or b)
        n = n if n < k else n + 1
        return f"insn:{n}" if a else f"#{n}"

    tm: dict = {}
    search = _POSITION.search
    for t in seen:
        if t.held and any(("insn:" in v or "#" in v) and search(v) for _, v in t.held):
            held = tuple((r, _POSITION.sub(moved, v)) for r, v in t.held)
            if held != t.held:
                tm[t] = t.with_(held=held)
    if tm:
        groups: dict = defaultdict(list)
        for t in seen:
            groups[(t.origin, t.gs, t.cr3, t.stack, t.features)].append(t)
        for grp in groups.values():
            if len(grp) > 1 and any(t in tm for t in grp):
                was = sorted(grp, key=_rest)
                now = [_rest(tm.get(t, t)) for t in was]
                if any(a >= b for a, b in zip(now, now[1:])):
                    return None
    return tm


def _rest(t) -> tuple:
    """What orders two tuples alike in the fields before ``held``."""
    return (t.held, t.flags, t.site)
