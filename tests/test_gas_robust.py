"""Garbage in: problems out, quickly, never an exception or a hang."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from entrylint.cpp.types import plain_lines
from entrylint.gas import GasOptions, expand
from entrylint.source import ProblemKind
from entrylint.source.limits import DEFAULT

CASES = {
    "unterminated macro": (".macro M a\n nop\n", ProblemKind.UNBALANCED_BLOCK, 1),
    "endr without rept": ("nop\n.endr\n", ProblemKind.UNBALANCED_BLOCK, 2),
    "endm without macro": (".endm\n", ProblemKind.UNBALANCED_BLOCK, 1),
    "exitm outside macro": (".exitm\nnop\n", ProblemKind.UNBALANCED_BLOCK, 1),
    "recursive macro": (".macro R\n nop\n R\n.endm\nR\n", ProblemKind.LIMIT, 5),
    "huge rept": (".rept 1000000000\n nop\n.endr\n", ProblemKind.LIMIT, 1),
    "unclosed if": ("nop\n.if 1\n nop\n", ProblemKind.UNBALANCED_BLOCK, 2),
    "endif without if": (".endif\n", ProblemKind.UNBALANCED_BLOCK, 1),
    "unterminated rept": (".rept 2\n nop\n", ProblemKind.UNBALANCED_BLOCK, 1),
    "non-constant if": (".if undefined_sym\n nop\n.endif\n", ProblemKind.ASM_ERROR, 1),
    "popsection underflow": (".popsection\n", ProblemKind.ASM_ERROR, 1),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_garbage_gives_problem(name):
    text, kind, line = CASES[name]
    start = time.process_time()
    r = expand(plain_lines(text, "bad.S"))
    assert time.process_time() - start < 2.0
    assert kind in [p.kind for p in r.problems]
    p = next(p for p in r.problems if p.kind == kind)
    assert p.location.line == line  # the opening/offending line, outermost


def test_recursion_stops_at_max_depth():
    r = expand(plain_lines(".macro R\n nop\n R\n.endm\nR\n", "bad.S"), GasOptions(limits=replace(DEFAULT, macro_depth=7)))
    assert [s.name for s in r.statements] == ["nop"] * 7
    limit = [p for p in r.problems if p.kind == ProblemKind.LIMIT]
    assert len(limit) == 1 and len(limit[0].trace) == 7 + 1


def test_exponential_macro_hits_statement_budget():
    src = ".macro E\n nop\n E\n E\n.endm\nE\n"
    start = time.process_time()
    r = expand(plain_lines(src, "bad.S"), GasOptions(limits=replace(DEFAULT, expansion_statements=20_000)))
    assert time.process_time() - start < 5.0
    assert any(p.kind == ProblemKind.LIMIT for p in r.problems)
    assert len(r.statements) <= 20_000


def test_rest_of_file_is_still_read():
    src = ".endr\n.macro M\n.endm\n.exitm\n.bogus\n swapgs\n"
    r = expand(plain_lines(src, "bad.S"))
    assert [s.name for s in r.statements if s.kind == "insn"] == ["swapgs"]


@pytest.mark.parametrize("text", ["\\", '"unterminated', ".macro", ".irp", ".irpc", ".rept",
                                  ".if", ".ifc", ".set", "= 3", ".section", "M ((((", ":", ";;;",
                                  ".macro M a=\"x\n.endm\nM a=\"", "\x00\x01", ".if (1", ".rept -5\n.endr"])
def test_odd_input_never_raises(text):
    expand(plain_lines(text + "\n", "odd.S"))
