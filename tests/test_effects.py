"""Instruction semantics: implicit registers, flags and the special cases
layered on iced-x86 (program/effects.py values, filled by program/decode.py)."""

import pytest

from entrylint.program.decode import Decoder
from entrylint.program.effects import (
    Access,
    Certainty,
    DataOp,
    Flow,
    InsnInfo,
    MemRef,
    STATUS_FLAGS,
)


@pytest.fixture(scope="module")
def dec():
    d = Decoder(disk_cache=False)
    if not d.available:
        pytest.skip(f"no GNU as: {d.status}")
    return d


def one(dec, text) -> InsnInfo:
    infos, errors = dec.infos([text])
    assert errors == [], errors
    assert infos[0] is not None
    return infos[0]


# --- vocabulary ---------------------------------------------------------------


def test_certainty_truthiness():
    assert not Certainty.NO
    assert Certainty.MAY and Certainty.YES


def test_memref_properties():
    m = MemRef(Access.WRITE, "gs", None, None)
    assert m.gs_relative and m.writes and not m.reads and not m.rsp_relative
    m = MemRef(Access.COND_READ, "ss", "rsp", None)
    assert m.rsp_relative and m.reads and not m.writes


def test_falls_through_follows_flow():
    assert InsnInfo("nop", None, "nop").falls_through
    for flow in (Flow.JUMP, Flow.RET, Flow.EXIT_TO_USER, Flow.IRET, Flow.INDIRECT_JUMP, Flow.STOP):
        assert not InsnInfo("x", None, "x", flow=flow).falls_through
    assert InsnInfo("x", None, "x", flow=Flow.COND_JUMP).falls_through


# --- implicit registers -------------------------------------------------------


def test_syscall_writes_rcx_r11(dec):
    i = one(dec, "syscall")
    assert {"rcx", "r11"} <= i.regs_written
    assert i.flow is Flow.INT


def test_sysretq_reads_rcx_r11_and_exits_to_user(dec):
    i = one(dec, "sysretq")
    assert {"rcx", "r11"} <= i.regs_read
    assert i.flow is Flow.EXIT_TO_USER and not i.falls_through
    assert one(dec, "sysretl").flow is Flow.EXIT_TO_USER
    assert one(dec, "sysexit").flow is Flow.EXIT_TO_USER


def test_iretq(dec):
    i = one(dec, "iretq")
    assert i.flow is Flow.IRET
    assert "rsp" in i.regs_read and "rsp" in i.regs_written
    assert i.serializing
    assert all(m.rsp_relative and m.reads for m in i.mem) and len(i.mem) == 5


@pytest.mark.parametrize("text", ["pushq %rdi", "push %rdi"])
def test_push_reads_reg_and_rsp_writes_stack(dec, text):
    i = one(dec, text)
    assert i.regs_read == {"rdi", "rsp"}
    assert i.regs_written == {"rsp"}
    assert [m.access for m in i.mem_written] == [Access.WRITE]
    assert i.mem_written[0].rsp_relative


def test_pop(dec):
    i = one(dec, "popq %rdi")
    assert i.regs_read == {"rsp"} and i.regs_written == {"rdi", "rsp"}
    assert i.mem_read and i.mem_read[0].rsp_relative


def test_call_and_ret_use_rsp(dec):
    c = one(dec, "call sync_regs")
    assert c.flow is Flow.CALL and c.target == "sync_regs"
    assert "rsp" in c.regs_read and "rsp" in c.regs_written
    r = one(dec, "ret")
    assert r.flow is Flow.RET and "rsp" in r.regs_written
    ic = one(dec, "call *%rax")
    assert ic.flow is Flow.INDIRECT_CALL and "rax" in ic.regs_read and ic.target is None


def test_rdmsr_wrmsr(dec):
    r = one(dec, "rdmsr")
    assert "rcx" in r.regs_read and {"rax", "rdx"} <= r.regs_written
    assert r.reads_gs_base is Certainty.MAY and r.writes_gs_base is Certainty.NO
    w = one(dec, "wrmsr")
    assert {"rax", "rcx", "rdx"} <= w.regs_read and not w.regs_written
    assert w.writes_gs_base is Certainty.MAY and w.serializing


