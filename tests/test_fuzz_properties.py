"""Short property-based fuzzing (issue 9): random token soup, mutated real
files, random macro programs and random machine code through the lexers,
cpp, the GNU as expander, the decoder and the whole pipeline.  Property:
nothing but our problem records comes out (no exception), each input is
quick, the limits hold, and a second run gives the same output.  The long
run is tools/fuzz.py (by hand; its figures are in the issue's note)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))

import fuzz_inputs  # noqa: E402  (tools/fuzz_inputs.py: the vocabulary of the long run)
import fuzz_layers  # noqa: E402

from entrylint import api  # noqa: E402
from entrylint.cpp import CppOptions, preprocess_text  # noqa: E402
from entrylint.cpp.lexer import lex_file  # noqa: E402
from entrylint.cpp.types import plain_lines  # noqa: E402
from entrylint.gas import GasOptions, expand  # noqa: E402
from entrylint.program.decode import decode_bytes  # noqa: E402
from entrylint.source import Problem  # noqa: E402
from entrylint.source.limits import Limits  # noqa: E402

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# small limits keep each example short; the limits themselves are what is checked
SMALL = Limits(expansion_statements=20_000, expansion_bytes=2 << 20, macro_depth=30, repeat_count=5000,
               cpp_expansions=20_000)

tokens = st.sampled_from(fuzz_inputs.WORDS + fuzz_inputs.PUNCT + fuzz_inputs.ODD + ("\n", "\n", " ", "0", "1", "-1", "4096"))
soup = st.lists(tokens, max_size=120).map(" ".join)
SEED = (REPO / "fixtures" / "kaiser-2017" / "arch" / "x86" / "entry" / "entry_64.S").read_text()


def front_end(text: str):
    lx = lex_file(text, "f.S")
    pp = preprocess_text(text, "/nonexistent/fuzz/f.S", CppOptions(limits=SMALL))
    g1 = expand(plain_lines(text, "f.S"), GasOptions(limits=SMALL))
    g2 = expand(pp.lines, GasOptions(limits=SMALL))
    for p in (*pp.problems, *g1.problems, *g2.problems):
        assert isinstance(p, Problem)
    assert len(g1.statements) <= SMALL.expansion_statements and len(g2.statements) <= SMALL.expansion_statements
    return (repr([[t.text for t in ln] for ln in lx.lines]), repr([(ln.text, ln.segments) for ln in pp.lines]),
            repr(pp.problems), repr(g1.statements), repr(g1.problems), repr(g2.statements))


@FAST
@given(soup)
def test_token_soup(text):
    t0 = time.process_time()
    assert front_end(text) == front_end(text)
    assert time.process_time() - t0 < 5


@st.composite
def mutated(draw):
    lines = SEED.split("\n")
    start = draw(st.integers(0, len(lines) - 1))
    lines = lines[start:start + draw(st.integers(1, 80))]
    for _ in range(draw(st.integers(1, 6))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(("del", "dup", "byte", "insert", "cut")))
        if op == "del" and len(lines) > 1:
            del lines[i]
        elif op == "dup":
            lines.insert(i, lines[draw(st.integers(0, len(lines) - 1))])
        elif op == "insert":
            lines.insert(i, draw(soup)[:120])
        else:
            s = lines[i]
            p = draw(st.integers(0, len(s)))
            ch = chr(draw(st.integers(0, 255))) if op == "byte" else ""
            lines[i] = s[:p] + ch + s[p + (1 if op == "byte" else draw(st.integers(1, 20))):]
    return "\n".join(lines)


# macro lines whose meaning depends on a define one profile has: the
# preprocessor takes a line of the file checked from the profile before when
# every name it looked up means the same (cpp/preprocessor.py, _replay)
PROFILE_HEAD = ("#ifdef X\n#define A 1\n#define F(x) x, A\n#else\n#define A 2\n#define F(x) A x\n#endif\n"
                "#define B(x, y) F(x) y\n#define C A B\n#define H(x) x\n")
profile_words = st.sampled_from(("A", "B", "C", "F", "X", "(", ")", ",", "%rax", "movq", "__LINE__", "__COUNTER__",
                                 "\n", "\n", "\n#define A 3\n", "\n#undef A\n", "\n#ifdef X\n", "\n#endif\n",
                                 "\n#define G(z) B(z, A)\n", "G", "##", "#", "\\\n", "F\n(", "G\n", "H\n(", "%rax)",
                                 "\n#ifdef X\n__COUNTER__\n#endif\n"))
profile_lines = st.lists(profile_words, max_size=80).map(lambda ws: PROFILE_HEAD + " ".join(ws) + "\n")


@FAST
@given(profile_lines)
def test_a_line_taken_from_the_profile_before_is_what_this_profile_expands(text):
    from entrylint.cpp import lexer

    def run(defines):
        pp = preprocess_text(text, "/nonexistent/fuzz/p.S", CppOptions(limits=SMALL, defines=defines,
                                                                        share_lines=True))
        return [(ln.text, ln.segments, ln.cond) for ln in pp.lines], repr(pp.problems)

    lexer._CHECKED.clear()
    fresh = run({"X": None})
    lexer._CHECKED.clear()
    run({})  # the profile before: its lines are kept with the lexed text
    assert run({"X": None}) == fresh


@FAST
@given(mutated())
def test_mutated_real_file(text):
    assert front_end(text) == front_end(text)


@st.composite
def macro_programs(draw):
    import random

    return fuzz_inputs.macro_program(random.Random(draw(st.integers(0, 2 ** 32))))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(macro_programs())
# an argument doubled until one statement outgrew the line-length limit: it was
# counted into the expansion bytes before the line-length cut
@example(".macro M0 p0, p1=1\n M0 \\p0\\p0\n .ifb \\p1\n  M0\n .else\n nop\n .endif\n swapgs\n.endm\n"
         ".rept 3\n M0 %(1+2)\n.endr\n.rept -1\n M0 %(1+2)\n.endr\nM0 \nM0 , x y\nM0 %rax, 1\n")
def test_macro_programs_stay_within_the_limits(text):
    t0 = time.process_time()
    r = expand(plain_lines(text, "m.S"), GasOptions(limits=SMALL))
    assert time.process_time() - t0 < 5
    assert len(r.statements) <= SMALL.expansion_statements
    assert r.peak["macro-depth"] <= SMALL.macro_depth
    assert r.peak["expansion-bytes"] <= SMALL.expansion_bytes + SMALL.line_length + 64 * 8
    assert all(isinstance(p, Problem) for p in r.problems)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40), st.sampled_from((16, 32, 64)))
def test_machine_code(data, mode):
    got = decode_bytes(data, mode)
    assert got is None or isinstance(got, list)
    assert repr(got) == repr(decode_bytes(data, mode))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(soup, mutated()))
def test_whole_pipeline_on_small_inputs(text):
    opts = api.Options(profile="max", assemble=False, limits=SMALL)
    path = Path("/nonexistent/fuzz/arch/x86/entry/f.S")
    a = api.check_one(path, opts, text=text)
    b = api.check_one(path, opts, text=text)
    assert [(f.id, f.location, f.message) for f in a.findings] == [(f.id, f.location, f.message) for f in b.findings]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(soup, mutated()), st.integers(0, 2 ** 32))
def test_an_edit_read_incrementally_gives_a_run_from_the_start(tmp_path_factory, text, index):
    # the fuzz layer raises when the language server's incremental reading
    # of one line-wise edit differs from a run from the start
    path = tmp_path_factory.mktemp("inc") / "f.S"
    assert fuzz_layers.incremental(text, index, path) == fuzz_layers.incremental(text, index, path)


@st.composite
def patches(draw):
    import random

    return fuzz_inputs.patch(random.Random(draw(st.integers(0, 2 ** 32))))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(patches())
def test_patch_mode_on_random_damaged_patches(text):
    """Random diffs, mails and mboxes with mail damage against the bundled
    2017-style tree (read only): patch mode ends with a review (exit 0/1) or
    one line (exit 2, never an internal error) in every format, the same
    twice, and the tree is not written."""
    from treehash import tree_digest

    before = tree_digest(fuzz_inputs.FIXTURE, mtimes=True)
    t0 = time.process_time()
    a = fuzz_layers.review_patch(text, assemble=False)  # raises on a traceback or a bad exit
    assert set(a) == {f"patch-{f}" for f in fuzz_layers.PATCH_FORMATS}
    assert a == fuzz_layers.review_patch(text, assemble=False)
    assert time.process_time() - t0 < 20
    assert tree_digest(fuzz_inputs.FIXTURE, mtimes=True) == before


@st.composite
def sized(draw):
    import random

    return fuzz_inputs.size_input(random.Random(draw(st.integers(0, 2 ** 32))))


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(sized())
@example("#if 1\n" * 20_000 + "\tnop\n")  # 20k nested #if kept 1.9 GB of conditions (size:53 of seed 16)
@example("#ifdef CONFIG_PAGE_TABLE_ISOLATION\n\tnop\n#endif\n" + "a\n" * 200_000)
@example(f"x = {'1' * 5000}\n.set y, 9**9**9\n.byte {'7' * 5000}\n")
def test_the_size_class_under_the_default_limits(text):
    """The fuzzer's size class (inputs as large as the limits let through)
    through the whole pipeline with every profile and the default limits,
    as a user's run: a normal run, no internal error, within the bound."""
    t0 = time.process_time()
    res = api.check(Path("/nonexistent/fuzz/size.S"), api.Options(assemble=False), text=text)
    assert res.analysis is not None  # (an internal error raises out of api.check)
    assert time.process_time() - t0 < 20
