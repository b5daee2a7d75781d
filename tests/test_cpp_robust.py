"""Bad input gives problems, never exceptions, and never hangs."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from entrylint.cpp import CppOptions, preprocess_file, preprocess_text
from entrylint.source import ProblemKind
from entrylint.source.limits import DEFAULT

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "cpp"


def kinds(r):
    return [p.kind for p in r.problems]


def test_garbage_file_gives_problems_quickly():
    t0 = time.process_time()
    r = preprocess_file(FIX / "garbage.S", CppOptions())
    assert time.process_time() - t0 < 5
    msgs = {(p.kind, p.location.line if p.location else None) for p in r.problems}
    assert (ProblemKind.CPP_ERROR, 2) in msgs  # `#if 1 +`
    assert (ProblemKind.CPP_ERROR, 5) in msgs  # `#if (1`
    assert (ProblemKind.UNBALANCED_BLOCK, 7) in msgs  # stray #else
    assert (ProblemKind.UNBALANCED_BLOCK, 8) in msgs  # stray #endif
    assert (ProblemKind.BAD_MACRO_ARGS, 27) in msgs  # H(1)
    assert (ProblemKind.BAD_MACRO_ARGS, 28) in msgs  # unterminated argument list
    assert (ProblemKind.CPP_ERROR, 31) in msgs  # #error
    assert any(p.kind is ProblemKind.CPP_ERROR and "unterminated comment" in p.message for p in r.problems)
    assert any(p.kind is ProblemKind.UNBALANCED_BLOCK and "unterminated" in p.message for p in r.problems)
    texts = [ln.text.split() for ln in r.lines]
    assert texts[0] == ["F(1)", "F(1)"]  # mutual recursion stops as in C
    assert texts[1] == ["x"] * 2 ** 16  # the blow-up is expanded in full under the default limit


def test_expansion_limit():
    r = preprocess_file(FIX / "garbage.S", CppOptions(limits=replace(DEFAULT, cpp_expansions=5000)))
    lim = [p for p in r.problems if p.kind is ProblemKind.LIMIT]
    assert len(lim) == 1 and lim[0].location.line == 25
    assert len(r.lines[1].text) < 100_000
    assert set(r.lines[1].text.split()) == {"x"}  # what was expanded is not glued together


def test_recursive_include_hits_depth_limit():
    t0 = time.process_time()
    r = preprocess_file(FIX / "recursive.S", CppOptions(limits=replace(DEFAULT, include_depth=50)))
    assert time.process_time() - t0 < 5
    assert kinds(r).count(ProblemKind.LIMIT) == 1


def test_unreadable_main_file(tmp_path):
    r = preprocess_file(tmp_path / "nope.S", CppOptions())
    assert kinds(r) == [ProblemKind.UNREADABLE] and r.lines == []


@pytest.mark.parametrize("src", [
    "#define\n", "#define F(\n", "#define F(a,\n", "#define G(a) ## a\n", "#undef\n",
    "#include\n", "#include <unterminated\n", "#if\n#endif\n", "#if 1/0\n#endif\n",
    "#if defined\n#endif\n", "#ifdef\n#endif\n", "#elif 1\n", "#if 1\n#else\n#else\n#endif\n",
    "#if 'ab\n#endif\n", "#if 1 ? 2\n#endif\n", "#if 99999999999999999999999\n#endif\n",
    "#define F(x) x\nF(\n", "\"unterminated\n'x\n", "#line x\n", "/* never closed\n",
    "#define S(x) #x\nS(\\)\n", "#define P(a,b) a##b\nP(/,/) P(.,.) P(\"a\",b)\n",
    "#if __has_include(<nope.h>) || __has_include(\"nope.h\")\nx\n#endif\n__has_include(<a>)\n",
])
def test_bad_snippets_do_not_raise(src):
    r = preprocess_text(src, "bad.S", CppOptions())
    assert isinstance(r.problems, list)
    assert all(p.location is None or p.location.line >= 1 for p in r.problems)


def test_bad_expression_takes_group_as_false():
    r = preprocess_text("#if 1 +\nA\n#else\nB\n#endif\n", "t.S", CppOptions())
    assert [ln.text.strip() for ln in r.lines] == ["B"]
    assert kinds(r) == [ProblemKind.CPP_ERROR]


def test_self_referential_macros():
    src = "#define foo foo bar\n#define bar foo\n#define f(x) f(x) g\n#define g f(1)\nfoo | f(2)\n"
    r = preprocess_text(src, "t.S", CppOptions())
    # as gcc: the inner foo and f are painted blue and stay unexpanded
    assert r.lines[0].text.split() == ["foo", "foo", "|", "f(2)", "f(1)"]
    assert not r.problems


@pytest.mark.parametrize("expr", ["(" * 5000 + "1", "!" * 5000 + "1", "1?" * 3000 + "1" + ":1" * 3000])
def test_deeply_nested_if_expression_is_a_problem(expr):
    """Found by tools/fuzz.py (token soup): a RecursionError escaped the #if parser."""
    r = preprocess_text(f"#if {expr}\nA\n#else\nB\n#endif\n", "t.S", CppOptions())
    assert [p.message for p in r.problems] == ["#if: #if expression nested too deeply"]
    assert [ln.text.strip() for ln in r.lines] == ["B"]  # taken as false, as a bad expression is