def test_cpuid(dec):
    i = one(dec, "cpuid")
    assert {"rax", "rcx"} <= i.regs_read
    assert {"rax", "rbx", "rcx", "rdx"} <= i.regs_written
    assert i.serializing


def test_rep_movsb(dec):
    i = one(dec, "rep movsb")
    assert {"rcx", "rsi", "rdi"} <= i.regs_read
    assert {"rcx", "rsi", "rdi"} <= i.regs_written | i.regs_cond_written
    assert "df" in i.flags_read
    assert {m.access for m in i.mem} == {Access.COND_READ, Access.COND_WRITE}


def test_xor_zeroing_idiom_does_not_read(dec):
    i = one(dec, "xorl %r11d, %r11d")
    assert i.regs_written == {"r11"} and "r11" not in i.regs_read
    assert not i.regs_partial
    j = one(dec, "xorl %eax, %ebx")
    assert {"rax", "rbx"} <= j.regs_read


def test_subregister_writes(dec):
    assert one(dec, "movl $0, %eax").regs_partial == frozenset()
    i = one(dec, "movb $0, %al")
    assert i.regs_written == {"rax"} and i.regs_partial == {"rax"}
    assert one(dec, "movw %ax, %r11w").regs_partial == {"r11"}
    assert one(dec, "movzbl %al, %eax").regs_read == {"rax"}


def test_mov_cr3(dec):
    r = one(dec, "mov %cr3, %rax")
    assert r.cr3_read and not r.cr3_write and r.regs_written == {"rax"}
    w = one(dec, "mov %rax, %cr3")
    assert w.cr3_write and not w.cr3_read and w.regs_read == {"rax"}
    assert w.serializing and w.privileged
    # iced leaves the status flags undefined on mov to/from a control register
    assert w.flags_undefined == STATUS_FLAGS and not w.flags_written


def test_gs_relative_store(dec):
    i = one(dec, "movq %rsp, %gs:cpu_tss_rw+4")
    assert "rsp" in i.regs_read and not i.regs_written - {"gs"}
    assert len(i.mem_written) == 1
    m = i.mem_written[0]
    assert m.gs_relative and m.base is None and not m.rsp_relative
    load = one(dec, "movq %gs:0x10, %rax")
    assert load.mem_read[0].gs_relative and load.regs_written == {"rax"}


# --- flags ------------------------------------------------------------------


def test_bt_writes_cf_only(dec):
    i = one(dec, "bt $3, %rax")
    assert i.flags_written == {"cf"}
    assert "zf" not in i.flags_written
    assert i.regs_read == {"rax"} and not i.regs_written


@pytest.mark.parametrize("text", ["testq %rax, %rax", "andl $3, %eax", "testb $3, CS(%rsp)"])
def test_test_and_set_zf(dec, text):
    i = one(dec, text)
    assert {"zf", "sf", "pf", "cf", "of"} <= i.flags_written


def test_jcc_reads_flags(dec):
    i = one(dec, "jz 1f")
    assert i.flow is Flow.COND_JUMP and i.target == "1f" and i.mnemonic == "je"
    assert i.flags_read == {"zf"}
    assert one(dec, "jmp .Lfoo").flow is Flow.JUMP
    assert one(dec, "jmp *%rax").flow is Flow.INDIRECT_JUMP


def test_interrupt_flag(dec):
    assert one(dec, "cli").flags_written == {"if"}
    assert one(dec, "sti").flags_written == {"if"}
    assert "if" in one(dec, "popfq").flags_written
    assert "if" not in one(dec, "pushfq").flags_written


# --- GS base, serialization, traps ------------------------------------------------


def test_swapgs(dec):
    i = one(dec, "swapgs")
    assert i.swaps_gs and i.privileged
    assert not i.serializing  # the reason entry code needs an lfence after it
    assert not one(dec, "lfence").swaps_gs and one(dec, "lfence").serializing


