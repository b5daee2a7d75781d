"""An invocation expanded again the same way is taken from its recording
(cpp/invocations.py), and gives what expanding it gives: each test
preprocesses a text with the recordings on and off and compares every
line, segment, condition, problem, macro and peak."""

from __future__ import annotations

from dataclasses import replace

import pytest

from entrylint.cpp import CppOptions, invocations, preprocess_text
from entrylint.source.limits import DEFAULT


@pytest.fixture
def taken(spy):
    """The recordings used (each: the tokens it handed on)."""
    return spy(invocations, "taken", lambda exp, got, loc, toks: len(toks) if toks is not None else None)


def digest(r) -> tuple:
    return ([(ln.text, ln.cond, repr(ln.segments)) for ln in r.lines],
            [(p.kind, p.message, str(p.location)) for p in r.problems],
            sorted((k, repr(v)) for k, v in r.macros.items()), r.peak)


def both(text: str, opts: CppOptions | None = None, monkeypatch=None):
    """(with recordings, without)."""
    opts = opts or CppOptions()
    on = preprocess_text(text, "/tmp/t.S", opts)
    monkeypatch.setattr(invocations, "ENABLED", False)
    try:
        off = preprocess_text(text, "/tmp/t.S", opts)
    finally:
        monkeypatch.setattr(invocations, "ENABLED", True)
    return on, off


ROUNDS = """\
#define RA %rax
#define RB %rbx
#define LOOK(src, dst, op) movzbl src ## l, dst ## d; op (RA,RB,4), dst;
#define ROUND(a, b) LOOK(a, b, xorl); LOOK(b, a, addl);
#define Q(n) movl $n, %ecx; ROUND(RA, RB) ROUND(RB, RA)
\tQ(0)
\tQ(1)
\tROUND(RA, RB)
\tQ(2)
"""


def test_a_round_repeated_is_taken_from_its_recording(taken, monkeypatch):
    on, off = both(ROUNDS, monkeypatch=monkeypatch)
    assert taken, "every ROUND was expanded again"
    assert digest(on) == digest(off)
    assert "movzbl %raxl, %rbxd; xorl (%rax,%rbx,4), %rbx;" in on.lines[1].text
    # the segments of a taken expansion are those of its own line
    assert [s.origin.line for ln in on.lines for s in ln.segments] == \
        [s.origin.line for ln in off.lines for s in ln.segments]


# (text, its lines -- None: not checked --, whether a recording is taken)
CASES = {
    # F's output ends with a function-like name: what follows F(1) decides
    # whether it is invoked, so F(1) is expanded each time
    "reads-past-its-end": ("#define G(x) <x>\n#define F(x) x G\n\tF(1)(2)\n\tF(1) 3\n\tF(1)(4)\n\tF(1) (5)\n",
                           ["1 <2>", "1 G 3", "1 <4>", "1 <5>"], False),
    # a macro's name in its own expansion is not expanded again; outside it is
    "painted-in-its-own": ("#define ID(x) x\n#define SELF ID(SELF) ID(1)\n#define TWICE(x) ID(x) ID(x)\n"
                           "\tSELF\n\tID(SELF)\n\tTWICE(SELF)\n\tSELF\n\tTWICE(TWICE(2))\n\tTWICE(TWICE(2))\n",
                           None, True),
    # X() in Q's body runs with Q disabled (its Q(1) painted, kept as
    # written); in Q's argument, before Q is entered, the same X() expands Q
    # (X takes an argument, given empty: the same key in both places)
    "disabled-elsewhere": ("#define X(a) Q(1)\n#define Q(y) [y X()]\n\tQ(0)\n\tQ(0)\n\tQ(X())\n\tQ(0)\n",
                           ["[0 Q(1)]", "[0 Q(1)]", "[[1 X()] Q(1)]", "[0 Q(1)]"], True),
    # a name its expansion looked up defined again
    "redefined-name": ("#define A 1\n#define F(x) x A\n\tF(0)\n\tF(0)\n#undef A\n#define A 2\n\tF(0)\n\tF(0)\n",
                       ["0 1", "0 1", "0 2", "0 2"], None),
}


@pytest.mark.parametrize("case", CASES)
def test_what_a_recording_would_give_otherwise_is_expanded(taken, monkeypatch, case):
    text, lines, was_taken = CASES[case]
    on, off = both(text, monkeypatch=monkeypatch)
    assert digest(on) == digest(off)
    if lines is not None:
        assert [ln.text.strip() for ln in on.lines] == lines
    if was_taken is not None:
        assert bool(taken) is was_taken


