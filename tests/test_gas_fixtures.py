"""The GAS layer on the hand-written fixtures: statements and traces."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from entrylint.cpp.types import Cond, PPLine, Segment, plain_lines
from entrylint.gas import Frame, GasOptions, UnknownDirective, expand, lex
from entrylint.source import Location, ProblemKind

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "gas"


def run(name: str, **kw):
    path = FIXTURES / name
    result = expand(plain_lines(path.read_text(), str(path)), GasOptions(strict=True, **kw))
    return path, result


def insns(result):
    return [(s.name, s.args) for s in result.statements if s.kind == "insn"]


def frames(stmt):
    return [(f.kind, f.name, f.location.line) for f in stmt.trace]


def line_of(path: Path, text: str) -> int:
    """1-based number of the only fixture line that contains ``text``."""
    hits = [i for i, line in enumerate(path.read_text().split("\n"), 1) if text in line]
    assert len(hits) == 1, (text, hits)
    return hits[0]


def test_statement_splitting():
    path, r = run("statements.S")
    assert r.problems == []
    got = [(s.kind, s.name, s.args) for s in r.statements]
    assert got == [
        ("directive", ".text", ""),
        ("label", "start", ""), ("insn", "movq", "%rsp, %rax"), ("insn", "pushq", "%rax"),
        ("label", "1", ""), ("insn", "lock", "incl (%rdi)"),
        ("label", ".Lone", ""), ("label", ".Ltwo", ""), ("insn", "nop", ""),
        ("insn", "lock", ""), ("insn", "decl", "(%rdi)"),
        ("directive", ".ascii", '"a;b#c"'),
        ("insn", "rep", "movsb"), ("insn", "jnz", "1b"),
        ("assign", "count", "3"),
    ]
    pushq = r.statements[3]
    assert pushq.trace == (Frame(Location(str(path), line_of(path, "pushq %rax"), pushq.location.col)),)
    # the column is where the second statement of the line starts
    assert pushq.location.col == path.read_text().split("\n")[2].index("pushq") + 1
    assert r.symbols == {"count": 3}


def test_macro_arguments_and_traces():
    path, r = run("macro_args.S")
    assert r.problems == []
    assert insns(r) == [
        ("movq", "%rdi, 0(%rsp)"), ("movq", "%rsi, 8(%rsp)"), ("movq", "%rdx, 16(%rbp)"),
        ("movq", "%rcx, 1+2(%rsp)"), ("pushq", "%rax"), ("popq", "%rbx")]
    body = line_of(path, "movq \\reg")
    first = next(s for s in r.statements if s.kind == "insn")
    assert frames(first) == [("macro", "SAVE", line_of(path, "SAVE %rdi")), ("source", None, body)]
    ascii_ = next(s for s in r.statements if s.name == ".ascii")
    assert ascii_.args.replace(" ", "") == '"2,3"'
    info = r.macros["save"]
    assert [(p.name, p.default, p.required) for p in info.params] == [
        ("reg", "", True), ("offset", "0", False), ("base", "%rsp", False)]
    assert info.location.line == line_of(path, ".macro SAVE")
    assert [b.location.line for b in info.body] == [body]


def test_counter_glue_exitm_nested_purge():
    path, r = run("macro_special.S")
    assert r.problems == []
    labels = [s.name for s in r.statements if s.kind == "label"]
    # TWICE is macro 0, its two MARKs are 1 and 2 (GAS counts executions)
    assert labels == [".Lmark_1", ".Lmark_2", "foo_entry"]
    assert insns(r) == [("nop", ""), ("nop", ""), ("call", "foo_handler"),
                        ("pushq", "$1"), ("popq", "%rax"), ("pushq", "$2"),
                        ("movl", "$7, %eax"), ("ud2", "")]
    mark = r.statements[0]
    twice = line_of(path, "\tTWICE")
    assert [f.kind for f in mark.trace] == ["macro", "macro", "source"]
    assert mark.trace[0] == Frame(Location(str(path), twice, 2), "macro", "TWICE")
    assert mark.trace[1].name == "MARK" and mark.trace[1].location.line == twice - 3
    assert mark.trace[2].location.line == line_of(path, ".Lmark_")
    assert r.macros["inner_x"].purged is False
    assert [m.name for m in r.purged] == ["inner_x"]
    assert r.purged[0].purged is True


def test_conditionals():
    path, r = run("conditionals.S")
    assert r.problems == []
    assert insns(r) == [("movq", "%rsp, %rax"), ("movq", "%rbp, %rax"), ("movq", "%rcx, %rax"),
                        ("inc", "%eax"), ("dec", "%eax"), ("int3", ""), ("nop", ""), ("cli", "")]
    second = [s for s in r.statements if s.kind == "insn"][1]
    assert frames(second) == [("macro", "PICK", line_of(path, "PICK %rbp")),
                              ("source", None, line_of(path, "movq %rbp"))]


def test_repetitions():
    path, r = run("repeat.S")
    assert r.problems == []
    assert insns(r) == [("pushq", "%rdi"), ("pushq", "%rsi")] + [("movb", "$0, %al")] * 2 + [
        ("movb", "$1, %al")] * 2
    push = r.statements[0]
    assert frames(push) == [("macro", "PUSH_ALL", line_of(path, "PUSH_ALL rdi")),
                            ("irp", "r", line_of(path, ".irp r")),
                            ("source", None, line_of(path, "pushq %\\r"))]
    movb = [s for s in r.statements if s.name == "movb"][0]
    assert frames(movb) == [("irpc", "n", line_of(path, ".irpc n")),
                            ("rept", None, line_of(path, ".rept 2")),
                            ("source", None, line_of(path, "movb $"))]
    assert r.symbols["vector"] == 0x23


def test_symbols_and_ifdef():
    path, r = run("symbols.S")
    assert r.problems == []
    assert r.symbols == {"SIZE": 8, "DOUBLE": 16, "TRIPLE": 24, "FLAG": 1}
    assert "here" not in r.symbols  # not absolute
    assert insns(r) == [("nop", ""), ("int3", "")]


def test_sections():
    path, r = run("sections.S")
    assert r.problems == []
    got = [(s.name, s.section) for s in r.statements if s.kind == "insn"]
    assert got == [("nop", ".text"), ("jmp", ".altinstr_replacement"), ("swapgs", ".entry.text"),
                   ("sysretq", ".entry.text"), ("ret", ".text")]


def test_cpp_segments_give_location_and_macros():
    inv = Location("a.S", 10, 1)
    text = ".globl foo ; .balign 16 ; foo: swapgs"
    cond = (Cond("defined(CONFIG_X86_64)", True, Location("a.S", 9, 1)),)
    line = PPLine(text, (Segment(0, inv, ("SYM_START",)), Segment(31, Location("a.S", 10, 12), ())), cond)
    r = expand([line], GasOptions(strict=True))
    assert [(s.kind, s.name) for s in r.statements] == [
        ("directive", ".globl"), ("directive", ".balign"), ("label", "foo"), ("insn", "swapgs")]
    assert r.statements[0].cpp_macros == ("SYM_START",)
    assert r.statements[0].location == inv
    assert r.statements[-1].location == Location("a.S", 10, 12)  # its own segment
    assert r.statements[-1].cpp_macros == ()
    assert all(s.cond == cond for s in r.statements)


def test_cond_of_macro_definition_joins_trace():
    c_def = Cond("CONFIG_A", True, Location("h.S", 1, 1))
    c_use = Cond("CONFIG_B", False, Location("u.S", 1, 1))
    lines = [PPLine(".macro M", (Segment(0, Location("h.S", 2, 1)),), (c_def,)),
             PPLine(" nop", (Segment(0, Location("h.S", 3, 1)),), (c_def,)),
             PPLine(".endm", (Segment(0, Location("h.S", 4, 1)),), (c_def,)),
             PPLine(" M", (Segment(0, Location("u.S", 5, 1)),), (c_use,))]
    r = expand(lines)
    (s,) = r.statements
    assert s.cond == (c_use, c_def)
    assert s.location == Location("u.S", 5, 2)
    assert s.written_at == Location("h.S", 3, 2)
    assert r.macros["m"].cond == (c_def,)


def test_each_invocation_merges_its_own_condition_with_the_body_lines():
    # the expander works a merge out once per pair of condition objects: an
    # invocation under another condition (an equal one made apart too) must
    # not get the merge of an earlier one
    from entrylint.gas.template import merge_conds
    c_def = Cond("CONFIG_A", True, Location("h.S", 1, 1))
    c_in = Cond("CONFIG_C", True, Location("h.S", 3, 1))
    uses = [(Cond("CONFIG_B", False, Location("u.S", 1, 1)),),
            (Cond("CONFIG_D", True, Location("u.S", 9, 1)), c_def),
            (Cond("CONFIG_B", False, Location("u.S", 1, 1)),),  # equal to the first, another object
            (c_def,)]
    lines = [PPLine(".macro M", (Segment(0, Location("h.S", 2, 1)),), (c_def,)),
             PPLine(" nop", (Segment(0, Location("h.S", 4, 1)),), (c_def, c_in)),
             PPLine(" int3", (Segment(0, Location("h.S", 5, 1)),), (c_def,)),
             PPLine(".endm", (Segment(0, Location("h.S", 6, 1)),), (c_def,))]
    lines += [PPLine(" M", (Segment(0, Location("u.S", 10 + k, 1)),), use) for k, use in enumerate(uses)]
    r = expand(lines)
    got = [(s.name, s.cond) for s in r.statements]
    want = []
    for use in uses:
        want += [("nop", merge_conds(merge_conds(use, (c_def,)), (c_def, c_in))),
                 ("int3", merge_conds(merge_conds(use, (c_def,)), (c_def,)))]
    assert got == want
    assert got[0][1] == (uses[0][0], c_def, c_in) and got[6][1] == (c_def, c_in)


def test_bad_macro_arguments():
    src = ".macro M a:req b=1\n .byte \\a, \\b\n.endm\nM\nM c=2\nM 1 2 3\nM 4\n"
    r = expand(plain_lines(src, "x.S"))
    kinds = [(p.kind, p.location.line) for p in r.problems]
    assert kinds == [(ProblemKind.BAD_MACRO_ARGS, 4), (ProblemKind.BAD_MACRO_ARGS, 5),
                     (ProblemKind.BAD_MACRO_ARGS, 5), (ProblemKind.BAD_MACRO_ARGS, 6)]
    # GAS expands after a missing or unknown argument, not after too many
    assert [s.args for s in r.statements] == [", 1", ", 1", "4, 1"]


def test_unknown_directive():
    lines = plain_lines(" .bogus 1\n nop\n", "x.S")
    r = expand(lines)
    assert [p.kind for p in r.problems] == [ProblemKind.UNKNOWN_DIRECTIVE]
    assert [s.name for s in r.statements] == [".bogus", "nop"]
    with pytest.raises(UnknownDirective):
        expand(lines, GasOptions(strict=True))


def _as_listing_insns(path: Path, macros) -> list[str]:
    proc = subprocess.run(["as", "--64", "-alm=/dev/stdout", "--listing-rhs-width=100000",
                           "--listing-cont-lines=1", "-o", os.devnull, str(path)],
                          capture_output=True, text=True)
    import re
    line_re = re.compile(r"^\s*(\d+) (?:[0-9a-f?]{4} ([0-9A-F]+)|\s{4} [0-9A-F]*|)\s*\t(>*)(.*)$")
    words = []
    for raw in proc.stdout.splitlines():
        m = line_re.match(raw)
        if m and m.group(2):
            for _, stmt in lex.split_statements(lex.strip_comments(m.group(4))):
                p = lex.classify(lex.peel_labels(stmt)[1])
                if p.kind == "word" and p.name.lower() not in macros:
                    words.append(p.name.lower())
    return words


@pytest.mark.skipif(shutil.which("as") is None, reason="GNU as is not installed")
@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.S")))
def test_fixture_agrees_with_gnu_as(name):
    path, r = run(name)
    mine = [s.name for s in r.statements if s.kind == "insn"]
    assert mine and mine == _as_listing_insns(path, r.macros)


def test_altmacro_percent_argument_is_its_value():
    from pathlib import Path

    from entrylint.cpp.types import plain_lines
    from entrylint.gas import expand

    path = Path(__file__).resolve().parents[1] / "fixtures" / "gas" / "altmacro.S"
    res = expand(plain_lines(path.read_text(), str(path)))
    assert not res.problems, res.problems
    labels = [s.name for s in res.statements if s.kind == "label"]
    assert labels == [".Lslot_3", ".Lslot_4"]
