"""An edited text's program made from the last one (entrylint/program/patch.py):
where the edit changed only instructions that fall through, the program is
the last one with those made again -- equal to what build_program gives the
new statements, its instructions pointing at the new statements -- and any
other edit is built from the start."""

from __future__ import annotations

import pytest
from incremental_fixture import FIX, OPTS, replace_once

from entrylint import api, incremental
from entrylint.incremental import Sessions


def _check(text: str, edited: str):
    """The edited text checked after ``text`` in one session: (its result,
    whether the program was made from the last one, a run from the start's result)."""
    path = FIX / "entry_incr.S"
    sessions = Sessions()
    api.check(path, OPTS, text=text, incremental=sessions)
    session = sessions.session(path, OPTS)[0]
    before = session.stats["patched"]
    got = api.check(path, OPTS, text=edited, incremental=sessions)
    full = api.check(path, OPTS, text=edited)
    return got, session.stats["patched"] > before, full


@pytest.mark.parametrize("old,new", [
    ("\tpopq\t%rcx\n\ttestl", "\tpopq\t%rdx\n\ttestl"),  # a register retyped
    ("\tmovq\t%gs:pcpu_hot+16, %rdx", "\tmovq\t%gs:pcpu_hot+8, %rdx"),  # a displacement
    ("\tpushq\t%rcx\n.endm", "\tpushq\t%rdx\n.endm"),  # a .macro body line: each invocation's instruction
    ("\tmovq\t$-1, %rax", "\txorl\t%eax, %eax"),  # another instruction that falls through
    ("\tmovq\t$-1, %rax", "\tmovq\t$-1, %rax, %rbx"),  # refused by the assembler: its problem at the line
    ("\tmovq\t$-1, %rax", "\tmovx\t$-1, %rax"),  # an unknown mnemonic
    ("\tmovq\t$-1, %rax", "\tjmp"),  # a jump being typed: refused, read as falling through as the build does
])
def test_an_instruction_retyped_takes_the_last_program(old, new):
    text = (FIX / "entry_incr.S").read_text()
    got, patched, full = _check(text, replace_once(text, old, new))
    assert patched
    prog, fresh = got.analysis.program, full.analysis.program
    assert prog == fresh  # every instruction (statement, operands, decoder record), label, fork, symbol
    # what is worked out once per program from the names in its traces: carried over, the same
    assert "memory-model" in prog.memo
    for kind, insns in ((None, False), ("macro", True), ("macro", False)):
        assert prog.trace_names(kind, insns) == fresh.trace_names(kind, insns)
    assert got.findings == full.findings
    assert incremental.outcome(got) == incremental.outcome(full)
    # the instructions are those of the new statements, not equal ones of the last run
    ids = {id(st) for st in prog.statements}
    assert all(id(i.stmt) in ids for i in prog.instructions)
    assert all(id(d.stmt) in ids for d in prog.data)


@pytest.mark.parametrize("old,new", [
    ("\tmovq\t$-1, %rax", "\tjmp\t1f"),  # now a jump: an edge the last program has not
    ("\tpopq\t%rcx\n\ttestl", "\tcall\texc_debug\n\ttestl"),  # a call
    ("\tmovq\t$-1, %rax", "\tpushq\t$1f"),  # a code label pushed (an iret frame)
    ("\tmovq\t$-1, %rax", "\tleaq\t1f(%rip), %rax"),  # a code label's address taken (a frame's RIP)
    ("\tmovq\t$-1, %rax", "\tmovq\t$-1, %rax\n\tnop"),  # a statement more
    ("\tmovq\t$-1, %rax", "\t.byte 0x90"),  # a directive in its place
    ("\tmovq\t$-1, %rax", "\trep"),  # a prefix on a line of its own: it merges with the next
    ("\tjz\t1f", "\tjnz\t1f"),  # a jump retyped
    ("\tmovq\t$-1, %rax", "\tmovq\t$-1, %rax\n\tX = %rax"),  # a register alias in the file
])
def test_any_other_edit_builds_the_program(old, new):
    text = (FIX / "entry_incr.S").read_text()
    got, patched, full = _check(text, replace_once(text, old, new))
    assert not patched
    assert got.analysis.program == full.analysis.program
    assert got.findings == full.findings


