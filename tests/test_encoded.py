"""Instructions written as bytes (``.byte 0xf3,0x0f,0x01,0xca`` = ERETU):
a ``.byte`` of literals in a code section whose bytes are whole
instructions becomes those instructions (``encoded``); anything else stays
data."""

from __future__ import annotations

from pathlib import Path

import pytest

from entrylint import api
from entrylint.program.decode import decode_bytes
from entrylint.program.effects import Flow
from entrylint.report.expand import to_json_obj

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "program" / "encoded_bytes.S"


@pytest.fixture(scope="module")
def exp():
    return api.expand(FIX, api.Options(root=FIX.parent, layout=True))


def _at(prog, line):
    return [i for i in prog.instructions if i.location.line == line]


def _data_lines(prog):
    return {d.stmt.location.line for d in prog.data}


# -- the decoder ------------------------------------------------------------------


def test_decode_bytes_whole_instructions():
    (eretu,) = decode_bytes(bytes([0xF3, 0x0F, 0x01, 0xCA]), 64)
    assert (eretu.mnemonic, eretu.flow, eretu.text) == ("eretu", Flow.EXIT_TO_USER, "eretu")
    assert not eretu.falls_through
    assert eretu.swaps_gs  # FRED: ERETU to ring 3 swaps the GS base back, as SWAPGS
    (erets,) = decode_bytes(bytes([0xF2, 0x0F, 0x01, 0xCA]), 64)
    assert erets.flow is Flow.IRET  # documented choice: return through an event frame
    (swapgs,) = decode_bytes(bytes([0x0F, 0x01, 0xF8]), 64)
    assert swapgs.swaps_gs
    mov, ret = decode_bytes(bytes([0x48, 0x89, 0xE5, 0xC3]), 64)
    assert (mov.src, mov.dst, mov.regs_written) == ("rsp", "rbp", frozenset({"rbp"}))
    assert ret.flow is Flow.RET and (len(mov.bytes), len(ret.bytes)) == (3, 1)
    (andq,) = decode_bytes(bytes.fromhex("4881e7ffefffff"), 64)  # andq $~0x1000, %rdi
    assert (andq.imm, andq.imm_size) == (-4097, 64)


def test_decode_bytes_refuses_partial_or_invalid():
    assert decode_bytes(b"", 64) is None
    assert decode_bytes(bytes([0x0F]), 64) is None  # cut short
    assert decode_bytes(bytes([0x2E]), 64) is None  # a prefix alone
    assert decode_bytes(bytes([0x90, 0x0F]), 64) is None  # a whole one, then leftovers


def test_decode_bytes_code_mode():
    assert decode_bytes(bytes([0x40]), 64) is None  # a REX prefix alone
    (inc,) = decode_bytes(bytes([0x40]), 32)
    assert inc.mnemonic == "inc" and inc.dst == "rax"


def test_encoded_branch_has_no_target():
    (call,) = decode_bytes(bytes([0xE8, 0, 0, 0, 0]), 64)
    assert call.flow is Flow.CALL and call.target is None  # a displacement, not a label


# -- the program ------------------------------------------------------------------


def test_eretu_is_an_exit_to_user_at_the_reviewers_line(exp):
    prog = exp.program
    assert not exp.findings, [str(f) for f in exp.findings]
    (ins,) = _at(prog, 14)
    assert ins.encoded and ins.mnemonic == "eretu" and ins.text == "eretu"
    assert ins.info.flow is Flow.EXIT_TO_USER
    assert ins.symbol == "enc_entry" and ins.section == ".entry.text"
    assert ins.location.file.endswith("encoded_bytes.S")
    assert ins.trace == ins.stmt.trace and ins.trace[-1].location.line == 14
    assert 14 not in _data_lines(prog)


def test_swapgs_bytes(exp):
    (ins,) = _at(exp.program, 12)
    assert ins.encoded and ins.info.swaps_gs and ins.mnemonic == "swapgs"
    # it is the symbol's first instruction
    assert exp.program.symbols["enc_entry"].start == ins.index


