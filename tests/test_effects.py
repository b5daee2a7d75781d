"""Instruction semantics: implicit registers, flags and the special cases
layered on iced-x86 (program/effects.py values, filled by program/decode.py)."""

import pytest

from entrylint.program.decode import Decoder
from entrylint.program.effects import (
    Access,
    Certainty,
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
    for flow in (Flow.JUMP, Flow.RET, Flow.EXIT_TO_USER, Flow.IRET, Flow.INDIRECT_JUMP):
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
    for text in ("int3", "ud2", "int $0x80"):
        assert one(dec, text).flow is Flow.INT, text
    assert one(dec, "hlt").flow is Flow.HALT
