"""Liveness and flag reach against brute force on random acyclic programs.

Each example is a small straight-line-and-forward-branch program over a few
registers (mov/add/xor/cmp/bt/cmov/byte moves, jz/jnz/jc/jmp to later labels,
a call into C, a tail call into C, ret, sysretq), written as a .S text and
read through the whole front end (``api.expand``: cpp, gas, GNU as + iced).
The oracle enumerates every path and applies the MODEL 4 rules directly, with
its own register/flag semantics for each generated instruction, so a
disagreement is either in the analysis or in the decoder's effects.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from entrylint import api
from entrylint.analysis import regs
from entrylint.analysis.cfg import CFG
from entrylint.analysis.flags import FlagDef, compute_flags
from entrylint.analysis.liveness import compute_liveness

REGS = ("rax", "rbx", "rcx", "rdx", "rdi", "r8", "r10", "r12")
R32 = {"rax": "eax", "rbx": "ebx", "rcx": "ecx", "rdx": "edx", "rdi": "edi", "r8": "r8d",
       "r10": "r10d", "r12": "r12d"}
R8 = {"rax": "al", "rbx": "bl", "rcx": "cl", "rdx": "dl", "rdi": "dil", "r8": "r8b",
      "r10": "r10b", "r12": "r12b"}
STATUS = frozenset({"cf", "pf", "af", "zf", "sf", "of"})
ALL = regs.TRACKED_SET


@dataclass(frozen=True)
class Op:
    """One generated instruction and the oracle's own idea of what it does."""

    text: str
    reads: frozenset[str] = frozenset()
    kills: frozenset[str] = frozenset()
    fread: frozenset[str] = frozenset()
    fwritten: frozenset[str] = frozenset()
    fundef: frozenset[str] = frozenset()
    kind: str = "next"  # next, jump, cond, call-c, tail-c, ret, sysret
    label: int | None = None  # branch target: index of the instruction


def fs(*xs):
    return frozenset(xs)


reg = st.sampled_from(REGS)


@st.composite
def simple_op(draw) -> Op:
    k = draw(st.sampled_from(["mov", "movl", "movi", "add", "xor", "cmp", "bt", "movb", "cmov"]))
    a, b = draw(reg), draw(reg)
    if k == "mov":
        return Op(f"movq %{a}, %{b}", fs(a), fs(b))
    if k == "movl":
        return Op(f"movl %{R32[a]}, %{R32[b]}", fs(a), fs(b))
    if k == "movi":
        return Op(f"movq ${draw(st.integers(0, 99))}, %{b}", kills=fs(b))
    if k == "add":
        return Op(f"addq %{a}, %{b}", fs(a, b), fs(b), fwritten=STATUS)
    if k == "xor":
        # xor of a register with itself is the zeroing idiom: no read
        reads = fs() if a == b else fs(a, b)
        return Op(f"xorl %{R32[a]}, %{R32[b]}", reads, fs(b),
                  fwritten=STATUS - {"af"}, fundef=fs("af"))
    if k == "cmp":
        return Op(f"cmpq %{a}, %{b}", fs(a, b), fwritten=STATUS)
    if k == "bt":
        # Intel SDM: CF is the bit, ZF unaffected, OF/SF/AF/PF undefined
        return Op(f"bt $3, %{b}", fs(b), fwritten=fs("cf"), fundef=fs("of", "sf", "af", "pf"))
    if k == "movb":
        return Op(f"movb %{R8[a]}, %{R8[b]}", fs(a))  # a byte write kills nothing
    return Op(f"cmovzq %{a}, %{b}", fs(a), fread=fs("zf"))  # may or may not write b