def test_an_instruction_whose_last_text_had_a_problem_takes_the_last_program():
    """The assembler's refusal of the edited instruction is replaced (here by
    none): the problems are those of a build from the start."""
    text = (FIX / "entry_incr.S").read_text()
    bad = replace_once(text, "\tmovq\t$-1, %rax", "\tmovq\t$-1, %rax, %rbx")
    got, patched, full = _check(bad, text)
    assert patched
    assert got.analysis.program == full.analysis.program
    assert got.findings == full.findings and got.analysis.expansion.problems == full.analysis.expansion.problems
    assert incremental.outcome(got) == incremental.outcome(full)


def test_an_instruction_typed_key_by_key_takes_the_last_program_at_each_key():
    """What an editor sends while a line is typed: the assembler refuses
    most of the texts (``movq %rax, %r``).  Each is the last program with the
    line made again, and gives what a run from the start gives -- problems,
    findings, the walk and all -- with another refused instruction of the
    file kept in its place among the problems."""
    text = replace_once((FIX / "entry_incr.S").read_text(), "\tpopq\t%rcx\n\ttestl", "\tpopq\t%rcx, %rdx\n\ttestl")
    word = "\txorq\t%rax, %rbx"
    path = FIX / "entry_incr.S"
    sessions = Sessions()
    api.check(path, OPTS, text=text, incremental=sessions)
    session = sessions.session(path, OPTS)[0]
    refused = 0
    for n in range(2, len(word) + 1):
        edited = replace_once(text, "\tmovq\t$-1, %rax", word[:n])
        before = session.stats["patched"]
        got = api.check(path, OPTS, text=edited, incremental=sessions)
        full = api.check(path, OPTS, text=edited)
        assert session.stats["patched"] == before + 1, word[:n]
        assert got.analysis.program == full.analysis.program
        assert incremental.outcome(got) == incremental.outcome(full), word[:n]
        problems = full.analysis.expansion.problems
        refused += len(problems) > 1
        assert problems[0].message == "number of operands mismatch for `pop'"  # the other refused line, first
    assert refused >= 10  # (most keys: the assembler refused the line being typed too)


def test_a_cpp_macro_defined_with_the_retype_builds_the_program():
    """The program reads the cpp macros (the CPU feature names, the
    alternatives' flag layout): a feature defined in the same edit as an
    instruction retyped gives a program with it."""
    text = (FIX / "entry_incr.S").read_text()
    # (on the empty line under the #include: every statement stays at its line)
    defined = replace_once(text, '"incr.h"\n\n#define', '"incr.h"\n#define X86_FEATURE_INCR_TEST\t(3*32+5)\n#define')
    edited = replace_once(defined, "\tpopq\t%rcx\n\ttestl", "\tpopq\t%rdx\n\ttestl")
    got, patched, full = _check(text, edited)
    assert not patched
    assert "X86_FEATURE_INCR_TEST" in got.analysis.program.features.values()
    assert got.analysis.program == full.analysis.program


@pytest.mark.parametrize("alias", ["R = %rax", ".set\tR, %rax", ".equ\tR, %rax"])
def test_a_file_with_a_register_alias_builds_the_program(alias):
    """An instruction names the register an alias stands for (GNU as's
    ``X0 = %xmm4``, ``.set R, %rax``): the build follows the aliases in
    force where it is; the program is built from the start."""
    text = replace_once((FIX / "entry_incr.S").read_text(), "\t.set\tSAVE_FLAGS, 1\n", f"\t.set\tSAVE_FLAGS, 1\n\t{alias}\n")
    text = replace_once(text, "\tmovq\t$-1, %rax", "\tpushq\tR")
    got, patched, full = _check(text, replace_once(text, "\tpushq\tR", "\tpopq\tR"))
    assert not patched
    assert any(i.text == "popq %rax" for i in got.analysis.program.instructions)
    assert got.analysis.program == full.analysis.program
