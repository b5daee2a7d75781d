"""The walk does not step a quiet instruction (analysis/transfer.quiet): one
that gives back every tuple holding none of its registers, with no event.
What makes that safe is checked against step itself on every (instruction,
tuple) the walk reaches in released entry code and crypto code, under every
profile: a quiet instruction that step would change is a wrong skip."""

from __future__ import annotations

from pathlib import Path

import pytest

from entrylint import api
from entrylint.analysis.transfer import quiet, step
from kernels import shared_tree

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _check(path: Path, profile: str) -> tuple[int, list]:
    an = api.analyze(path, api.Options(profile=profile))
    config = api.transfer_config(an.program, an.expansion, an.callees)
    P = an.program.instructions
    checked, wrong = 0, []
    for node, tuples in an.forward.before.items():
        if node >= len(P) or (regs := quiet(P[node], config)) is None:
            continue
        for t in tuples:
            if any(r in regs for r, _ in t.held):
                continue
            checked += 1
            after, events = step(P[node], t, config)
            if after != t or events:
                wrong.append((P[node].text, str(t), str(after), events))
    return checked, wrong


@pytest.mark.parametrize("tree,file,least", [
    ("linux-4.14.98", "arch/x86/entry/entry_64.S", 50),
    ("linux-5.4.273", "arch/x86/crypto/aesni-intel_asm.S", 5000),
    ("linux-6.8.1", "arch/x86/entry/entry_64.S", 100),
    ("linux-6.8.1", "arch/x86/entry/entry_32.S", 100),  # max: with PAE, so with PTI
    ("linux-4.19.48", "arch/x86/entry/entry_32.S", 100),
])
def test_a_quiet_instruction_gives_every_tuple_back_in_released_code(tree, file, least):
    root = shared_tree(tree)
    if root is None:
        pytest.skip(f"{tree} not available")
    checked, wrong = _check(root / file, "max")
    assert checked >= least and wrong == []


def test_what_is_not_quiet():
    """A value made, a flag written, the stack or GS or CR3 moved, a call:
    each could change a tuple, so none is quiet; a vector load is."""
    text = """\t.text
f:
\tvmovdqu (%rdi), %xmm0
\tvpxor %xmm1, %xmm2, %xmm3
\tmovq $3, %rax
\taddq $1, %rax
\tpushq %rax
\tmovq %rsp, %rdi
\tleaq 8(%rsp), %rsi
\txorl %edx, %edx
\tswapgs
\tmovq %rax, %cr3
\tcall f
\tmovq %rbx, %rcx
\tret
"""
    an = api.analyze(Path("/nonexistent/quiet/q.S"), api.Options(profile="max"), text=text)
    got = {" ".join(i.text.split()): quiet(i) for i in an.program.instructions}
    assert got["vmovdqu (%rdi), %xmm0"] is not None and got["vpxor %xmm1, %xmm2, %xmm3"] is not None
    assert got["movq %rbx, %rcx"] == {"rbx", "rcx"}  # quiet unless a tuple holds a value in either
    for text in ("movq $3, %rax", "addq $1, %rax", "pushq %rax", "movq %rsp, %rdi", "leaq 8(%rsp), %rsi",
                 "xorl %edx, %edx", "swapgs", "movq %rax, %cr3", "call f", "ret"):
        assert got[text] is None, text


def test_a_load_the_memory_model_names_is_not_quiet():
    """A stack pointer or a stack area's address loaded into a register is a
    value made (transfer._loaded), whatever the register held: the load from
    the TSS of 32-bit SWITCH_TO_KERNEL_STACK, the per-cpu cpu_entry_area.
    Another load is quiet; without the walk's configuration, no load is."""
    text = """\t.code32
\t.text
f:
\tmovl TSS_entry2task_stack(%ebx), %ecx
\tmovl %fs:cpu_entry_area, %edx
\tmovl 8(%ebx), %esi
\tret
"""
    an = api.analyze(Path("/nonexistent/quiet/q_32.S"), api.Options(profile="max"), text=text)
    config = api.transfer_config(an.program, an.expansion, an.callees)
    got = {" ".join(i.text.split()): i for i in an.program.instructions}
    assert quiet(got["movl TSS_entry2task_stack(%ebx), %ecx"], config) is None
    assert quiet(got["movl %fs:cpu_entry_area, %edx"], config) is None
    assert {"rbx", "rsi"} <= quiet(got["movl 8(%ebx), %esi"], config)
    assert quiet(got["movl 8(%ebx), %esi"]) is None
