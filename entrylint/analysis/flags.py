"""Which instruction last wrote each flag (forward reaching definitions, MODEL 4).

For every instruction and each flag it reads (``flags_read``: ``jcc``,
``cmovcc``, ``setcc``, ``adc``, ``pushf`` ...), the set of last writers over
all paths from the entry points:

* ``FlagDef(i, undefined=False)``: instruction ``i`` gave the flag a value;
* ``FlagDef(i, undefined=True)``: ``i`` left it undefined (``flags_undefined``,
  e.g. OF/SF/AF/PF after ``bt``; the status flags after a call into C, whose
  ABI does not preserve them);
* ``FlagDef(None, False)``: no writer on that path since the entry point.

The flag-misuse rule reads this: a flag read whose defs hold an undefined one,
or whose writer is not the instruction the author meant (``bt`` writes only
CF: a ``jz`` after it sees ZF from whatever wrote it before).

Control flow is the liveness supergraph (``liveness.Procedures``): a ``call``
into asm of the program goes into the callee, its ``ret`` back to the return
points; a ``jmp`` tail call into C goes to the return points with the status
flags undefined.  ``ret``s that return to C, exits to user, ``iretq`` and
indirect jumps end a path.  An instruction without decoder information
writes every flag (its effect is unknown, not known to be wrong).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import field

from entrylint.analysis.carry import per_node
from entrylint.analysis.cfg import CFG
from entrylint.analysis.liveness import CFunction, Procedures, succ_nodes
from entrylint.program.effects import FLAG_NAMES, STATUS_FLAGS, Flow
from entrylint.program.model import Program
from entrylint.source.record import data


@data(frozen=True, slots=True)
class FlagDef:
    writer: int | None  # instruction index; None: no writer since the entry point
    undefined: bool  # the writer left the flag undefined


@data
class FlagReach:
    before: dict[int, dict[str, frozenset[FlagDef]]]  # instruction -> flag it reads -> defs reaching it
    # _graph's lists: a program patched from this one's takes them but where
    # instructions were made again (compute_flags's ``carried``)
    graph: tuple | None = field(default=None, repr=False, compare=False)

    def defs(self, insn_index: int, flag: str) -> frozenset[FlagDef]:
        return self.before.get(insn_index, {}).get(flag, frozenset())


_FLAG = {f: k for k, f in enumerate(FLAG_NAMES)}
_ENTRY = FlagDef(None, False)


def _transfer(index: int, written: Iterable[str], undefined: Iterable[str]):
    """The per-flag replacement an instruction makes: position -> new def set."""
    out: dict[int, frozenset[FlagDef]] = {}
    # one set per instruction for all the flags it writes (a def does not
    # name its flag): an instruction nothing is known of writes every flag,
    # and 100k of them made 900k sets, 290 MB
    defs = None
    for f in written:
        if f in _FLAG:
            defs = defs or frozenset({FlagDef(index, False)})
            out[_FLAG[f]] = defs
    defs = None
    for f in undefined:
        if f in _FLAG:
            defs = defs or frozenset({FlagDef(index, True)})
            out[_FLAG[f]] = defs
    return tuple(out.items())


def _graph(program: Program, cfg: CFG, procs: Procedures, carried: tuple | None = None):
    """Per node: successors and the flag transfer.  ``carried``: the lists
    of the program ``program`` was patched from (its ``patched_from``):
    only the instructions made again are worked out (each such one falls
    through on both sides: its own transfer and the same successors)."""
    ins = program.instructions
    total = cfg.n + len(program.forks)
    (succ, transfer), nodes = per_node(program, total, carried, ((), ()))
    kept_by_c = set(FLAG_NAMES) - STATUS_FLAGS
    c_call = lambda i: _transfer(i, kept_by_c, STATUS_FLAGS)  # noqa: E731
    for v in nodes:
        succ[v] = succ_nodes(cfg, v)
        if cfg.is_fork(v):
            continue
        x = ins[v]
        info = x.info
        if info is None:
            transfer[v] = _transfer(v, FLAG_NAMES, ())
            continue
        flow = info.flow
        c = False  # a call into C (or a tail call): the ABI's effect on the flags, not the instruction's
        if flow is Flow.CALL and v in procs.callee:
            succ[v] = (procs.callee[v],)
        elif flow is Flow.INDIRECT_CALL or (flow is Flow.CALL and x.target is None and (
                x.target_name or not info.flags_touched)):
            # a call out of the program; not an instruction that enters other
            # code and sets flags of its own (vmlaunch, seamcall: CF/ZF say
            # whether it failed)
            c = True
        elif v in procs.leaves:
            succ[v] = tuple(sorted(procs.returns_to.get(v, ())))
            c = procs.leaves[v] == "c-tail"
        transfer[v] = c_call(v) if c else _transfer(v, info.flags_written, info.flags_undefined)
    return succ, transfer


def default_entries(program: Program, cfg: CFG, succ: list[tuple[int, ...]]) -> list[int]:
    """Symbol starts that nothing jumps, calls or falls into."""
    has_pred = set()
    for ss in succ:
        has_pred.update(ss)
    out = []
    for s in program.symbols.values():
        node = cfg.entry(s.start)
        if node is not None and node not in has_pred:
            out.append(node)
    return sorted(set(out))


def _written(transfer: tuple, k: int) -> frozenset[FlagDef] | None:
    """The def an instruction's transfer gives flag ``k``, None: it passes it on."""
    for kk, defs in transfer:
        if kk == k:
            return defs
    return None


