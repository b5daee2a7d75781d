"""The forward walk (MODEL 3): every path from every entry point, as sets of
exact tuples.

objtool's ``validate_branch()`` without its recursion: a worklist over
(node, tuple, context) triples, each visited once.  A context is a function
activation: the entry points of one kind with a starting tuple, or an asm
function called with a given tuple; calls into asm functions of the program are
answered by that context's summary (the tuples seen at its ``ret``), computed
once per (function, tuple) and shared by every call site -- the tabulation
that makes helpers like ``error_entry`` exact per caller.  A call to an asm
function of another file of the tree (4.14's ``switch_to_thread_stack``,
called from entry_64_compat.S) is answered the same way from that file's
own code (``Config.external``): helpers that switch CR3, GS or stacks and
return are followed through, not taken for C (MODEL 6.1); so is a jump there on
user state (4.4's INT80 to entry_64.S's iret), its exits judged at the jump.

The order (which path reaches a join first -- the path a finding shows --
and which variants crowd a node first): breadth first over runs of
straight-line code.  An edge that is an instruction's only one,
unconditional, into a node nothing else leads to is walked on at once (the
front of the queue); any other edge goes to the back.  A path shown goes
through the fewest such runs, and an instruction that changes no tuple,
added inside a run, at its head or after an instruction with one way out,
leaves the others where they were: the walk's records are the last ones
renumbered (tests/test_forward.py).  First in, first out put everything
after an added instruction one visit later: of 12 nops added at random
lines of 6.12's entry_64.S (defconfig), 3 changed the first path to
276-1176 (node, tuple, context) triples; none does in this order.  A nop
can change a tuple (it forgets the integer of a register dead after it
that a fork passed on): of 36 more (profile max, 6.12 entry_32.S and
entry_64.S, 5.15.135 entry_64.S), one after an alternative changed 3
first paths so.  On the 12 survey trees' arch/x86/entry the findings are
the same; 9 EL301 infos show another path, 6 of them with fewer steps.

The walk records, for every node, the tuples before and after it (what
``explain`` shows and rules read), the events rules judge (CR3 writes, exits,
C calls), and a predecessor link per visited triple so the path to any
point can be rebuilt (objtool's BT_INSN kept as data) -- ``Forward`` in walked.py,
with the questions asked of it.

Exception-table fixups (MODEL 3): an instruction that may fault continues at
its fixup with the state the fault leaves -- the tuple before the faulting
instruction (the interrupted context's GS and CR3), unless the kernel's own
exception return for a fault at that instruction resumes another one (an
IDT entry's tuple whose ``site`` is the instruction's label: error_entry
fixes the GS of a fault at load_gs_index's GS load, and its iret resumes the
kernel GS there).  Those returns are known only once the walk has drained,
so fixups are pushed then, and the walk goes on until nothing new is found.

Contracts (MODEL 3 "Contracts", ``analysis/contracts.py``): one invocation of
a contracted macro is an *instance* (the instructions whose trace shares the
prefix up to that macro's frame).  When control leaves an instance on a path
whose PTI is on or not tested, the tuple's cr3 is compared with the
contract's effect (KERNEL, USER; NONE: the cr3 the path entered the instance
with; RESTORE: not compared); on a difference a ``contract-mismatch`` event is
recorded at the last node inside (detail ``MACRO:expected:found``) and the
path goes on with the contract's value.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque

from entrylint.analysis import frames
from entrylint.analysis.cfg import CFG, COND_KINDS
from entrylint.analysis.contracts import CR3Effect, contract_instances, switching
from entrylint.analysis.entries import K_FROM_C, Entry
from entrylint.analysis.state import Feature, Origin, Space, Tuple
from entrylint.analysis.transfer import Config, quiet, refine, step
from entrylint.analysis.walked import Context, Forward, Key, register_target
from entrylint.program.constants import XENPV
from entrylint.program.effects import Flow

# what an instruction's flow asks of the walk (forward.analyze's plan per node)
_EDGES, _CALL, _RET, _TAIL, _EXIT, _IRET, _IJUMP, _STOP = "edges", "call", "ret", "tail", "exit", "iret", "ijump", "stop"
_OTHER = {Flow.EXIT_TO_USER: _EXIT, Flow.IRET: _IRET, Flow.INDIRECT_JUMP: _IJUMP, Flow.STOP: _STOP}


def without_dead(t: Tuple, live: frozenset[str]) -> Tuple:
    """``t`` without the small integers of registers not in ``live`` (dead
    after the instruction: never read again before written); remembered on
    ``t`` for the last ``live`` object asked about."""
    got = t._dead
    if got is not None and got[0] is live:
        return got[1] or t
    dead = [r for r, _ in t.ints() if r not in live]
    u = t.forget(dead) if dead else t
    object.__setattr__(t, "_dead", (live, u is not t and u))
    return u


def plan(node: int, ins, cfg: CFG, config: Config, memo, alike: dict, inst: dict) -> tuple:
    """What the walk needs of instruction node ``node`` (``ins``), worked
    out at its first visit: the instruction, what its flow asks of the loop,
    its fixups, whether it calls asm of another file, its edges but the
    fault ones (pushed by fixups()), whether it is in a contracted macro
    instance, the registers it leaves a tuple alone without (transfer.quiet),
    and the id of its signature in ``alike`` (what step() reads of it)."""
    info = ins.info
    flow = info.flow if info is not None else Flow.NEXT
    ext = config.external is not None and ins.target is None and bool(ins.target_name) \
        and info is not None and (flow is Flow.CALL or flow is Flow.JUMP)
    if flow is Flow.CALL and ins.target is not None:
        how = _CALL
    elif flow is Flow.RET:
        how = _RET
    elif flow is Flow.JUMP and ins.target is None:
        how = _TAIL
    else:
        how = _OTHER.get(flow, _EDGES)
    edges = plan_edges(node, cfg)
    what = id(info)  # (info lives as long as the program, or the memo keeps it)
    if memo is not None:  # and a call out of the program: what the callee clobbers, where step() asks it
        memo.keep(info)
        if info is not None and flow in (Flow.CALL, Flow.INDIRECT_CALL) and ins.target is None \
                and ins.target_name and ins.mode == 64 and config.clobbers is not None:
            what = (what, config.clobbers(ins.target_name))
    sig = alike.setdefault((what, ins.operands, ins.mode, ins.target is None, ins.target_name,
                            ins.imm_target), len(alike))
    return (ins, how, cfg.fixups.get(node), ext, edges, node in inst, quiet(ins, config), sig)


def plan_edges(node: int, cfg: CFG) -> tuple:
    """A plan's edges: (destination, kind, conditional, walked on at once)
    of each edge of ``node`` but the fault ones."""
    out = [e for e in cfg.succ(node) if e.kind != "fault"]
    # (an edge that is the node's only one, unconditional, into a node with
    # no other way in: straight-line code, walked on at once -- the order, above)
    if len(out) == 1:
        e = out[0]
        cond = e.kind in COND_KINDS
        return ((e.dst, e.kind, cond, not cond and len(cfg.preds().get(e.dst, ())) == 1),)
    return tuple([(e.dst, e.kind, e.kind in COND_KINDS, False) for e in out])


def labels_by_node(program) -> dict[int, set[str]]:
    """Instruction -> the labels that name it (fixups() tells the returns
    of faults apart by the labels of the faulting instruction)."""
    out: dict[int, set[str]] = defaultdict(set)
    for name, i in program.labels.items():
        out[i].add(name)
    return out


def stepped_at(ins, sig: int, t: Tuple, live, config: Config, by_sig: dict) -> tuple:
    """step() of ``ins`` (signature ``sig``) on ``t``, looked up in
    ``by_sig`` or made and kept there, without the small integers of the
    registers not in ``live`` (None: none forgotten): (tuple, events)."""
    got = by_sig.get((sig, t))
    if got is None:
        u, evs = step(ins, t, config)
        got = by_sig[(sig, t)] = (u, evs)
    u, evs = got
    if live is not None and u.held:
        u = without_dead(u, live)
    return u, evs


# Widening: a node already reached with WIDEN tuples that differ only in the
# small integers (``int:`` holds) and flags they know gets the next such
# tuple without the integers that take three or more values there (a count,
# not a 0/1 flag word like paranoid_entry's %ebx) and the flags not all of
# them share; a variant queued before its node got crowded is replaced by its
# widened tuple.  A small integer in a register that is dead after the
# instruction is forgotten (``live_out``).  Else a counting loop is walked
# once per value and the code after it once per exit value (5.4's
# aesni-intel_asm.S: 514 tuples at a node, 816k visits, 16 s for one
# profile; 6.8's aesni-intel_avx-x86_64.S: past 2M visits, 47 s for the
# three profiles).  The walk's order is stated, so which tuples are widened
# is the same in every run.  (Widening at jumps back too, or every varying
# integer, lost paranoid_entry's flag in 4.x-6.x: kernel-survey.)
WIDEN = 4


def analyze(program, cfg: CFG, entries: list[Entry], config: Config | None = None,
            max_visits: int = 1_000_000, contracts=None, live_out: dict | None = None,
            max_steps: int | None = None, memo=None, instances: dict | None = None,
            plans: dict | None = None) -> Forward:
    """Walk every path from ``entries``, at most ``max_visits`` (node,
    tuple) visits and ``max_steps`` transfer steps (a visit whose
    instruction changes the tuple, once per pair: it costs several quiet
    visits' time and keeps its result).  ``live_out``: node -> the general
    registers live after it (analysis/liveness.py); a small integer in a
    register that is dead there is forgotten (it is never read again before
    it is written, and its values would only multiply the tuples).
    ``memo``: the steps of the file's earlier walks (walking.StepMemo).
    ``instances``: contract_instances(program, cfg, contracts), when made.
    ``plans``: plans of this CFG's nodes made by an earlier walk with
    ``memo`` (StepMemo.plans_for: a dict of this walk's own, filled on)."""
    config = config or Config()
    res = Forward(cfg=cfg, entries=entries)
    inst = res.instances = instances if instances is not None else contract_instances(program, cfg, contracts)
    t0 = time.perf_counter()
    ctx_ids: dict[tuple, int] = {}
    summary: dict[int, set[Tuple]] = defaultdict(set)
    callers: dict[int, set[tuple[int, int, Key]]] = defaultdict(set)
    work: deque[Key] = deque()
    ins_list = program.instructions
    stepped: dict[tuple[int, Tuple], tuple] = {}  # step() is a function of (instruction, tuple)
    # step() reads of an instruction its decode information, operands, mode,
    # call target name, whether its target is in the program, and a code
    # label it uses as an immediate (transfer.step): instructions alike in
    # these (a register save in every entry, a body repeated by .rept) step
    # a tuple alike, so it is stepped once for all of them.  stepped stays
    # per node: what a node forgets of a tuple (without_dead) is its own, and the
    # analysis-steps budget counts (node, tuple) pairs as before.  The
    # signature of what step() reads -> a small id, and (signature id,
    # tuple) -> step()'s result: kept from the file's last walks (``memo``).
    alike, by_sig = memo.tables(config) if memo is not None else ({}, {})
    # (a walk makes a new tuple at each step but meets few distinct ones:
    # equal tuples are one object, state._Interned, and what a tuple works
    # out once -- widen(), ints() -- is worked out once)

    def context(kind: str, node: int, t: Tuple, name: str, entry_kind: str = "") -> int:
        # Entry points of one kind entered with one tuple are one activation:
        # nothing returns from it to a caller, so a path of either is judged
        # by (node, tuple) alone, and where their code joins (the exit paths
        # every IDT entry jumps to) it is walked once, not once per entry.
        # The first path to reach a (node, tuple) is the one recorded, as for
        # two paths of one entry (6.12 entry_64.S: 39.5k visits -> 18.2k,
        # the same tuples, events and findings on every survey tree).
        k = (kind, entry_kind, t) if kind == "entry" else (kind, node, t)
        if k not in ctx_ids:
            ctx_ids[k] = len(res.contexts)
            res.contexts.append(Context(kind, node, t, name, entry_kind))
        return ctx_ids[k]

    # (node, tuple without its integers) -> the integer variants pushed there
    variants: dict[tuple[int, Tuple], set[Tuple]] = defaultdict(set)
    # for a crowded one, what strip() reads of them, kept as they come (a
    # variant's work must not grow with the variants already there): each
    # register's values among them, the flags all of them know, and the
    # registers with two values or more
    crowded: dict[tuple[int, Tuple], list] = {}
    crowded_at: set[int] = set()  # the nodes of its keys (looked up at every visit)
    # node -> every variant kept there (the union of its ``variants`` sets):
    # widen() gives such a tuple back as it is, with nothing to note, so the
    # walk asks it only of a tuple not among them (half of a walk's asks)
    kept_at: dict[int, set[Tuple]] = defaultdict(set)

    def crowd(vkey: tuple[int, Tuple]) -> list:
        """What strip() reads of the variants at ``vkey``, made when it gets crowded."""
        values: dict[str, set[str]] = defaultdict(set)
        for o in variants[vkey]:
            for r, v in o.ints():
                values[r].add(v)
        crowded_at.add(vkey[0])
        got = crowded[vkey] = [values, frozenset.intersection(*(frozenset(o.flags) for o in variants[vkey])),
                               {r for r, vs in values.items() if len(vs) >= 2}]
        return got

    def strip(t: Tuple, summary: list) -> Tuple:
        """``t`` without the integers that take three or more values among
        the variants ``summary`` sums up (crowd()) and itself (a count; a 0/1
        flag word such as paranoid_entry's %ebx is kept) and without the
        flags it does not share with every variant."""
        values, shared, two = summary
        if two:
            vary = [r for r, v in t.ints() if r in two and (len(values[r]) >= 3 or v not in values[r])]
            if vary:
                t = t.forget(vary)
        if t.flags and not shared.issuperset(t.flags):
            t = t.with_(flags=tuple(fv for fv in t.flags if fv in shared))
        return t

    def widen(node: int, t: Tuple) -> Tuple:
        """``t``, or ``t`` without the integers and flags that vary when
        ``node`` already has WIDEN variants of it that differ only in them."""
        base = t.widen()
        if base is t:
            return t
        vkey = (node, base)
        seen = variants[vkey]
        if t in seen:
            return t
        if len(seen) >= WIDEN:
            res.widened += 1
            summary = crowded.get(vkey) or crowd(vkey)
            t = strip(t, summary)
            if t in seen:
                return t
            values, shared, two = summary
            for r, v in t.ints():
                values[r].add(v)
                if len(values[r]) >= 2:
                    two.add(r)
            if shared and not shared.issubset(t.flags):
                summary[1] = shared.intersection(t.flags)
        seen.add(t)
        kept_at[node].add(t)
        return t

    def push(node: int | None, t: Tuple | None, c: int, pred: Key | None, how: str) -> None:
        if node is None or t is None:
            return
        if (t.held or t.flags) and t._base is not False and t not in kept_at[node]:
            t = widen(node, t)
        key = (node, t, c)
        if key in res.pred:
            return
        res.pred[key] = (pred, how)
        work.append(key)

    def event(kind: str, key: Key, detail: str = "") -> None:
        res.events.setdefault((kind, key[0], key[1], detail), key)

    def returns(key: Key, c: int, t: Tuple) -> None:
        """A function activation returns ``t``."""
        ctx = res.contexts[c]
        if ctx.kind != "call":
            event("ret", key)
            return
        if t not in summary[c]:
            summary[c].add(t)
            # sorted: set order follows string hashes, and the order of the
            # worklist decides which path is recorded first (same bytes in every process)
            for ret_node, rc, _ in sorted(callers[c]):
                push(ret_node, t, rc, key, "return")

    def entered_with(key: Key, where: tuple) -> Space:
        """The cr3 the path to ``key`` had when it entered instance ``where``
        (the first path that reached ``key``)."""
        cur, cr3 = key, key[1].cr3
        while cur is not None and any(w == where for w, _ in inst.get(cur[0], ())):
            cr3 = cur[1].cr3
            cur = res.pred.get(cur, (None, ""))[0]
        return cr3

    # edge (node, dst) -> the instances it leaves whose contract says a cr3,
    # in inst's order (a place is a tuple of frames: hashed at every look)
    leaving: dict[tuple[int, int], tuple] = {}

    def leave(key: Key, dst: int, t: Tuple | None) -> Tuple | None:
        """Apply the contracts of the instances the edge key[0] -> dst leaves."""
        if t is None:
            return t
        left = leaving.get((key[0], dst))
        if left is None:
            inside = {w for w, _ in inst.get(dst, ())}
            left = leaving[(key[0], dst)] = tuple((w, c) for w, c in inst.get(key[0], ())
                                                  if w not in inside and c.cr3 is not CR3Effect.RESTORE)
        if not left or t.pti_off():
            return t
        for where, c in left:
            want = entered_with(key, where) if c.cr3 is CR3Effect.NONE else Space(c.cr3.value)
            if t.cr3 is not want:
                event("contract-mismatch", key, f"{c.macro}:{want.value}:{t.cr3.value}")
                t = t.with_(cr3=want)
        return t

    pending: list[tuple[Key, int, Tuple]] = []  # (faulting key, fixup node, tuple before it)
    labels_at = labels_by_node(program)

    def fixups() -> bool:
        """Push every pending fault edge with the state its fault resumes; True
        when that found anything new for the walk."""
        before = len(res.pred)
        for key, dst, t in pending:
            sites = labels_at.get(key[0], set())
            # (a Xen PV return is left out: the hypervisor keeps GS there)
            resumed = {u for (n, b), arrivals in res.kernel_returns.items()
                       for _kind, start in arrivals if start.site and start.site in sites
                       for u in (res.resumed(n, b),) if u.feature(XENPV) is not Feature.ON}
            for u in sorted(resumed) or [t]:
                push(dst, t.with_(gs=u.gs, cr3=u.cr3) if u is not t else t, key[2], key, "fault")
        return len(res.pred) > before

    for e in entries:
        for t in sorted(e.kind.tuples):
            push(e.node, t, context("entry", e.node, t, e.symbol, e.kind.name), None,
                 f"entry {e.symbol} ({e.kind.name})")

    # per instruction node, what the loop needs of it, looked up once (the
    # walk visits a node once per tuple and context): plan()
    plans = plans if plans is not None else {}
    external = config.external

    pred = res.pred
    events = res.events
    before, after = res.before, res.after
    n_insns = cfg.n
    popleft, append, appendleft = work.popleft, work.append, work.appendleft
    while work or fixups():
        if len(pred) > max_visits or max_steps is not None and res.steps > max_steps:
            res.truncated = True
            res.truncated_by = "analysis-visits" if len(pred) > max_visits else "analysis-steps"
            res.truncated_at = work[0][0]
            break
        key = popleft()
        node, t, c = key
        if node in crowded_at and (t.held or t.flags):
            # a variant queued before its node was crowded: the widened tuple
            # stands for it (it knows less), so what follows is walked once
            got = crowded.get((node, t.widen()))
            if got is not None:
                w = strip(t, got)
                if w is not t and w != t:  # (strip gives t itself when it keeps everything)
                    k = (node, w, c)
                    if k in pred:
                        continue
                    pred[k] = pred[key]  # reached the way the variant was (no step of its own on the path)
                    key, t = k, w
        before[node].add(t)
        if node >= n_insns:  # a fork
            for edge in cfg.succ(node):
                t2: Tuple | None = t
                for feat, val in edge.assume:
                    t2 = t2.assume(feat, val) if t2 is not None else None
                if node in inst:
                    t2 = leave(key, edge.dst, t2)
                push(edge.dst, t2, c, key, f"{edge.kind}")
            continue
        pl = plans.get(node)
        if pl is None:
            pl = plans[node] = plan(node, ins_list[node], cfg, config, memo, alike, inst)
        ins, how, fx, ext, edges, in_inst, q, sig = pl
        if fx:
            pending.extend((key, dst, t) for dst in fx)
        if ext:
            got = external(ins.target_name, t)
            if got is not None:  # asm of another file: its own code's exit states
                outs, ccalls, exits = got
                after[node].add(t)
                for callee, u in ccalls:  # its C calls, judged here with the state they had
                    events.setdefault(("c-call", node, u, callee), key)
                for where, u in exits:  # and its exits to user mode
                    events.setdefault(("exit-user", node, u, where), key)
                for u in outs:  # (after a jump there, its ret returns for us)
                    if how is _TAIL:
                        returns(key, c, u)
                    else:
                        push(cfg.after(node), u, c, key, f"call {ins.target_name} (asm of another file)")
                continue
        if q is not None and (not t.held or q.isdisjoint(t.held_regs())):
            got = (t, ())  # quiet here: step would give t back (transfer.quiet); nothing kept
            if live_out is not None and t.held:
                got = (without_dead(t, live_out.get(node, ())), ())
        else:
            got = stepped.get((node, t))
            if got is None:  # the same (instruction, tuple) under another call context: one step
                got = stepped[(node, t)] = stepped_at(ins, sig, t, live_out.get(node, ()) if live_out is not None
                                                      else None, config, by_sig)
                res.steps += 1
        t_after, evs = got
        after[node].add(t_after)
        for kind, detail in evs:
            if in_inst and detail[:5] == "same:" and kind == "cr3-write" and switching(inst[node]):
                detail = "pti:" + detail[5:]  # a switch macro's write: a PTI switch by its contract
            events.setdefault((kind, node, t, detail), key)
        if how is _EDGES:
            for dst, kind, cond, once in edges:
                t2 = t_after
                if cond and t2.flags:  # a branch on a flag this path knows: one side only
                    t2 = refine(t2, ins, kind == "taken")
                if in_inst:
                    t2 = leave(key, dst, t2)
                if t2 is not None:
                    if (t2.held or t2.flags) and t2._base is not False \
                            and t2 not in kept_at[dst]:  # (False: no integer, no flag)
                        t2 = widen(dst, t2)
                    k2 = (dst, t2, c)
                    if k2 not in pred:
                        pred[k2] = (key, kind)
                        if once:
                            appendleft(k2)
                        else:
                            append(k2)
            continue
        if how is _CALL:
            callee = cfg.entry(ins.target)
            ret_node = cfg.after(node)
            name = ins.target_name or str(ins.target)
            # a helper called with WIDEN different tuples is walked with the
            # next ones widened (a context per tuple it is called with)
            t_call = widen(callee, t_after) if t_after.held or t_after.flags else t_after
            cc = context("call", callee, t_call, name)
            if ret_node is not None:
                callers[cc].add((ret_node, c, key))
            push(callee, t_call, cc, key, f"call {name}")
            for u in sorted(summary[cc]):
                push(ret_node, u, c, key, "return")
            continue
        if how is _RET:
            returns(key, c, t_after)
            continue
        if how is _TAIL:
            # a jump out of the program: a tail call (into C, say) that returns for us
            event("c-call", key, ins.target_name or "*")
            returns(key, c, t_after)
            continue
        if how is _EXIT:
            event("exit-user", key, "sysret")
            res.exit_state[(node, t)] = t_after
            continue
        if how is _IRET:
            ctx = res.contexts[c]
            rip = frames.returns_to(ins, t, ctx.entry_kind == K_FROM_C.name) if t.origin is Origin.KERNEL \
                else None
            if rip is not None:  # pushq $label ... iretq: on at the label (frames.py)
                res.frame_returns.setdefault(node, set()).add(cfg.entry(rip))
                push(cfg.entry(rip), t_after.forget((frames.TOS,)), c, key, "iret to frame")
                continue
            event("exit-user" if t.origin is Origin.USER else "return-kernel", key, "iret")
            res.exit_state[(node, t)] = t_after
            if t.origin is Origin.KERNEL and ctx.kind == "entry":
                res.kernel_returns[(node, t)].add((ctx.entry_kind, ctx.start))
                res.kernel_return_keys.setdefault((node, t, ctx.entry_kind, ctx.start), key)
            continue
        if how is _IJUMP:
            dst = register_target(ins, t, cfg)
            if dst is not None:
                push(dst, t_after, c, key, "jump via register")
            else:
                event("indirect-jump", key)
            continue
        # _STOP: nothing follows
    res.crowded = frozenset(crowded_at)
    if memo is not None:
        memo.trim()
        memo.walked(res, plans, live_out, alike, external, labels_at)
    res.seconds = time.perf_counter() - t0
    return res