def test_gs_base_instructions(dec):
    assert one(dec, "wrgsbase %rax").writes_gs_base is Certainty.YES
    assert one(dec, "rdgsbase %rax").reads_gs_base is Certainty.YES
    assert one(dec, "rdgsbase %rax").regs_written == {"rax"}
    assert one(dec, "movl %edi, %gs").writes_gs_base is Certainty.YES
    assert one(dec, "wrfsbase %rax").writes_gs_base is Certainty.NO
    assert one(dec, "movq %rax, %gs:8").writes_gs_base is Certainty.NO


def test_traps_and_halt(dec):
    for text in ("int3", "int $0x80"):
        i = one(dec, text)
        assert i.flow is Flow.INT and i.falls_through, text  # int3 can be resumed
    for text in ("ud2", "ud1 %eax, %ecx", "ud0 %eax, %ecx"):
        i = one(dec, text)
        assert i.flow is Flow.STOP and not i.falls_through, text
    i = one(dec, "hlt")
    assert i.flow is Flow.HALT and i.falls_through


# --- operands for value tracking (MODEL 3.1, refinement on branches) ----------------


def test_operand_defaults():
    i = InsnInfo("nop", None, "nop")
    assert i.op is DataOp.OTHER and i.imm is None and i.imm_size == 0
    assert i.dst is i.src is i.dst_mem is i.src_mem is i.cond is None and not i.dst_partial
    assert MemRef(Access.READ, None, "rax", None).disp == 0


@pytest.mark.parametrize(
    "text, op, imm, size, dst",
    [
        ("andq $~0x1000, %rdi", DataOp.AND, ~0x1000, 64, "rdi"),
        ("andl $0xffffefff, %edi", DataOp.AND, ~0x1000, 32, "rdi"),
        ("andq $0xffffffffffffefff, %rdi", DataOp.AND, ~0x1000, 64, "rdi"),
        ("orq $0x1000, %rax", DataOp.OR, 0x1000, 64, "rax"),
        ("orq $(1 << 12), %rax", DataOp.OR, 0x1000, 64, "rax"),
        ("orl $0x80, %eax", DataOp.OR, 0x80, 32, "rax"),  # imm32 (0x80 is not a sign-extended imm8)
        ("orl $8, %eax", DataOp.OR, 8, 32, "rax"),  # imm8 sign-extended to 32
        ("bts $63, %rax", DataOp.BTS, 63, 8, "rax"),
        ("btr $12, %rdi", DataOp.BTR, 12, 8, "rdi"),
        ("btc $12, %rdi", DataOp.BTC, 12, 8, "rdi"),
        ("xorq $0x1000, %rdi", DataOp.XOR, 0x1000, 64, "rdi"),
        ("addq $8, %rsp", DataOp.ADD, 8, 64, "rsp"),
        ("subq $-8, %rsp", DataOp.SUB, -8, 64, "rsp"),
        ("shlq $12, %rax", DataOp.SHL, 12, 8, "rax"),
        ("salq $12, %rax", DataOp.SHL, 12, 8, "rax"),
        ("shrq $12, %rax", DataOp.SHR, 12, 8, "rax"),
        ("sarq $63, %rax", DataOp.SAR, 63, 8, "rax"),
        ("movabs $0x8000000000000000, %rax", DataOp.MOVE, -(1 << 63), 64, "rax"),
        ("movl $-1, %eax", DataOp.MOVE, -1, 32, "rax"),
        ("movb $0xff, %al", DataOp.MOVE, -1, 8, "rax"),
    ],
)  # fmt: skip
def test_immediate_ops(dec, text, op, imm, size, dst):
    i = one(dec, text)
    assert (i.op, i.imm, i.imm_size, i.dst, i.src) == (op, imm, size, dst, None)
    assert i.dst_mem is None and i.src_mem is None


def test_immediate_unsigned_by_masking(dec):
    i = one(dec, "andl $0xffffefff, %edi")
    assert i.imm & ((1 << i.imm_size) - 1) == 0xFFFFEFFF