def compute_flags(program: Program, cfg: CFG, entries: Iterable[int] = (), *,
                  c_function: CFunction | None = None, procedures: Procedures | None = None,
                  carried: FlagReach | None = None, keep: bool = False) -> FlagReach:
    """The defs of each flag read, one flag at a time, on the nodes that
    matter to its reads: the reads, and back from them every node the flag
    passes unwritten, up to the writers.  A status flag is written by most
    instructions (a read's region is the few nodes after its ``cmp``); DF,
    IF and AC are written rarely, and their one set per node merges cheaply.
    (A walk of all nine flags over every node, a tuple of sets per node, took
    3 us per step, 16 ms for 6.12's entry_64.S.)  ``carried``: the flags of
    the program ``program`` was patched from (``program.patched_from``),
    whose graph it takes but at the instructions made again; ``keep``: the
    graph is kept with the result for the next one."""
    procs = procedures or Procedures.build(program, cfg, c_function)
    graph = _graph(program, cfg, procs, carried.graph if carried is not None and program.patched_from else None)
    succ, transfer = graph
    total = len(succ)
    starts = [n for n in (cfg.entry(i) for i in entries) if n is not None]
    if not starts:
        starts = default_entries(program, cfg, succ)
    reached = [False] * total
    todo = []
    for n in starts:
        if not reached[n]:
            reached[n] = True
            todo.append(n)
    while todo:
        for s in succ[todo.pop()]:
            if not reached[s]:
                reached[s] = True
                todo.append(s)
    ins = program.instructions
    reads = {i: sorted(f for f in info.flags_read if f in _FLAG) for i in range(cfg.n)
             if reached[i] and (info := ins[i].info) is not None and info.flags_read}
    preds: list[list[int]] = [[] for _ in range(total)] if reads else []
    for v in range(total) if reads else ():
        if reached[v]:
            for s in succ[v]:
                preds[s].append(v)
    entry, none = frozenset({_ENTRY}), frozenset()
    first = set(starts)
    found: list[dict[int, frozenset[FlagDef]]] = []
    for k, f in enumerate(FLAG_NAMES):
        readers = {i for i, fs in reads.items() if f in fs}
        region = set(readers)
        todo = list(readers)
        while todo:
            u = todo.pop()
            if u not in readers and _written(transfer[u], k) is not None:
                continue  # what leaves it is its own def
            for p in preds[u]:
                if p not in region:
                    region.add(p)
                    todo.append(p)
        state = {v: entry if v in first else none for v in region}
        work = deque(sorted(region))
        queued = set(region)
        while work:
            v = work.popleft()
            queued.discard(v)
            out = _written(transfer[v], k)
            if out is None:  # the flag passes it unwritten
                out = state[v]
            if not out:
                continue
            for s in succ[v]:
                old = state.get(s)
                if old is None or out is old or out <= old:
                    continue
                state[s] = old | out
                if s not in queued:
                    queued.add(s)
                    work.append(s)
        found.append(state)
    before = {i: {f: found[_FLAG[f]][i] for f in fs} for i, fs in reads.items()}
    return FlagReach(before, graph if keep else None)