@st.composite
def programs(draw) -> list[Op]:
    n = draw(st.integers(2, 12))
    ops: list[Op] = []
    for i in range(n):
        last = i == n - 1
        choice = draw(st.sampled_from(["simple"] * 6 + ["cond", "jmp", "call", "tail", "ret", "sysret"]))
        if last and choice in ("cond", "jmp"):
            choice = "simple"
        if choice == "simple":
            ops.append(draw(simple_op()))
        elif choice == "cond":
            cc, flag = draw(st.sampled_from([("jz", "zf"), ("jnz", "zf"), ("jc", "cf")]))
            ops.append(Op(cc, fread=fs(flag), kind="cond", label=draw(st.integers(i + 1, n - 1))))
        elif choice == "jmp":
            ops.append(Op("jmp", kind="jump", label=draw(st.integers(i + 1, n - 1))))
        elif choice == "call":
            ops.append(Op("call some_c_func", kind="call-c"))
        elif choice == "tail":
            ops.append(Op("jmp some_c_func", kind="tail-c"))
        elif choice == "ret":
            ops.append(Op("ret", kind="ret"))
        else:
            ops.append(Op("sysretq", kind="sysret"))
    return ops


def render(ops: list[Op]) -> str:
    targets = {op.label for op in ops if op.label is not None}
    out = ["\t.section .entry.text, \"ax\"", "\t.globl prop_entry", "prop_entry:"]
    for i, op in enumerate(ops):
        if i in targets:
            out.append(f".L{i}:")
        text = f"{op.text} .L{op.label}" if op.label is not None else op.text
        out.append(f"\t{text}")
    return "\n".join(out) + "\n"


def program_of(ops: list[Op]):
    exp = api.expand("prop.S", api.Options(root=None), text=render(ops))
    assert not exp.findings, [str(f) for f in exp.findings]
    prog = exp.program
    assert len(prog.instructions) == len(ops)
    return prog


def successors(ops: list[Op], i: int) -> list[int]:
    op = ops[i]
    nxt = [i + 1] if i + 1 < len(ops) else []
    if op.kind == "jump":
        return [op.label]
    if op.kind == "cond":
        return [op.label] + nxt
    if op.kind in ("tail-c", "ret", "sysret"):
        return []
    return nxt


def paths(ops: list[Op], i: int):
    """Every path from ``i`` to where it ends (the program is acyclic)."""
    nxt = successors(ops, i)
    if not nxt:
        yield (i,)
        return
    for j in nxt:
        for rest in paths(ops, j):
            yield (i, *rest)


def live_on(ops: list[Op], path) -> frozenset[str]:
    """What a path reads before writing it, with the MODEL 4 exit/call rules."""
    live: set[str] = set()
    killed: set[str] = set()

    def read(rs):
        live.update(set(rs) - killed)

    for i in path:
        op = ops[i]
        if op.kind == "call-c":
            read(regs.ARGS)
            killed |= regs.CALLER_SAVED
        elif op.kind == "tail-c":
            read(set(regs.ARGS) | regs.CALLEE_SAVED)  # our caller is C: prop_entry is not called here
        elif op.kind == "ret":
            read(regs.RETURN | regs.CALLEE_SAVED)
        elif op.kind == "sysret":
            read(ALL)
        else:
            read(op.reads)
            killed |= op.kills
    return frozenset(live)


def brute_liveness(ops: list[Op], i: int) -> frozenset[str]:
    out: frozenset[str] = frozenset()
    for p in paths(ops, i):
        out |= live_on(ops, p)
    return out


def brute_flags(ops: list[Op]) -> dict[int, dict[str, set[FlagDef]]]:
    """For each instruction reached from 0 and each flag it reads, the last
    writers over every path from the entry."""
    got: dict[int, dict[str, set[FlagDef]]] = {}
    for p in paths(ops, 0):
        last: dict[str, FlagDef] = {}
        for i in p:
            op = ops[i]
            for f in op.fread:
                got.setdefault(i, {}).setdefault(f, set()).add(last.get(f, FlagDef(None, False)))
            if op.kind == "call-c":
                for f in STATUS:
                    last[f] = FlagDef(i, True)
            for f in op.fwritten:
                last[f] = FlagDef(i, False)
            for f in op.fundef:
                last[f] = FlagDef(i, True)
    return got


@settings(max_examples=60, deadline=None)
@given(programs())
def test_liveness_matches_brute_force(ops):
    prog = program_of(ops)
    lv = compute_liveness(prog, CFG(prog))
    for i in range(len(ops)):
        assert lv.before(i) == brute_liveness(ops, i), (i, render(ops))