def test_builtins_and_errors_are_not_recorded(taken, monkeypatch):
    text = ("#define L(x) x __LINE__ __COUNTER__\n#define BAD(x) x\n#define E(x) BAD(x, x)\n"
            "\tL(a)\n\tL(a)\n\tL(a)\n\tE(1)\n\tE(1)\n\tE(1)\n")
    on, off = both(text, monkeypatch=monkeypatch)
    assert digest(on) == digest(off)
    assert taken == []
    assert [ln.text.strip() for ln in on.lines][:3] == ["a 4 0", "a 5 1", "a 6 2"]
    assert len(on.problems) == 3  # (one per invocation of BAD with two arguments)


@pytest.mark.parametrize("limit", ["cpp_expansions", "cpp_depth"])
def test_a_limit_a_taken_expansion_would_pass_is_met_where_expanding_meets_it(taken, monkeypatch, limit):
    text = ROUNDS + "".join(f"\tQ({i})\n" for i in range(3, 40))
    full = preprocess_text(text, "/tmp/t.S", CppOptions())
    value = full.peak["cpp-expansions"] - 7 if limit == "cpp_expansions" else full.peak["cpp-depth"] - 2
    on, off = both(text, CppOptions(limits=replace(DEFAULT, **{limit: value})), monkeypatch)
    assert on.problems and digest(on) == digest(off)


def test_arguments_spelled_alike_with_other_white_space_are_other_keys(taken, monkeypatch):
    text = ("#define S(x) #x\n#define P(a, b) [a b]\n#define W(x) S(x) P(x,x)\n"
            "\tW(a+b)\n\tW(a + b)\n\tW( a+b )\n\tW(a+b)\n")
    on, off = both(text, monkeypatch=monkeypatch)
    assert digest(on) == digest(off)
    assert [ln.text.strip() for ln in on.lines][:2] == ['"a+b" [a+b a+b]', '"a + b" [a + b a + b]']


def test_an_invocation_at_another_nesting_is_another_key(taken, monkeypatch):
    """X(1) in Q's argument, and in R's argument in Q's: the same macro,
    chain and arguments, one context deeper.  Under a nesting limit the
    first fits, the second's Z is one too deep: it is met there."""
    text = ("#define Z(a) <a>\n#define Y(a) Z(a)\n#define X(a) Y(a)\n#define Q(a) a\n#define R(a) a\n"
            "\tQ(X(1))\n\tQ(X(1))\n\tQ(X(1))\n\tQ(R(X(1)))\n")
    on, off = both(text, CppOptions(limits=replace(DEFAULT, cpp_depth=3)), monkeypatch)
    assert digest(on) == digest(off)
    assert taken and [p.kind.name for p in on.problems] == ["LIMIT"]


def test_a_macro_defined_again_after_its_recording_is_expanded_as_defined(taken, monkeypatch):
    """The same name and arguments, another definition (its text the
    same but for what it expands to, its place another): never the old
    recording."""
    text = "".join(f"#undef F\n#define F(x) x {i}\n\tF(a)\n\tF(a)\n\tF(a)\n" for i in range(20))
    on, off = both(text, monkeypatch=monkeypatch)
    assert digest(on) == digest(off)
    assert [ln.text.strip() for ln in on.lines][::3] == [f"a {i}" for i in range(20)]


def test_the_nesting_of_an_expansion_not_kept_counts_for_the_one_around_it(taken, monkeypatch):
    """OUT(1)'s expansion holds IN(1), whose output ends with a
    function-like name that looks past it (not kept), and which nests
    deepest: OUT(1) taken again reports that nesting."""
    text = ("#define D3(x) <x>\n#define D2(x) D3(x)\n#define D1(x) D2(x)\n#define G(x) [x]\n"
            "#define IN(x) D1(x) G\n#define OUT(x) IN(x)(x) x\n"
            "\tOUT(1)\n\tOUT(1)\n\tOUT(1)\n")
    on, off = both(text, monkeypatch=monkeypatch)
    assert digest(on) == digest(off) and taken
    # each line's own deepest nesting (what the line and header memos keep)
    assert line_depths(text, monkeypatch) == line_depths(text, monkeypatch, enabled=False)


def line_depths(text: str, monkeypatch, enabled: bool = True) -> list[int]:
    from entrylint.cpp.lexer import lex_file
    from entrylint.cpp.preprocessor import Preprocessor

    monkeypatch.setattr(invocations, "ENABLED", enabled)
    defines = "".join(ln + "\n" for ln in text.splitlines() if ln.startswith("#"))
    pp = Preprocessor(CppOptions())
    pp.run("/tmp/t.S", defines)
    got = []
    for ln in text.splitlines():
        if not ln.startswith("#"):
            pp.exp.start(lex_file(ln + "\n", "/tmp/t.S").lines[0])
            pp.exp.deepest = 0
            pp.exp.drain([])
            got.append(pp.exp.deepest)
    monkeypatch.setattr(invocations, "ENABLED", True)
    return got
