"""The preprocessor on hand-written fixtures (fixtures/cpp/): output text,
presence conditions and origins, and agreement with gcc -E on each."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from entrylint.cpp import CppOptions, Kconfig, PPResult, preprocess_file, preprocess_text
from entrylint.cpp.lexer import lex_text
from entrylint.source import ProblemKind
from entrylint.source.limits import Limits
from entrylint.source.tree import IncludeSearch

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "cpp"
KC = Kconfig("test", {"CONFIG_BAR": "y", "CONFIG_NUM": "5", "CONFIG_MOD": "m"})


def run(name: str, **kw) -> PPResult:
    return preprocess_file(FIX / name, CppOptions(**kw))


def line(r: PPResult, word: str):
    """The first output line that starts with ``word`` (or, failing that, contains it)."""
    hits = [ln for ln in r.lines if ln.text.split()[:1] == [word]] or [ln for ln in r.lines if word in ln.text]
    assert hits, f"no line with {word!r} in {[ln.text for ln in r.lines]}"
    return hits[0]


def toks(text: str) -> list[str]:
    return [t.text for t in lex_text(text)]


# -- text -------------------------------------------------------------------

def test_paste_stringify_variadic():
    r = run("macros.S")
    assert toks(line(r, "movq").text) == ["movq", "%", "r12", ",", "%", "rax"]
    assert toks(line(r, ".ascii").text) == [".", "ascii", '"42"', ",", '"VAL"']
    assert toks(r.lines[2].text) == ["x", "|", "x", ",", "y", ",", "z"]  # GNU , ## __VA_ARGS__
    assert toks(line(r, "[1,").text) == ["[", "1", ",", "2", "]"]
    assert toks(r.lines[4].text) == ["p", "|", "p", ":", "q"]  # __VA_OPT__
    assert toks(line(r, "SELF").text) == ["SELF", "+", "1"]  # self-reference stays
    # a function-like name not followed by "(" is not invoked, even when EMPTY came between
    assert toks(line(r, "LATE").text) == ["LATE", "(", "3", ")", "|", "LATE"]


def test_avoid_paste_keeps_tokens_apart():
    r = run("macros.S")
    # REG(ax)EMPTY 12 must not become %rax12, and REG(12) must be glued as %r12
    assert "%rax 12" in line(r, "mov").text.replace("  ", " ")
    assert "%r12" in line(r, "movq").text
    r = preprocess_text("#define Y(a) a\n#define E\nY(%r)12 Y(%r)E 12 Y(+)+\n", "t.S", CppOptions())
    assert toks(r.lines[0].text) == ["%", "r", "12", "%", "r", "12", "+", "+"]


def test_multiline_invocation_and_splices():
    r = run("multiline.S")
    texts = [toks(ln.text) for ln in r.lines]
    assert texts == [["first"], ["1", "+", "2", "tail"], ["after"], ["split", "line"],
                     ["7", "+", "8"], ["last"]]
    pair = r.lines[1]
    assert pair.origin.line == 4 and pair.segments[0].macros == ("PAIR",)
    tail = pair.segment_at(pair.text.index("tail"))
    assert (tail.origin.line, tail.origin.col, tail.macros) == (5, 10, ())
    # lines after the invocation keep their own numbers
    assert r.lines[2].origin.line == 6
    split = r.lines[3]
    assert split.segment_at(split.text.index("line")).origin.line == 8
    assert r.lines[4].origin.line == 9 and r.lines[5].origin.line == 11


def test_every_token_is_where_the_file_spells_it():
    """Each token's (line, column) is where its text starts in the file as
    written, splices included (the lexer counts lines and splices as it
    goes): from there, with the splices taken out, the text reads the
    token, starting on that line with its first character.  Random texts
    of splices, comments over lines (and splices inside them: a line starts
    after the furthest of a comment's newlines and its splices), quotes,
    blanks."""
    import random

    from entrylint.cpp.lexer import _SPLICE_RE, lex_file

    rnd = random.Random(11)
    parts = ["mov", "%rax", ",", " ", "\t", "\n", "\\\n", "\\ \t\n", "/* c */", "/* a\nb */", "// x", "'q", '"s"',
             "#define", "X(a)", "1", "0x1f", "\\", "\r\n", "##", "a\\\nb", "/*", "*/"]
    for _ in range(3000):
        text = "".join(rnd.choice(parts) for _ in range(rnd.randint(1, 30)))
        starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]
        for ln in lex_file(text, "f.S").lines:
            for t in ln:
                _, line, col = t.loc
                at = starts[line - 1] + col - 1
                assert line == len(starts) or at < starts[line], (text, t.text, t.loc)  # on its line
                assert text[at] == t.text[0], (text, t.text, t.loc)  # (not a splice before it)
                assert _SPLICE_RE.sub("", text[at:]).startswith(t.text), (text, t.text, t.loc)


def test_asm_mode_lexing():
    r = run("asm.S")
    texts = [ln.text.strip() for ln in r.lines]
    assert texts[0] == "# a comment that mentions 7"  # kept, and expanded, like gcc
    assert texts[1] == "# it's X, not expanded after the quote"
    assert all(t != "#" for t in texts)  # the null directive is dropped
    body = line(r, "mov \\reg").text
    assert "\\reg" in body and ".L\\@:" in body and "\\()7" in body and "'#'" in body and '"a # X"' in body
    assert toks(line(r, "$7").text) == ["mov", "$", "7", ",", "%", "rax"]  # $ is not part of a name
    after = line(r, "after")
    assert after.origin.line == 11 and toks(after.text) == ["after", "7"]


# -- presence conditions ----------------------------------------------------

def test_conditions():
    r = run("conds.S", kconfig=KC)
    got = {ln.text.strip(): [(c.text, c.taken) for c in ln.cond] for ln in r.lines}
    assert got["bar_on"] == [("defined(CONFIG_FOO)", False),
                             ("defined(CONFIG_BAR) && CONFIG_NUM > 3", True)]
    assert got["not_foo"] == [("defined(CONFIG_FOO)", False)]
    assert got["mod_on"] == [("defined(CONFIG_FOO)", False),
                             ("IS_ENABLED(CONFIG_MOD) || IS_MODULE(CONFIG_MOD)", True)]
    assert "arith_ok" in got and "foo_on" not in got and "neither" not in got
    assert r.lines[0].cond[0].location.line == 2
    assert r.macros["GUARDED_BY_BAR"].cond == ()
    assert not r.problems


def test_else_branch_and_other_profile():
    kc = KC.with_overrides({"CONFIG_BAR": None, "CONFIG_FOO": "y", "CONFIG_MOD": None})
    r = run("conds.S", kconfig=kc)
    got = {ln.text.strip(): [(c.text, c.taken) for c in ln.cond] for ln in r.lines}
    assert got == {"foo_on": [("defined(CONFIG_FOO)", True)],
                   "arith_ok": [(got["arith_ok"][0][0], True)]}
    r = run("conds.S", kconfig=Kconfig("none", {}))
    nei = line(r, "neither")
    assert [(c.text, c.taken) for c in nei.cond] == [
        ("defined(CONFIG_FOO)", False), ("defined(CONFIG_BAR) && CONFIG_NUM > 3", False)]


def test_include_inherits_condition_and_guard_dropped(tmp_path):
    (tmp_path / "g.h").write_text("#ifndef G_H\n#define G_H\n#define IN_G 1\n\tin_g\n#endif\n")
    (tmp_path / "m.S").write_text("#ifdef CONFIG_X\n#include \"g.h\"\n#endif\n")
    r = preprocess_file(tmp_path / "m.S", CppOptions(kconfig=Kconfig("x", {"CONFIG_X": "y"})))
    (ln,) = r.lines
    assert [(c.text, c.taken) for c in ln.cond] == [("defined(CONFIG_X)", True)]
    assert ln.origin.file.endswith("g.h") and ln.origin.line == 4
    assert [c.text for c in r.macros["IN_G"].cond] == ["defined(CONFIG_X)"]


# -- includes ---------------------------------------------------------------

def test_include_search():
    search = IncludeSearch(dirs=(FIX / "include", FIX / "include2"), generic_fallback=True)
    r = run("include.S", search=search)
    assert toks(line(r, "main_done").text) == ["main_done", "local_from_quote", "angled_first",
                                               "next_found", "generic_used"]
    assert [ln.text.strip() for ln in r.lines[:3]] == ["in_local", "in_next", "in_angled"]  # guarded: once
    assert r.missing == ["fx/nowhere.h"]
    (p,) = [p for p in r.problems]
    assert p.kind is ProblemKind.MISSING_INCLUDE and "fx/nowhere.h" in p.message and p.location.line == 6
    names = [Path(f).relative_to(FIX).as_posix() for f in r.files]
    assert names == ["include.S", "local.h", "include/fx/angled.h", "include2/fx/angled.h",
                     "include/asm-generic/onlygeneric.h"]
    r = run("include.S", search=IncludeSearch(dirs=search.dirs))  # no fallback: asm/ header missing
    assert "asm/onlygeneric.h" in r.missing


def test_kconfig_h_and_virtual_autoconf(tmp_path):
    inc = tmp_path / "include" / "linux"
    inc.mkdir(parents=True)
    (inc / "kconfig.h").write_text("#include <generated/autoconf.h>\n#define MY_IS_ON(x) x\n")
    (tmp_path / "a.S").write_text("#ifdef CONFIG_BAR\n\tbar CONFIG_NUM\n#endif\n")
    search = IncludeSearch(dirs=(tmp_path / "include",), implicit=(inc / "kconfig.h",))
    r = preprocess_file(tmp_path / "a.S", CppOptions(search=search, kconfig=KC))
    assert "<kconfig:test>" in r.files and not r.missing
    assert toks(r.lines[0].text) == ["bar", "5"]
    assert "IS_ENABLED" not in r.macros  # kconfig.h is there: no built-in stand-ins


def test_defines_and_undefines():
    r = preprocess_text("A B __x86_64__ __ASSEMBLY__\n", "t.S",
                        CppOptions(defines={"A": None, "B": "two words"}, undefines=("__x86_64__",)))
    assert toks(r.lines[0].text) == ["1", "two", "words", "__x86_64__", "1"]


# -- agreement with gcc on each fixture ---------------------------------------

@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed")
@pytest.mark.parametrize("name", ["macros.S", "multiline.S", "asm.S", "conds.S"])
def test_fixture_matches_gcc(name):
    r = run(name, defines={"CONFIG_BAR": "1", "CONFIG_NUM": "5", "IS_ENABLED(x)": None, "IS_MODULE(x)": "0"})
    out = subprocess.run(["gcc", "-E", "-P", "-x", "assembler-with-cpp", "-DCONFIG_BAR=1",
                          "-DCONFIG_NUM=5", "-DIS_ENABLED(x)=1", "-DIS_MODULE(x)=0", str(FIX / name)],
                         capture_output=True, text=True).stdout
    ours = [toks(ln.text) for ln in r.lines if toks(ln.text)]
    theirs = [toks(t) for t in out.split("\n") if toks(t)]
    assert ours == theirs



def _ids_on_lines(r):
    return {id(c) for ln in r.lines for c in ln.cond}  # each line read to its outermost condition


def test_line_conditions_are_every_condition_once():
    from entrylint.cpp.types import line_conditions

    r = run("conds.S", kconfig=KC)
    got = line_conditions(r.lines)
    assert len(got) == len({id(c) for c in got}) and {id(c) for c in got} == _ids_on_lines(r)
    assert len(got) >= 3


def test_line_conditions_through_nested_includes(tmp_path):
    # a header that includes itself, each level inside an #if / #elif / #else
    from entrylint.cpp.types import line_conditions

    (tmp_path / "n.h").write_text(
        "#if __INCLUDE_LEVEL__ < 4\nmovq %rax, %rbx\n#include \"n.h\"\n#elif defined(A)\nnop\n"
        "#else\npushq %rax\n#ifdef B\npopq %rax\n#endif\n#include \"n.h\"\n#endif\nswapgs\n")
    (tmp_path / "m.S").write_text("#ifndef X\n#include \"n.h\"\n#endif\n")
    r = preprocess_file(tmp_path / "m.S", CppOptions(limits=Limits(include_depth=12)))
    on_lines = _ids_on_lines(r)
    assert len(on_lines) > 10 and {id(c) for c in line_conditions(r.lines)} == on_lines
