"""AT&T operand parsing and register folding (program/operands.py)."""

import pytest

from entrylint.program.operands import (
    Imm,
    Mem,
    Other,
    Reg,
    Target,
    canonical_register,
    parse_operand,
    parse_operands,
    split_operands,
)


@pytest.mark.parametrize(
    "name, canon",
    [
        ("%rax", "rax"), ("%eax", "rax"), ("%ax", "rax"), ("%al", "rax"), ("%ah", "rax"),
        ("%r11", "r11"), ("%r11d", "r11"), ("%r11w", "r11"), ("%r11b", "r11"), ("%r13l", "r13"),
        ("%sil", "rsi"), ("%dil", "rdi"), ("%bpl", "rbp"), ("%spl", "rsp"), ("%esp", "rsp"),
        ("%CR3", "cr3"), ("cr4", "cr4"), ("%gs", "gs"), ("%xmm0", "xmm0"),
        ("%st(1)", "st1"), ("%st", "st0"), ("%rip", "rip"), ("%eip", "rip"),
    ],
)  # fmt: skip
def test_canonical_register(name, canon):
    assert canonical_register(name) == canon


@pytest.mark.parametrize("name", ["%foo", "rex", "%r16", "", "%_ASM_AX", "%cr"])
def test_canonical_register_rejects(name):
    assert canonical_register(name) is None


def test_split_top_level_commas_only():
    assert split_operands("%rsp, %gs:cpu_tss_rw+4") == ["%rsp", "%gs:cpu_tss_rw+4"]
    assert split_operands("(%rsp,%rcx,8), %rax") == ["(%rsp,%rcx,8)", "%rax"]
    assert split_operands("$(1, 2), 'a,', \",\"") == ["$(1, 2)", "'a,'", '","']
    assert split_operands("") == []


def test_registers_and_immediates():
    assert parse_operands("%rax, %r12d") == (Reg("rax"), Reg("r12d"))
    assert parse_operands("%cr3, %rax")[0] == Reg("cr3")
    assert parse_operand("%st(1)") == Reg("st(1)")
    assert parse_operand("$0x10") == Imm("0x10")
    assert parse_operand("$(1 << 12)") == Imm("(1 << 12)")
    assert parse_operand("$~(1<<12)") == Imm("~(1<<12)")
    assert parse_operand("$sym") == Imm("sym")


def test_memory_forms():
    assert parse_operand("%gs:0x10") == Mem(seg="gs", disp="0x10")
    m = parse_operand("%gs:cpu_tss_rw+4")
    assert m == Mem(seg="gs", disp="cpu_tss_rw+4") and m.gs_relative
    m = parse_operand("-8(%rsp)")
    assert m == Mem(disp="-8", base="rsp") and m.rsp_relative and not m.gs_relative
    assert parse_operand("(%rsp,%rcx,8)") == Mem(base="rsp", index="rcx", scale=8)
    assert parse_operand("0x28(%rsp)") == Mem(disp="0x28", base="rsp")
    m = parse_operand("sym(%rip)")
    assert m == Mem(disp="sym", base="rip") and m.rip_relative
    assert parse_operand("(,%rax,8)") == Mem(index="rax", scale=8)
    assert parse_operand("%gs:(TSS_sp2)(%rax)") == Mem(seg="gs", disp="(TSS_sp2)", base="rax")
    # a parenthesised displacement alone is an expression, not an address
    assert parse_operand("(1 << 12)") == Mem(disp="(1 << 12)")


def test_targets_need_the_branch_flag():
    assert parse_operand("1f", branch=True) == Target("1f")
    assert parse_operand("1f", branch=True).local_ref == (1, "f")
    assert parse_operand("22b", branch=True).local_ref == (22, "b")
    assert parse_operand(".Lfoo", branch=True) == Target(".Lfoo")
    assert parse_operand(".Lfoo", branch=True).local_ref is None
    # without the flag a bare symbol is absolute memory (AT&T `movq sym, %rax`)
    assert parse_operand("sym") == Mem(disp="sym")


def test_indirect_operands():
    assert parse_operand("*%rax", branch=True) == Reg("rax", indirect=True)
    assert parse_operand("*(%rax)", branch=True) == Mem(base="rax", indirect=True)
    assert parse_operand("*sym(%rip)", branch=True) == Mem(disp="sym", base="rip", indirect=True)


def test_garbage_is_other_not_an_exception():
    for text in ("%_ASM_AX", "{%k1}", "*", "%rax)"):
        assert isinstance(parse_operand(text), Other)


@pytest.mark.parametrize("args", ["label23", "a.b$c", ".Lfoo", "_x", "$y", "do_syscall_64", "x", "L", "1f", "23b", "1"])
@pytest.mark.parametrize("branch", [False, True])
def test_one_symbol_is_read_at_once_as_the_parser_reads_it(args, branch):
    """operands.parse_operands reads a lone symbol without splitting or
    parsing it: the same operands as the parser gives."""
    from entrylint.program.operands import _parse_operands, parse_operands

    assert parse_operands(args, branch) == _parse_operands(args, branch)
    assert type(parse_operands(args, branch)[0]) is type(_parse_operands(args, branch)[0])
