"""The forward state against brute-force path enumeration on random programs.

Each example is a small acyclic program over the instructions MODEL 3
models -- swapgs, CR3 switches as the kernel writes them (read, clear or set
bit 12 by and/or/btr/bts, write back; sometimes the value is lost to an
unrelated write in between), CR3 saved in a register and restored later, the
CS-RPL test and the CR3 user-bit test with their conditional jumps, a task
stack load, calls into C, forward jumps -- ending in sysretq or iretq, under
a symbol the entry table knows (SYSCALL, an IDT vector, NMI).  It is written
as .S text and read through the whole pipeline (``api.analyze``).

The oracle (``forward_oracle``) walks every path with one concrete state
each and its own reading of MODEL 3/3.1; the tuples before every
instruction, the CR3-write events and the exits must be *equal* to the
engine's: no lost path, no invented one.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from entrylint import api
from forward_oracle import STARTS, Op, run

SCRATCH = ("rax", "rdi", "rbx", "r14")  # two caller-saved, two callee-saved
R32 = {"rax": "eax", "rdi": "edi", "rbx": "ebx", "r14": "r14d"}
ENTRIES = tuple(STARTS)

reg = st.sampled_from(SCRATCH)

# This test found that the engine once kept a single known flag per tuple, so
# BT/BTS/BTR -- which leave ZF alone -- made it forget the ZF of an earlier
# ``testb $3, CS(%rsp)``.  Fixed: tuples keep each known flag apart.
BT_KEEPS_ZF = True


def text_of(op: Op) -> str:
    k, r = op.kind, op.reg
    if k == "swapgs":
        return "swapgs"
    if k == "rdcr3":
        return f"movq %cr3, %{r}"
    if k == "clr":
        return f"andq $~0x1000, %{r}" if op.form == "and" else f"btr $12, %{r}"
    if k == "set":
        return f"orq $0x1000, %{r}" if op.form == "or" else f"bts $12, %{r}"
    if k == "wrcr3":
        return f"movq %{r}, %cr3"
    if k == "copy":
        return f"movq %{op.src}, %{r}"
    if k == "clobber":
        return {"mov": f"movq $42, %{r}", "xor": f"xorl %{R32[r]}, %{R32[r]}", "add": f"addq $8, %{r}"}[op.form]
    if k == "testcs":
        return "testb $3, 0x88(%rsp)"  # CS(%rsp) in pt_regs
    if k == "bt":
        return f"bt $12, %{r}"
    if k == "tasksp":
        return "movq %gs:pcpu_hot+24, %rsp"
    if k == "call":
        return "call some_c_func"
    if k == "callasm":
        return "call helper_fn"
    if k == "jmp":
        return f"jmp .L{op.label}"
    if k == "jcc":
        return f"{op.form} .L{op.label}"
    return {"ret": "ret", "sysret": "sysretq", "iret": "iretq"}[k]


# -- generation: snippets as the kernel writes them, and single instructions --
#
# Branch targets are placeholders (label=-1) until the program is laid out;
# then each gets a random later instruction of its own part (main or helper).

J = -1


@st.composite
def snippet(draw, helper: bool = False) -> list[Op]:
    kinds = ["switch"] * 4 + ["save", "restore", "test", "test-late", "btcr3", "swapgs", "tasksp", "call",
                              "copy", "clobber", "rdcr3", "wrcr3", "jmp", "jz", "jc", "bt"]
    if not helper:
        kinds += ["exit"]
    k = draw(st.sampled_from(kinds))
    r = draw(reg)
    if k == "switch":  # SWITCH_TO_{KERNEL,USER}_CR3: read, flip the bit, write back
        bit = draw(st.sampled_from([Op("clr", r, form="and"), Op("clr", r, form="btr"),
                                    Op("set", r, form="or"), Op("set", r, form="bts")]))
        out = [Op("rdcr3", r)]
        lost = draw(st.sampled_from([None, None, None, 0, 1]))  # value lost before/after the bit op
        wreck = Op("clobber", r, form=draw(st.sampled_from(["mov", "xor", "add"])))
        if lost == 0:
            out.append(wreck)
        out.append(bit)
        if lost == 1:
            out.append(wreck)
        return out + [Op("wrcr3", r)]
    if k == "save":  # SAVE_AND_SWITCH_TO_KERNEL_CR3 scratch_reg=r save_reg=s
        s = draw(st.sampled_from([x for x in SCRATCH if x != r]))
        out = [Op("rdcr3", r), Op("copy", s, src=r)]
        if draw(st.booleans()):
            out += [Op("clr", r, form=draw(st.sampled_from(["and", "btr"]))), Op("wrcr3", r)]
        return out
    if k == "restore":  # RESTORE_CR3 save_reg=r
        return [Op("wrcr3", r)]
    if k == "test":
        return [Op("testcs"), Op("jcc", form=draw(st.sampled_from(["jz", "jnz"])), label=J)]
    if k == "test-late":  # the CS test, then instructions that may keep ZF, then the jump
        mid = draw(st.lists(st.sampled_from([
            Op("swapgs"), Op("tasksp"), Op("copy", r, src=draw(reg)), Op("clobber", r, form="mov"),
            Op("bt", r), Op("clr", r, form="btr"), Op("set", r, form="bts"), Op("clr", r, form="and"),
            Op("rdcr3", r)]), min_size=1, max_size=3))
        return [Op("testcs"), *mid, Op("jcc", form=draw(st.sampled_from(["jz", "jnz"])), label=J)]
    if k == "btcr3":  # bt $12 after a CR3 read (or on a saved value)
        out = [Op("rdcr3", r)] if draw(st.booleans()) else []
        return out + [Op("bt", r), Op("jcc", form=draw(st.sampled_from(["jc", "jnc"])), label=J)]
    if k == "swapgs":
        return [Op("swapgs")]
    if k == "tasksp":
        return [Op("tasksp")]
    if k == "call":
        return [Op("call")]
    if k == "copy":
        return [Op("copy", r, src=draw(reg))]
    if k == "clobber":
        return [Op("clobber", r, form=draw(st.sampled_from(["mov", "xor", "add"])))]
    if k == "rdcr3":
        return [Op("rdcr3", r)]
    if k == "wrcr3":
        return [Op("wrcr3", r)]
    if k == "jmp":
        return [Op("jmp", label=J)]
    if k in ("jz", "jc"):
        return [Op("jcc", form=draw(st.sampled_from([k, "jn" + k[1:]])), label=J)]
    if k == "bt":
        return [Op("bt", r)]
    return [Op(draw(st.sampled_from(["sysret", "iret"])))]


def place_labels(draw, ops: list[Op], lo: int, hi: int) -> list[Op]:
    """Give every placeholder branch in ops[lo:hi] a target in (i, hi)."""
    out = list(ops)
    for i in range(lo, hi):
        if out[i].label == J:
            out[i] = Op(out[i].kind, out[i].reg, out[i].src, out[i].form, draw(st.integers(i + 1, hi - 1)))
    return out


@st.composite
def programs(draw, with_helper: bool = False):
    """(entry symbol, ops, index where helper_fn starts or None)."""
    entry = draw(st.sampled_from(ENTRIES))
    main: list[Op] = [op for part in draw(st.lists(snippet(), min_size=1, max_size=7)) for op in part]
    if with_helper:
        for _ in range(draw(st.integers(1, 2))):
            main.insert(draw(st.integers(0, len(main))), Op("callasm"))
    main.append(Op(draw(st.sampled_from(["sysret", "iret"]))))
    ops = place_labels(draw, main, 0, len(main))
    if not with_helper:
        return entry, ops, None
    start = len(ops)
    body = [op for part in draw(st.lists(snippet(helper=True), min_size=0, max_size=3)) for op in part]
    ops = place_labels(draw, ops + body + [Op("ret")], start, start + len(body) + 1)
    return entry, ops, start


def render(entry: str, ops: list[Op], helper: int | None = None) -> str:
    targets = {op.label for op in ops if op.label is not None}
    out = ["\t.section .entry.text, \"ax\"", f"\t.globl {entry}", f"{entry}:"]
    for i, op in enumerate(ops):
        if i == helper:
            out.append("helper_fn:")
        if i in targets:
            out.append(f".L{i}:")
        out.append(f"\t{text_of(op)}")
    return "\n".join(out) + "\n"


def core(t) -> tuple:
    origin, gs, cr3, stack, _features = t.core()
    return (origin.value, gs.value, cr3.value, stack.value)


EVENT_KINDS = ("cr3-write", "exit-user", "return-kernel")


def check(entry: str, ops: list[Op], helper: int | None = None, bt_keeps_zf: bool | None = None) -> None:
    text = render(entry, ops, helper)
    an = api.analyze("prop.S", api.Options(root=None), text=text)
    assert not an.expansion.findings, [str(f) for f in an.expansion.findings]
    assert len(an.program.instructions) == len(ops), text
    assert [e.symbol for e in an.entries] == [entry], text
    fw = an.forward
    assert not fw.truncated
    want = run(ops, entry, helper, bt_keeps_zf=BT_KEEPS_ZF if bt_keeps_zf is None else bt_keeps_zf)
    for i in range(len(ops)):
        got = {core(t) for t in fw.before.get(i, ())}
        assert got == want.before[i], (i, text_of(ops[i]), sorted(got), sorted(want.before[i]), text)
    got_ev = {(e.kind, e.node, core(e.before), e.detail) for e in fw.event_list() if e.kind in EVENT_KINDS}
    want_ev = {e for e in want.events if e[0] in EVENT_KINDS}
    assert got_ev == want_ev, (sorted(got_ev - want_ev), sorted(want_ev - got_ev), text)
    # the exits: the tuples that leave by each sysretq / iretq
    for i, op in enumerate(ops):
        if op.kind in ("sysret", "iret"):
            assert {core(t) for t in fw.before.get(i, ())} == want.before[i], (i, text)


@settings(max_examples=80, deadline=None)
@given(programs())
def test_forward_matches_brute_force(prog):
    check(*prog)


@settings(max_examples=80, deadline=None)
@given(programs(with_helper=True))
def test_forward_with_asm_helper_matches_brute_force(prog):
    """Calls into an asm helper: the engine's per-tuple summaries against
    following every path into the helper and back."""
    check(*prog)


# -- fixed programs: the oracle itself on cases worked by hand ---------------


@pytest.mark.parametrize("bit_op", [Op("bt", "rax"), Op("clr", "rax", form="btr"), Op("set", "rax", form="bts")],
                         ids=["bt", "btr", "bts"])
def test_bt_family_keeps_zf(bit_op):
    """``testb $3, CS(%rsp); bt $12, %rax; jz 1f; swapgs; 1: iretq`` (IDT
    entry): BT* leave ZF unaffected (Intel SDM), so only the from-user tuple
    reaches the swapgs; the engine sends the from-kernel one there too."""
    ops = [Op("testcs"), bit_op, Op("jcc", form="jz", label=4), Op("swapgs"), Op("iret")]
    assert run(ops, "asm_exc_page_fault").before[3] == {("user", "user", "user", "entry")}
    check("asm_exc_page_fault", ops, bt_keeps_zf=True)


def test_oracle_worked_examples():
    # SYSCALL: swapgs; SWITCH_TO_KERNEL_CR3; task stack; back to user; sysret
    ops = [Op("swapgs"), Op("rdcr3", "rdi"), Op("clr", "rdi", form="and"), Op("wrcr3", "rdi"),
           Op("tasksp"), Op("rdcr3", "rdi"), Op("set", "rdi", form="or"), Op("wrcr3", "rdi"),
           Op("swapgs"), Op("sysret")]
    r = run(ops, "entry_SYSCALL_64")
    assert r.before[9] == {("user", "user", "user", "task")}
    assert ("cr3-write", 3, ("user", "kernel", "user", "user"), "pti:kernel") in r.events
    check("entry_SYSCALL_64", ops)
    # IDT: the CS test splits on origin; a lost value makes a non-PTI write
    ops = [Op("testcs"), Op("jcc", form="jz", label=3), Op("swapgs"), Op("rdcr3", "rax"),
           Op("clobber", "rax", form="add"), Op("wrcr3", "rax"), Op("iret")]
    r = run(ops, "asm_exc_page_fault")
    assert r.before[2] == {("user", "user", "user", "entry")}
    assert r.before[3] == {("user", "kernel", "user", "entry"), ("kernel", "kernel", "kernel", "task")}
    assert {e[3] for e in r.events if e[0] == "cr3-write"} == {"not-pti"}
    check("asm_exc_page_fault", ops)
    # NMI: save CR3, switch, bt on the saved value picks the restore side
    ops = [Op("rdcr3", "rax"), Op("copy", "r14", src="rax"), Op("clr", "rax", form="btr"),
           Op("wrcr3", "rax"), Op("bt", "r14"), Op("jcc", form="jnc", label=7), Op("wrcr3", "r14"),
           Op("iret")]
    r = run(ops, "asm_exc_nmi")
    # only the paths that came in on the user CR3 restore it
    assert r.before[6] == {("user", "user", "kernel", "ist"), ("kernel", "user", "kernel", "ist"),
                           ("kernel", "kernel", "kernel", "ist")}
    assert {t[2] for t in r.before[7]} == {"user", "kernel"}
    check("asm_exc_nmi", ops)


def test_a_small_integer_decides_a_jump():
    """Found by the property test (hypothesis): ``movq $42, %rax; andq
    $~0x1000, %rax`` leaves 42, so ZF is clear and the ``jz`` after it is never
    taken (the hardware, and the engine, which follows small integers); the
    oracle once forgot ZF at any AND and walked the impossible side too."""
    ops = [Op("clobber", "rax", form="mov"), Op("testcs"), Op("clr", "rax", form="and"),
           Op("jcc", form="jz", label=5), Op("rdcr3", "rax"), Op("clr", "rax", form="and"),
           Op("wrcr3", "rax"), Op("sysret")]
    assert run(ops, "entry_SYSCALL_64").before[7] == {("user", "user", "kernel", "user")}
    check("entry_SYSCALL_64", ops)
    # xorl makes 0 with ZF unknown (not followed); addq $8 then makes 8, ZF clear
    ops = [Op("clobber", "rbx", form="xor"), Op("jcc", form="jz", label=3), Op("swapgs"),
           Op("clobber", "rbx", form="add"), Op("jcc", form="jnz", label=6), Op("swapgs"), Op("sysret")]
    r = run(ops, "entry_SYSCALL_64")
    assert r.before[5] == set() and r.before[6] == {("user", "user", "user", "user"), ("user", "kernel", "user", "user")}
    check("entry_SYSCALL_64", ops)