def test_program_order_and_text_instructions(exp):
    prog = exp.program
    entry = [i for i in prog.instructions if i.symbol == "enc_entry"]
    assert [(i.mnemonic, i.encoded) for i in entry] == [
        ("swapgs", True), ("movq", False), ("eretu", True)]
    assert [i.index for i in prog.instructions] == list(range(len(prog.instructions)))


def test_nop_byte_is_an_instruction_alignment_stays_data(exp):
    prog = exp.program
    (nop,) = _at(prog, 17)
    assert nop.encoded and nop.mnemonic == "nop"
    assert 15 in _data_lines(prog) and not _at(prog, 15)  # .p2align 4, 0x90


def test_several_instructions_from_one_directive(exp):
    mov, ret = _at(exp.program, 18)
    assert (mov.mnemonic, mov.args, ret.mnemonic) == ("mov", "%rsp,%rbp", "ret")
    assert mov.stmt is ret.stmt and ret.index == mov.index + 1
    assert ret.info.flow is Flow.RET
    # layout: each gets its own part of the line's bytes
    assert (mov.size, ret.size) == (3, 1) and ret.offset == mov.offset + 3


def test_undecodable_or_symbolic_bytes_stay_data(exp):
    prog = exp.program
    for line in (19, 20, 21):  # .byte 0x0f; .byte 0x6a, sym; .byte 0x2e
        assert not _at(prog, line) and line in _data_lines(prog)
    # the jmp after them is still a plain instruction
    (jmp,) = _at(prog, 22)
    assert not jmp.encoded and jmp.target == prog.symbols["enc_entry"].start


def test_bytes_outside_code_sections_are_ignored(exp):
    assert not _at(exp.program, 25) and 25 not in _data_lines(exp.program)


def test_code_mode_applies(exp):
    (inc,) = _at(exp.program, 29)
    assert inc.encoded and inc.mode == 32 and inc.mnemonic == "inc"


def test_layout_offsets(exp):
    prog = exp.program
    (swapgs,) = _at(prog, 12)
    (eretu,) = _at(prog, 14)
    (nop,) = _at(prog, 17)
    assert (swapgs.offset, swapgs.size) == (0, 3)
    assert eretu.offset == 6 and eretu.size == 4  # after movq %rsp,%rdi (3 bytes)
    assert nop.offset == 16 and nop.size == 1  # after .p2align 4


def test_without_assembler_encoded_instructions_keep_their_info():
    exp = api.expand(FIX, api.Options(root=FIX.parent, assemble=False))
    (ins,) = _at(exp.program, 14)
    assert ins.encoded and ins.info.flow is Flow.EXIT_TO_USER


def test_expand_json_marks_encoded(exp):
    doc = to_json_obj(exp)
    by_line = {}
    for i in doc["instructions"]:
        by_line.setdefault(i["line"], []).append(i)
    (eretu,) = by_line[14]
    assert eretu["encoded"] is True and eretu["canonical"] == "eretu" and eretu["text"] == "eretu"
    assert by_line[13][0]["encoded"] is False
    assert all(d["line"] != 14 for d in doc["data"])
    assert any(d["line"] == 15 for d in doc["data"])


# -- a real kernel ----------------------------------------------------------------


@pytest.mark.kernel
def test_612_fred_eretu_exits_to_user(kernel_tree_612):
    path = kernel_tree_612 / "arch" / "x86" / "entry" / "entry_64_fred.S"
    exp = api.expand(path, api.Options(root=kernel_tree_612, profile="max"))
    prog = exp.program
    eretu = [i for i in prog.instructions if i.encoded and i.canonical == "eretu"]
    assert eretu, "no ERETU decoded from its .byte"
    for ins in eretu:
        assert ins.info.flow is Flow.EXIT_TO_USER
        assert ins.location.file.endswith("entry_64_fred.S")  # the reviewer's line, not fred.h
    erets = [i for i in prog.instructions if i.encoded and i.canonical == "erets"]
    assert erets and all(i.info.flow is Flow.IRET for i in erets)
    assert not [d for d in prog.data if d.stmt.location.line in {i.location.line for i in eretu}]