@settings(max_examples=60, deadline=None)
@given(programs())
def test_flag_reach_matches_brute_force(ops):
    prog = program_of(ops)
    reach = compute_flags(prog, CFG(prog), ())
    want = brute_flags(ops)
    got = {i: {f: set(d) for f, d in flags.items()} for i, flags in reach.before.items()}
    assert got == want, render(ops)


# -- with an asm helper: calls into the program, through the supergraph -------
#
# The main part may ``call helper_fn``; the helper (after it, its own forward
# branches) ends in ``ret``, which goes back after *every* call site
# (context-insensitive, as the analysis).  The supergraph now has cycles (a
# ret feeds a return point that calls the helper again), so the oracle walks
# states (instruction, registers written so far) / (instruction, last writers)
# instead of listing paths: still every path, just without repeating a state.


def helper_succ(ops: list[Op], start: int, i: int) -> list[int]:
    op = ops[i]
    if op.kind == "call-asm":
        return [start]
    if op.kind == "ret" and i >= start:
        return [c + 1 for c, o in enumerate(ops) if o.kind == "call-asm"]
    return successors(ops, i)


def helper_brute_liveness(ops: list[Op], start: int, i0: int) -> frozenset[str]:
    live: set[str] = set()
    seen = set()
    todo = [(i0, frozenset())]
    while todo:
        i, killed = todo.pop()
        if (i, killed) in seen:
            continue
        seen.add((i, killed))
        op = ops[i]
        if op.kind == "call-c":
            live.update(set(regs.ARGS) - killed)
            killed = killed | regs.CALLER_SAVED
        elif op.kind == "tail-c":
            live.update((set(regs.ARGS) | regs.CALLEE_SAVED) - killed)
        elif op.kind == "ret" and i < start:  # main's ret: prop_entry returns to C
            live.update((regs.RETURN | regs.CALLEE_SAVED) - killed)
        elif op.kind == "sysret":
            live.update(ALL - killed)
        else:
            live.update(op.reads - killed)
            killed = killed | op.kills
        for j in helper_succ(ops, start, i):
            todo.append((j, killed))
    return frozenset(live)


def render_with_helper(ops: list[Op], start: int) -> str:
    targets = {op.label for op in ops if op.label is not None}
    out = ["\t.section .entry.text, \"ax\"", "\t.globl prop_entry", "prop_entry:"]
    for i, op in enumerate(ops):
        if i == start:
            out.append("helper_fn:")
        if i in targets:
            out.append(f".L{i}:")
        out.append(f"\t{op.text} .L{op.label}" if op.label is not None else f"\t{op.text}")
    return "\n".join(out) + "\n"


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_liveness_with_asm_helper_matches_brute_force(data):
    main = data.draw(programs())
    k = data.draw(st.integers(0, len(main)))
    # insert the call at k and renumber the branch targets past it
    moved = [Op(o.text, o.reads, o.kills, o.fread, o.fwritten, o.fundef, o.kind,
                None if o.label is None else o.label + (o.label >= k)) for o in main]
    main = [*moved[:k], Op("call helper_fn", kind="call-asm"), *moved[k:]]
    start = len(main)
    body = data.draw(st.lists(simple_op(), min_size=0, max_size=4))
    ops = [*main, *body, Op("ret", kind="ret")]
    if body and data.draw(st.booleans()):
        j = data.draw(st.integers(start, len(ops) - 2))
        ops.insert(j, Op("jz", fread=fs("zf"), kind="cond", label=len(ops)))  # to the helper's ret
    text = render_with_helper(ops, start)
    exp = api.expand("prop.S", api.Options(root=None), text=text)
    assert not exp.findings, [str(f) for f in exp.findings]
    prog = exp.program
    assert len(prog.instructions) == len(ops), text
    lv = compute_liveness(prog, CFG(prog))
    for i in range(len(ops)):
        assert lv.before(i) == helper_brute_liveness(ops, start, i), (i, text)