@pytest.mark.parametrize("text", ["andq $~SYM, %rdi", "movq $1f, %rax", "orq $sym+4, %rax",
                                  "btq $FEATURE_BIT, %rax"])  # fmt: skip
def test_symbolic_immediate_is_none(dec, text):
    i = one(dec, text)
    assert i.imm is None and i.imm_size == 0 and (i.dst or i.src) in ("rdi", "rax")


def test_bt_tests_a_source(dec):
    i = one(dec, "bt $12, %rax")
    assert (i.op, i.imm, i.imm_size, i.src, i.dst) == (DataOp.BT, 12, 8, "rax", None)
    i = one(dec, "btq %rcx, %rax")  # bit index in %rcx, the register tested is %rax
    assert (i.op, i.src, i.dst, i.imm) == (DataOp.BT, "rax", None, None)


def test_test_and_cmp(dec):
    i = one(dec, "testb $3, 0x88(%rsp)")
    assert (i.op, i.imm, i.dst, i.src, i.dst_mem) == (DataOp.TEST, 3, None, None, None)
    m = i.src_mem
    assert (m.base, m.index, m.disp, m.access, m.segment) == ("rsp", None, 0x88, Access.READ, "ss")
    assert i.mem == (m,)
    i = one(dec, "testl %edx, %edx")
    assert (i.op, i.src, i.dst, i.imm) == (DataOp.TEST, "rdx", None, None)
    i = one(dec, "cmpq $0, -8(%rsp)")
    assert (i.op, i.imm, i.src_mem.disp, i.src_mem.base) == (DataOp.CMP, 0, -8, "rsp")


def test_symbolic_displacement_is_none(dec):
    i = one(dec, "testb $3, CS(%rsp)")  # asm-offsets not replaced by cpp
    assert i.imm == 3 and i.src_mem.base == "rsp" and i.src_mem.disp is None
    assert i.mem[0].disp is None
    i = one(dec, "movq %rsp, %gs:cpu_tss_rw+4")
    assert i.dst_mem.gs_relative and i.dst_mem.disp is None and i.src == "rsp"
    i = one(dec, "movq foo(%rip), %rax")
    assert i.src_mem.rip_relative and i.src_mem.disp is None


def test_cr3_moves(dec):
    i = one(dec, "mov %cr3, %rax")
    assert (i.op, i.src, i.dst, i.dst_partial) == (DataOp.MOVE, "cr3", "rax", False)
    i = one(dec, "movq %rax, %cr3")
    assert (i.op, i.src, i.dst) == (DataOp.MOVE, "rax", "cr3")


def test_gs_relative_moves(dec):
    i = one(dec, "movq %gs:0x10, %rsp")
    assert (i.op, i.dst, i.src, i.dst_mem) == (DataOp.MOVE, "rsp", None, None)
    m = i.src_mem
    assert m.gs_relative and m.base is None and m.disp == 0x10 and m.access is Access.READ
    i = one(dec, "movq %rsp, %gs:0x10")
    assert (i.op, i.dst, i.src, i.src_mem) == (DataOp.MOVE, None, "rsp", None)
    m = i.dst_mem
    assert m.gs_relative and m.disp == 0x10 and m.access is Access.WRITE


def test_memory_to_and_from_stack(dec):
    i = one(dec, "movq %rax, 8(%rsp)")
    assert i.src == "rax" and i.dst_mem.rsp_relative and i.dst_mem.disp == 8
    i = one(dec, "movq -8(%rsp), %rax")
    assert i.dst == "rax" and i.src_mem.disp == -8
    i = one(dec, "movq 0x10(%rsp,%rcx,8), %rax")
    m = i.src_mem
    assert (m.base, m.index, m.scale, m.disp) == ("rsp", "rcx", 8, 16)
    i = one(dec, "movq 8(%rip), %rax")
    assert i.src_mem.rip_relative and i.src_mem.disp == 8


def test_displacement_in_32_bit_code(dec):
    infos, errors = dec.infos(["movl -8(%esp), %eax"], [32])
    assert errors == [] and infos[0].src_mem.disp == -8 and infos[0].dst == "rax"


