"""Backward register liveness (MODEL 4) on small fixtures, and on the kernels."""

from __future__ import annotations

from pathlib import Path

import pytest

from entrylint import api
from entrylint.analysis import regs
from entrylint.analysis.cfg import CFG
from entrylint.analysis.liveness import Procedures, compute_liveness

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "analysis"


def analyze(name: str, **kw):
    exp = api.expand(FIX / name)
    assert not exp.findings, [str(f) for f in exp.findings]
    prog = exp.program
    cfg = CFG(prog)
    return prog, cfg, compute_liveness(prog, cfg, **kw)


def at(prog, text: str, nth: int = 0) -> int:
    """The index of the ``nth`` instruction whose text is ``text`` (spaces folded)."""
    hits = [i.index for i in prog.instructions if " ".join(i.text.split()) == text]
    return hits[nth]


def test_scratch_live_and_dead():
    prog, _, lv = analyze("liveness_scratch.S")
    first = at(prog, "movq $1, %rdi")
    assert "rdi" in lv.after(first)
    assert "rdi" not in lv.before(first)
    dead = at(prog, "movq $2, %r10")
    assert "r10" not in lv.after(dead)
    assert "r10" in lv.after(at(prog, "movq $3, %r10"))
    # a byte write does not kill: the rest of %rbx reaches the push
    assert "rbx" in lv.before(at(prog, "movb $0, %bl"))
    # %rsp is never listed; the sink reads nothing
    assert all("rsp" not in s for s in lv.live_in.values())
    assert lv.after(at(prog, "pushq %rsi")) == frozenset()


def test_sysret_reads_everything():
    prog, _, lv = analyze("liveness_sysret.S")
    sysret = at(prog, "sysretq")
    assert lv.before(sysret) == regs.TRACKED_SET
    assert lv.after(sysret) == frozenset()
    # written just above: dead above the write, live below it
    xor = at(prog, "xorl %edx, %edx")
    assert "rdx" not in lv.before(xor) and "rdx" in lv.after(xor)
    assert lv.before(xor) == regs.TRACKED_SET - {"rdx", "r11"}


def test_c_call_reads_args_and_clobbers_caller_saved():
    prog, _, lv = analyze("liveness_ccall.S")
    call = at(prog, "call do_something")
    assert set(regs.ARGS) <= lv.before(call)
    # read after the call, but the call clobbers them first: dead before it
    assert lv.after(call) >= {"rbx", "r10", "rax"}
    assert "r10" not in lv.before(call) and "rax" not in lv.before(call)
    assert "r10" not in lv.after(at(prog, "movq $6, %r10"))
    # callee-saved: its value crosses the call
    assert "rbx" in lv.before(call)
    assert "rbx" in lv.after(at(prog, "movq $5, %rbx"))
    # the argument set up before the call is live; %r11 feeds it
    assert "rdi" in lv.after(at(prog, "movq %r11, %rdi"))


def test_c_call_unknown_name_reads_everything():
    prog, _, lv = analyze("liveness_ccall.S", c_function=lambda name: False)
    call = at(prog, "call do_something")
    assert lv.before(call) == regs.TRACKED_SET
    _, _, lv = analyze("liveness_ccall.S", c_function=lambda name: None)
    assert "r10" not in lv.before(call)


def test_asm_helper_sees_both_return_points():
    prog, cfg, lv = analyze("liveness_helper.S")
    ret = prog.symbols["helper"].start + 1
    assert prog.instructions[ret].text == "ret"
    procs = Procedures.build(prog, cfg)
    first, second = at(prog, "call helper", 0), at(prog, "call helper", 1)
    assert procs.returns_to[ret] == {first + 1, second + 1}
    assert ret not in procs.external
    # %rcx is read at the first return point, %r9 at the second
    assert lv.after(ret) == {"rcx", "r9"}
    # the helper writes %eax: dead at its entry, and it is not an asm-to-C return
    assert lv.before(prog.symbols["helper"].start) == {"rcx", "r9"}
    assert lv.before(first) == {"rcx", "r9"}


def test_ret_to_c_reads_return_and_callee_saved():
    prog, cfg, lv = analyze("liveness_helper.S")
    ret = prog.symbols["from_c"].start + 1
    assert ret in Procedures.build(prog, cfg).external
    assert lv.before(ret) == regs.RETURN | regs.CALLEE_SAVED
    assert "r8" not in lv.after(prog.symbols["from_c"].start)


def test_alternative_both_sides_live():
    prog, cfg, lv = analyze("liveness_alt.S")
    (fork,) = prog.forks
    node = cfg.fork_node(fork)
    assert lv.live_in[node] >= {"rax", "rbx"}
    assert cfg.entry(fork.orig_start) == node
    first = at(prog, "movq %r12, %rdx")
    assert lv.after(first) == {"rax", "rbx"}
    assert lv.before(first) == {"rax", "rbx", "r12"}
    # each side alone reads its own register
    assert lv.before(at(prog, "movq %rax, %rdi")) == {"rax"}
    assert lv.before(at(prog, "movq %rbx, %rdi")) == {"rbx"}


def test_loop_back_edge():
    prog, _, lv = analyze("liveness_loop.S")
    head = at(prog, "addq %rdx, %rax")
    assert lv.before(head) == {"rax", "rdx", "rcx", "r8"}
    jnz = at(prog, "jnz 1b")
    # %r8 is written at the bottom and read at the top of the next iteration
    assert "r8" in lv.after(jnz) and "r8" not in lv.before(at(prog, "movq $1, %r8"))
    assert "r9" in lv.after(jnz)  # read after the loop
    assert lv.before(at(prog, "movq $10, %rcx")) == {"rax", "rdx", "r8"}


def test_no_decoder_reads_everything():
    exp = api.expand(FIX / "liveness_scratch.S", api.Options(assemble=False))
    prog = exp.program
    cfg = CFG(prog)
    lv = compute_liveness(prog, cfg)
    assert all(lv.before(i.index) == regs.TRACKED_SET for i in prog.instructions)


@pytest.mark.kernel
def test_kernel_entry_64(kernel_tree):
    exp = api.expand(kernel_tree / "arch/x86/entry/entry_64.S", api.Options(root=kernel_tree))
    prog = exp.program
    cfg = CFG(prog)
    lv = compute_liveness(prog, cfg)
    assert lv.nodes == len(prog.instructions) + len(prog.forks)
    # every exit to user reads everything
    for i in prog.instructions:
        if i.info is not None and i.info.flow.name in ("EXIT_TO_USER", "IRET"):
            assert lv.before(i.index) == regs.TRACKED_SET
    # error_entry's returns (ret or jmp __x86_return_thunk, and its jmp
    # sync_regs tail call) go back to its call sites: not returns to C
    procs = Procedures.build(prog, cfg)
    leaves = [v for v in procs.leaves if prog.instructions[v].symbol == "error_entry"]
    assert leaves
    for v in leaves:
        assert procs.returns_to.get(v) and v not in procs.external
