"""Backward register liveness over the supergraph (MODEL 4).

A general register is *live* before a node when some path from there reads it
before writing it.  %rsp is left out (always live), so are segment, control
and vector registers.  Per instruction:

    live_in = (live_out - kill) | gen

with ``kill`` the registers written for sure (``regs_partial`` and
``regs_cond_written`` keep the old value alive) and ``gen`` those read.
Where control leaves the analyzed code the ABI stands in for the code we
cannot see:

======================================  ======================================
exit to user (sysret, sysexit), iret    reads every register of the code
                                        mode (32-bit code: the eight 32-bit
                                        ones)
call into C (``target`` outside)        reads the argument registers its
                                        prototype declares, then kills the
                                        caller-saved ones (the ABI of the
                                        code mode: SysV x86-64, or the i386
                                        kernel ABI in 32-bit code;
                                        ``callees``: an asm function of
                                        another file of the tree reads and
                                        kills what its own code does)
tail call into C (``jmp`` outside)      reads the arguments, kills the
                                        caller-saved registers on the way to
                                        our caller's return points; when C may
                                        be that caller, reads the callee-saved
ret (also ``jmp __x86_return_thunk``)   goes to the return points; when C may
                                        be the caller, reads %rax, %rdx and
                                        the callee-saved registers
indirect jump or call, ``jmp`` to an    reads every register
unresolved label, no decoder
======================================  ======================================

A ``call`` to code of the program goes *into* the callee (the call's
live_out is the callee entry's live_in), and a ``ret`` of that code goes to
the return points of every call site of every called function it belongs to
(``Procedures``).  A function is what the CFG reaches from its entry without
entering calls; code shared between functions, fall-through into another
function and ``jmp`` tail calls into asm simply belong to several.  This is
the usual context-insensitive supergraph: sound (it may only add liveness),
finite, and solved with one worklist.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import field

from entrylint.analysis import regs
from entrylint.analysis.carry import per_node, renumbered
from entrylint.analysis.cfg import CFG
from entrylint.program.effects import DataOp, Flow, goes_on_in_program
from entrylint.program.model import Program, Symbol
from entrylint.source.record import data

CFunction = Callable[[str], "bool | None"]

_LOCAL_LABEL = re.compile(r"^(\d+[fb]|\.L.*)$")


# -- the call structure (shared with flags.py) --------------------------------

# ``jmp`` to these is how the kernel's RET macro returns with return thunks
# (CONFIG_RETHUNK / MITIGATION_RETHUNK): a return, not a tail call.
RETURN_THUNKS: frozenset[str] = frozenset({
    "__x86_return_thunk", "x86_return_thunk", "__x86_return_skl", "retbleed_return_thunk",
    "srso_return_thunk", "srso_alias_return_thunk", "zen_return_thunk", "its_return_thunk",
})


@data
class Procedures:
    """Which ``call`` of the program goes where and where a function leaves.

    A function is left by a *return* (``ret``, or ``jmp`` to a return thunk)
    or by a *tail call into C* (``jmp`` to a C function, whose own return goes
    to our caller).  ``callee``: internal call instruction -> the node its
    target enters.  ``leaves``: return or tail-call node -> ``"ret"`` or
    ``"c-tail"``.  ``returns_to``: such a node -> the nodes after the call
    sites of every called function it belongs to.  ``external``: such nodes
    that may return to C: no internal call reaches them, or the code of a
    global function symbol does (``c_callable``: C may call it)."""

    callee: dict[int, int] = field(default_factory=dict)
    leaves: dict[int, str] = field(default_factory=dict)
    returns_to: dict[int, frozenset[int]] = field(default_factory=dict)
    external: frozenset[int] = frozenset()

    @staticmethod
    def build(program: Program, cfg: CFG, c_function: CFunction | None = None) -> Procedures:
        ins = program.instructions
        leaves: dict[int, str] = {}
        sites: dict[int, list[int]] = {}
        callee: dict[int, int] = {}
        kinds: dict[str | None, str] = {}
        for x in ins:
            info = x.info
            if info is None:
                continue
            if info.flow is Flow.CALL and x.target is not None:
                e = cfg.entry(x.target)
                if e is not None:
                    callee[x.index] = e
                    if not _over_trap(ins, x):  # (a call over a trap: nothing returns to it)
                        sites.setdefault(e, []).append(x.index)
            elif info.flow is Flow.RET:
                leaves[x.index] = "ret"
            elif info.flow is Flow.JUMP and x.target is None:
                if x.target_name not in kinds:
                    kinds[x.target_name] = outside_kind(program, x.target_name, c_function)
                kind = kinds[x.target_name]
                if kind == "return":
                    leaves[x.index] = "ret"
                elif kind == "c":
                    leaves[x.index] = "c-tail"
        returns_to: dict[int, set[int]] = {}
        for e, calls in sites.items():
            back = {d for c in calls for d in succ_nodes(cfg, c)}
            for r in _reached(cfg, (e,), leaves):
                returns_to.setdefault(r, set()).update(back)
        roots = [cfg.entry(s.start) for s in program.symbols.values() if c_callable(s) and s.start < cfg.n]
        external = (leaves.keys() - returns_to.keys()) | (_reached(cfg, roots, leaves) & returns_to.keys())
        return Procedures(callee, leaves, {r: frozenset(b) for r, b in returns_to.items()},
                          frozenset(external))


def _over_trap(ins: list, x) -> bool:
    """Whether call ``x`` jumps over a speculation trap to the code right
    after it: ``call 772f; int3; 772:``, ``call 772f; 773: pause; lfence;
    jmp 773b; 772:`` (the kernel's RSB filling, ``__FILL_RETURN_SLOT``).
    Only its return-stack entry is wanted; the return address it pushes is
    dropped from the stack, so no ``ret`` comes back to it: the call is a
    push and a jump (a ``ret`` of the code it jumps to returns to that
    code's own caller)."""
    r, t = x.index + 1, x.target
    if not r < t <= r + 4:
        return False
    for j in range(r, t):
        y = ins[j]
        info = y.info
        if info is None or y.section != x.section:
            return False
        if info.flow in (Flow.INT, Flow.STOP):
            continue  # int3, ud2
        if info.flow is Flow.JUMP and y.target is not None and r <= y.target < t:
            continue  # the loop of the trap
        if j < t - 1 and info.flow is Flow.NEXT and not info.regs_written and not info.mem \
                and not info.flags_touched:
            continue  # pause, lfence (not last: the trap never falls through to the target)
        return False
    return True


def c_callable(sym: Symbol) -> bool:
    """Whether C may call a symbol: a global function (``SYM_FUNC_START``,
    ``.type function``).  ``SYM_CODE_START``/``ENTRY`` code such as
    ``error_entry`` is global without following the C ABI."""
    if not sym.is_global:
        return False
    return sym.type == "function" or ("FUNC" in sym.kind and "LOCAL" not in sym.kind)


def succ_nodes(cfg: CFG, v: int) -> tuple[int, ...]:
    """``cfg.succ(v)``'s destinations, with one repair: a branch inside an
    alternative's replacement to a label that ends the replacement (``jb 1f``
    ... ``1:``) resolves to whatever the section holds next, often another
    replacement; patching makes it the continuation after the patch site.
    (Made once per node of ``cfg``.)"""
    got = cfg.resolved_succ.get(v)
    if got is None:
        got = cfg.resolved_succ[v] = _succ_nodes(cfg, v)
    return got


def _succ_nodes(cfg: CFG, v: int) -> tuple[int, ...]:
    out = []
    ins = cfg.program.instructions
    here = ins[v].alt if v < cfg.n else None
    for e in cfg.succ(v):
        d = e.dst
        if here is not None and here.side == "repl" and e.kind in ("jump", "taken") and d < cfg.n:
            there = ins[d].alt
            if there is not None and there.side == "repl" and (there.fork, there.replacement) != (
                    here.fork, here.replacement):
                d = cfg.continuation(cfg.program.forks[here.fork])
                if d is None:
                    continue
        out.append(d)
    return tuple(out)


def _reached(cfg: CFG, roots: Iterable[int | None], wanted: dict[int, str]) -> set[int]:
    """The nodes of ``wanted`` reachable from ``roots`` without entering calls."""
    seen: set[int] = set()
    todo = [r for r in roots if r is not None]
    seen.update(todo)
    found: set[int] = set()
    while todo:
        v = todo.pop()
        if v in wanted:
            found.add(v)
        for d in succ_nodes(cfg, v):
            if d not in seen:
                seen.add(d)
                todo.append(d)
    return found


def names_internal(program: Program, name: str) -> bool:
    """Whether a branch target name is code of this program (resolved or not)."""
    return name in program.labels or name in program.symbols or bool(_LOCAL_LABEL.match(name))


def outside_kind(program: Program, name: str | None, c_function: CFunction | None) -> str:
    """What a direct branch/call to a target outside the program is: ``"c"``
    (a C function under the SysV ABI), ``"return"`` (a return thunk) or
    ``"unknown"`` (read everything)."""
    if not name or names_internal(program, name):
        return "unknown"
    if name in RETURN_THUNKS:
        return "return"
    if c_function is not None and c_function(name) is False:
        return "unknown"
    return "c"


# -- liveness -------------------------------------------------------------------


@data
class Liveness:
    live_in: dict[int, frozenset[str]]  # node -> general registers live before it (instructions and forks)
    live_out: dict[int, frozenset[str]]
    nodes: int = 0  # size of the graph solved
    steps: int = 0  # node evaluations until the fixpoint
    # _effects' lists and the nodes whose effect reads what a callee out of
    # the file does (analysis/callees.py, which another file's edit can
    # change): a program patched from this one's takes the rest
    # (compute_liveness's ``carried``)
    effects: tuple | None = field(default=None, repr=False, compare=False)

    def before(self, insn_index: int) -> frozenset[str]:
        return self.live_in.get(insn_index, frozenset())

    def after(self, insn_index: int) -> frozenset[str]:
        return self.live_out.get(insn_index, frozenset())


def _effects(program: Program, cfg: CFG, procs: Procedures, c_function: CFunction | None, callees=None,
             carried: tuple | None = None):
    """Per node: (successors, gen mask, kill mask) in the liveness supergraph,
    and the nodes whose effect reads what a callee out of the file does.
    ``callees(name)`` (``analysis/callees.py``) says what a call out of the
    program reads and clobbers; None: every C function reads all six
    argument registers and clobbers the caller-saved ones.  ``carried``:
    the effects of the program ``program`` was patched from (its
    ``patched_from``: the same nodes and edges): only the instructions
    made again and the calls out of the file are worked out; or moved from
    (``moved_from``, program/shift.py): numbered anew, and worked out too
    around the lines put in or taken out and at every call and return
    (carry.renumbered)."""
    ins = program.instructions
    total = cfg.n + len(program.forks)
    if carried is not None and program.moved_from is not None:  # (moved from the last one's: numbered anew)
        renum = program.moved_from[1]
        other = {renum[v] for v in carried[3] if renum[v] is not None}
        (succ, gen, kill), nodes = renumbered(program, total, carried[:3], ((), 0, 0), carried[3])
        # (a return's successors and whether C may be its caller, a call's
        # callee: the call structure's, made again for the moved program)
        nodes = sorted(set(nodes).union(procs.leaves, procs.callee))
    else:
        other = set(carried[3]) if carried is not None else set()
        (succ, gen, kill), nodes = per_node(program, total, carried[:3] if carried is not None else None,
                                            ((), 0, 0), other)
    cache: dict[str | None, str] = {}
    # id(info) -> (info, read mask, kill mask): instructions of one text share
    # their info (a file of 90k ``call``s has three); (name, what) -> a callee's mask
    rk: dict[int, tuple] = {}
    cm: dict[tuple, int] = {}

    def callee_mask(name, what, abi) -> int:
        key = (name, what, id(abi))  # (the two ABIs are module constants)
        got = cm.get(key)
        if got is None:
            got = cm[key] = _callee_mask(callees, name, what, abi)
        return got

    def outside(name: str | None) -> str:
        if name not in cache:
            cache[name] = outside_kind(program, name, c_function)
        return cache[name]

    for v in nodes:
        succ[v] = succ_nodes(cfg, v)
        if cfg.is_fork(v):
            continue
        x = ins[v]
        info = x.info
        if info is None:
            gen[v] = regs.ALL_MASK
            continue
        flow = info.flow
        got = rk.get(id(info))
        if got is None:
            got = rk[id(info)] = (info, regs.mask(info.regs_read), regs.mask(info.regs_written)
                                  & ~regs.mask(info.regs_partial) & ~regs.mask(info.regs_cond_written))
        _, reads, kills = got
        if not info.leaf_regs and goes_on_in_program(x):
            gen[v], kill[v] = reads, kills  # (most nodes: what the instruction reads and writes, no more)
            continue
        abi = regs.abi(x.mode)
        if info.leaf_regs:  # cpuid: %ecx is read for the leaves with subleaves only
            other.add(v)  # (its effect reads the instructions before it)
            reads = regs.mask(info.leaf_reads(_leaf(ins, cfg, v)))
        if flow in (Flow.EXIT_TO_USER, Flow.IRET):
            reads, kills = abi.user_mask, 0
        elif flow in (Flow.INDIRECT_JUMP, Flow.INDIRECT_CALL):
            reads, kills = regs.ALL_MASK, 0
        elif flow is Flow.CALL:
            if v in procs.callee:
                succ[v] = (procs.callee[v],)
            elif x.target is None and outside(x.target_name) == "c":
                other.add(v)
                reads |= callee_mask(x.target_name, "reads", abi)
                kills |= callee_mask(x.target_name, "clobbers", abi)
            else:
                reads, kills = regs.ALL_MASK, 0
        elif v in procs.leaves:
            # ret, jmp to a return thunk, jmp to C: on to the return points
            succ[v] = tuple(sorted(procs.returns_to.get(v, ())))
            external = v in procs.external
            if procs.leaves[v] == "c-tail":
                other.add(v)
                reads |= callee_mask(x.target_name, "reads", abi)
                reads |= abi.callee_saved_mask if external else 0
                kills |= callee_mask(x.target_name, "clobbers", abi)
            elif external:
                reads |= abi.ret_mask | abi.callee_saved_mask
        elif flow in (Flow.JUMP, Flow.COND_JUMP) and x.target is None:
            # jcc into C (the taken side is a tail call) or to what we cannot resolve
            if flow is Flow.COND_JUMP and outside(x.target_name) in ("c", "return"):
                reads |= abi.args_mask | abi.callee_saved_mask | abi.ret_mask
            else:
                reads = regs.ALL_MASK
            kills = 0
        gen[v] = reads
        kill[v] = kills
    return succ, gen, kill, frozenset(other)


def _leaf(ins: list, cfg: CFG, v: int) -> int | None:
    """The value %eax holds at ``v`` when the straight-line code before it
    sets it (``movl $0x80000001, %eax``, ``xorl %eax, %eax``); None when
    not known there (a join, an alternative, a call, any other write)."""
    if ins[v].alt is not None:
        return None
    for j in cfg.only_path_back(v):
        x = ins[j] if j < cfg.n else None  # (a fork: an alternative's)
        info = x.info if x is not None else None
        if info is None or info.flow is not Flow.NEXT or x.alt is not None or x.mode != ins[v].mode:
            return None
        if "rax" in info.regs_written or "rax" in info.regs_cond_written:
            if info.dst == "rax" and not info.dst_partial:
                if info.op is DataOp.MOVE and info.imm is not None:
                    return info.imm & 0xFFFFFFFF
                if info.op is DataOp.XOR and info.src == "rax":
                    return 0
            return None
    return None


def _callee_mask(callees, name: str | None, what: str, abi) -> int:
    """What a call out of the file reads or clobbers: the callee's own facts
    (prototype, or an asm summary; ``callees`` answers in the file's ABI),
    else the ABI's."""
    default = abi.args_mask if what == "reads" else abi.caller_saved_mask
    if callees is None:
        return default
    return regs.mask(getattr(callees(name), what))


def compute_liveness(program: Program, cfg: CFG, *, c_function: CFunction | None = None,
                     procedures: Procedures | None = None, callees=None, carried: Liveness | None = None,
                     keep: bool = False) -> Liveness:
    """Solve liveness for every node of ``cfg``.

    ``c_function(name)`` says whether a branch target outside the program is a
    C function (``None``: unknown, taken as C; ``False``: read everything).
    ``carried``: the liveness of the program ``program`` was patched from
    (``program.patched_from``), whose effects it takes but at the
    instructions made again; ``keep``: the effects are kept with the result
    for the next one (else they go: a large program's are tens of MB)."""
    procs = procedures or Procedures.build(program, cfg, c_function)
    effects = _effects(program, cfg, procs, c_function, callees,
                       carried.effects if carried is not None and (
                           program.patched_from is not None or program.moved_from is not None) else None)
    succ, gen, kill, _other = effects
    total = len(succ)
    preds: list[list[int]] = [[] for _ in range(total)]
    for v, ss in enumerate(succ):
        for s in ss:
            preds[s].append(v)
    live_in = [0] * total
    live_out = [0] * total
    # backward: start from the end of the program so most nodes see their
    # successors' final value the first time
    work = deque(range(total - 1, -1, -1))
    queued = [True] * total
    steps = 0
    while work:
        v = work.popleft()
        queued[v] = False
        steps += 1
        out = 0
        for s in succ[v]:
            out |= live_in[s]
        live_out[v] = out
        new = (out & ~kill[v]) | gen[v]
        if new != live_in[v]:
            live_in[v] = new
            for p in preds[v]:
                if not queued[p]:
                    queued[p] = True
                    work.append(p)
    return Liveness({v: regs.names(m) for v, m in enumerate(live_in)},
                    {v: regs.names(m) for v, m in enumerate(live_out)}, nodes=total, steps=steps,
                    effects=effects if keep else None)