@pytest.mark.parametrize("expr, value", [
    ("1 << 2147483648", 0), ("1 << 9223372036854775807", 0), ("1 >> -9223372036854775807", 0), ("1 << 64", 0), ("1 << 63 >> 63", -1), ("4 << -1", 2),
    ("1 >> -2147483648", 0), ("1 >> -3", 8), ("-8 >> 999999999999", -1)])
def test_huge_shift_counts_are_64_bit_not_big_integers(expr, value):
    """A shift by a huge count in #if is evaluated in 64 bits, as cpp does,
    not as a Python integer of 2**31 bits (the fuzzer's soup:11770 of seed 4
    ran out of memory on one)."""
    t0 = time.process_time()
    r = preprocess_text(f"#if ({expr}) == ({value})\nyes\n#else\nno\n#endif\n", "shift.S", CppOptions())
    assert time.process_time() - t0 < 1
    assert [ln.text.strip() for ln in r.lines if ln.text.strip()] == ["yes"], (expr, r.problems)


def test_predefined_macros_are_shared_but_a_file_cannot_change_them_for_the_next():
    """GCC's predefined macros are compiled once per process (they cost ~2 ms
    of every text); what one file does to them (#undef, #define, expanding
    them) must not reach the next file read in the same process."""
    from entrylint.cpp import CppOptions, preprocess_text

    def out(text):
        return [ln.text.strip() for ln in preprocess_text(text, "p.S", CppOptions()).lines if ln.text.strip()]

    before = out("__x86_64__ __CHAR_BIT__\n")
    assert before == ["1 8"]
    assert out("#undef __x86_64__\n#define __CHAR_BIT__ 9\n__x86_64__ __CHAR_BIT__\n") == ["__x86_64__ 9"]
    assert out("#define X __x86_64__ ## __CHAR_BIT__\nX __CHAR_BIT__\n")  # a paste next to a predefined body
    assert out("__x86_64__ __CHAR_BIT__\n") == before


def test_a_long_token_lexes_in_little_memory():
    """The C lexer's number, string and character patterns repeated an
    alternation: Python's regex engine keeps a backtracking record per
    repetition, about 340 bytes a character, so one 1 MB number took 386 MB
    (and a 32 MiB file could hold 32 of them).  The repetitions are possessive
    now; the patch reader's quote prefix (``> > >``) likewise."""
    code = r"""
import resource
from entrylint.cpp.lexer import lex_text
from entrylint.patch.parse import _QUOTE
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
text = "7" * 2_000_000 + ' "' + "ab" * 500_000 + '" ' + "'" + "b" * 1_000_000 + "'"
toks = lex_text(text)
assert [len(t.text) for t in toks] == [2_000_000, 1_000_002, 1_000_002], [len(t.text) for t in toks]
assert len(_QUOTE.match("> " * 1_000_000 + "x").group(1)) == 2_000_000
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    assert int(p.stdout) < 60_000, f"peak RSS grew by {int(p.stdout) // 1024} MB"