def test_push_pop(dec):
    i = one(dec, "push %rax")
    assert (i.op, i.src, i.dst, i.dst_mem, i.src_mem) == (DataOp.PUSH, "rax", None, None, None)
    i = one(dec, "pop %r14")
    assert (i.op, i.dst, i.src, i.src_mem) == (DataOp.POP, "r14", None, None)
    i = one(dec, "pushq $-1")
    assert (i.op, i.imm, i.src) == (DataOp.PUSH, -1, None)
    i = one(dec, "pushq 8(%rax)")
    assert i.src_mem.base == "rax" and i.src_mem.disp == 8 and i.dst_mem is None


def test_lea(dec):
    i = one(dec, "lea 8(%rsp), %rax")
    assert (i.op, i.dst, i.src) == (DataOp.LEA, "rax", None)
    m = i.src_mem
    assert (m.base, m.disp, m.access) == ("rsp", 8, Access.ADDRESS)
    assert not m.reads and not m.writes and i.mem == ()


def test_register_moves(dec):
    i = one(dec, "movl %ecx, %eax")
    assert (i.op, i.dst, i.src, i.dst_partial) == (DataOp.MOVE, "rax", "rcx", False)
    i = one(dec, "movb %al, %bl")
    assert (i.op, i.dst, i.src, i.dst_partial) == (DataOp.MOVE, "rbx", "rax", True)
    i = one(dec, "movw %ax, %bx")
    assert i.dst_partial
    i = one(dec, "xchg %rax, %rbx")
    assert i.op is DataOp.XCHG and {i.dst, i.src} == {"rax", "rbx"}
    i = one(dec, "xorl %eax, %eax")
    assert (i.op, i.dst, i.src) == (DataOp.XOR, "rax", "rax")
    assert (one(dec, "notq %rax").op, one(dec, "negq %rax").op) == (DataOp.NOT, DataOp.NEG)
    assert one(dec, "notq %rax").dst == "rax"


@pytest.mark.parametrize("text", ["movzbl %al, %eax", "movslq %eax, %rax", "cmovzq %rcx, %rax",
                                  "movq %rax, %xmm0", "imulq $3, %rax"])  # fmt: skip
def test_not_a_plain_op(dec, text):
    assert one(dec, text).op is DataOp.OTHER


def test_inc_dec_add_one(dec):
    # value tracking counts with them (error_entry's %ebx: xorl, incl, decl)
    i, d = one(dec, "incl %ebx"), one(dec, "decq %rcx")
    assert (i.op, i.dst, i.src, i.imm) == (DataOp.ADD, "rbx", None, 1)
    assert (d.op, d.dst, d.imm) == (DataOp.SUB, "rcx", 1)


@pytest.mark.parametrize(
    "text, cond",
    [("jz 1f", ("zf", True)), ("je 1f", ("zf", True)), ("jnz 1f", ("zf", False)),
     ("jne 1f", ("zf", False)), ("jc 1f", ("cf", True)), ("jb 1f", ("cf", True)),
     ("jnae 1f", ("cf", True)), ("jnc 1f", ("cf", False)), ("jae 1f", ("cf", False)),
     ("jnb 1f", ("cf", False)), ("js 1f", ("sf", True)), ("jns 1f", ("sf", False)),
     ("jo 1f", ("of", True)), ("jno 1f", ("of", False)), ("jp 1f", ("pf", True)),
     ("jnp 1f", ("pf", False)), ("cmovzq %rcx, %rax", ("zf", True)), ("setc %al", ("cf", True)),
     ("ja 1f", None), ("jbe 1f", None), ("jl 1f", None), ("jge 1f", None), ("jg 1f", None),
     ("jle 1f", None), ("loope 1f", None), ("loop 1f", None), ("jrcxz 1f", None),
     ("jmp 1f", None), ("movq %rax, %rbx", None)],
)  # fmt: skip
def test_conditions(dec, text, cond):
    i = one(dec, text)
    assert i.cond == cond
    if cond is not None:
        assert cond[0] in i.flags_read
