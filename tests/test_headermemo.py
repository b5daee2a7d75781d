"""A header read again in the same state is replayed (cpp/headermemo.py),
and what the replay gives is what reading it gives: each test reads a file
after another file recorded the headers, and compares the result with a run
in a process that recorded nothing."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from entrylint.cpp import CppOptions, headermemo, preprocess_file
from entrylint.source import ProblemKind
from entrylint.source.limits import DEFAULT
from entrylint.source.tree import IncludeSearch


@pytest.fixture(autouse=True)
def empty_memo():
    headermemo._RECORDS.clear()
    headermemo._held[0] = 0
    yield
    headermemo._RECORDS.clear()
    headermemo._held[0] = 0


@pytest.fixture
def replays(spy):
    """The replays that held (each: the #define/#undef it made)."""
    return spy(headermemo, "_replay", lambda pp, rec, ok: len(rec.writes) if ok else None)


def digest(r) -> tuple:
    return ([(ln.text, ln.cond, repr(ln.segments)) for ln in r.lines],
            [(p.kind, p.message, str(p.location)) for p in r.problems],
            list(r.macros.items()), r.files, r.missing, r.fallbacks, r.peak)


def fresh(path: Path, opts: CppOptions):
    """``path`` read with nothing recorded before (and nothing kept after)."""
    records = dict(headermemo._RECORDS)
    headermemo._RECORDS.clear()
    try:
        return preprocess_file(path, opts)
    finally:
        headermemo._RECORDS.clear()
        headermemo._RECORDS.update(records)


def tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return tmp_path


HEADERS = {
    "include/outer.h": "#ifndef OUTER_H\n#define OUTER_H\n#include <inner.h>\n"
                       "#define SAVE(r) pushq %r\n.macro OUTER_MACRO\n\tSAVE(rax)\n.endm\n#endif\n",
    "include/inner.h": "#ifndef INNER_H\n#define INNER_H\n#define ZERO(r) xorl %r, %r\n#undef GONE\n"
                       "#ifdef WIDE\n#define WIDTH 64\n#else\n#define WIDTH 32\n#endif\n#endif\n",
}


def opts_for(root: Path, **kw) -> CppOptions:
    return CppOptions(search=IncludeSearch(dirs=(root / "include",)), **kw)


def test_a_header_read_again_in_the_same_state_is_replayed_as_read(tmp_path, replays):
    root = tree(tmp_path, {**HEADERS, "a.S": "#include <outer.h>\n\tZERO(ax)\n",
                           "b.S": "#include <outer.h>\n\tSAVE(rbx)\n\tZERO(bx) WIDTH\n"})
    opts = opts_for(root)
    preprocess_file(root / "a.S", opts)
    assert replays == []
    got = preprocess_file(root / "b.S", opts)
    assert replays, "outer.h was read again rather than replayed"
    assert digest(got) == digest(fresh(root / "b.S", opts))
    assert [ln.text.strip() for ln in got.lines][-2:] == ["pushq %rbx", "xorl %bx, %bx 32"]


def test_a_header_that_looks_up_a_name_defined_otherwise_is_read_again(tmp_path, replays):
    root = tree(tmp_path, {**HEADERS, "a.S": "#include <outer.h>\n\tZERO(ax) WIDTH\n",
                           "b.S": "#define WIDE\n#include <outer.h>\n\tZERO(ax) WIDTH\n",
                           "c.S": "#define WIDE\n#define UNUSED 1\n#include <outer.h>\n\tZERO(cx) WIDTH\n"})
    opts = opts_for(root)
    a = preprocess_file(root / "a.S", opts)
    b = preprocess_file(root / "b.S", opts)
    assert replays == []  # inner.h asks whether WIDE is defined
    assert a.lines[-1].text.split()[-1] == "32" and b.lines[-1].text.split()[-1] == "64"
    assert digest(b) == digest(fresh(root / "b.S", opts))
    c = preprocess_file(root / "c.S", opts)  # a name the headers never look up does not matter
    assert replays
    assert c.lines[-1].text.strip() == "xorl %cx, %cx 64"
    assert digest(c) == digest(fresh(root / "c.S", opts))


LOOKUPS = {  # a header line, and how it looks FOO up
    "text": "\tmovl FOO, %eax\n",
    "expansion": "#define VIA(x) FOO x\n\tmovl VIA(1), %eax\n",
    "if": "#if FOO > 1\n\tmovl $2, %eax\n#else\n\tmovl $1, %eax\n#endif\n",
    "ifdef": "#ifdef FOO\n\tmovl $2, %eax\n#endif\n",
    "defined": "#if defined(FOO) && 1\n\tmovl $2, %eax\n#endif\n",
    "guard": "#ifndef FOO\n#define FOO 3\n\tmovl $3, %eax\n#endif\n",
    "include": "#include FOO\n",
    "is_enabled": "#if IS_ENABLED(FOO)\n\tmovl $2, %eax\n#endif\n",
}


@pytest.mark.parametrize("how", sorted(LOOKUPS))
def test_every_way_a_header_looks_a_name_up_is_kept(tmp_path, replays, how):
    define = {"include": ("<one.h>", "<two.h>"), "is_enabled": ("CONFIG_ONE", "CONFIG_TWO")}.get(how, ("1", "2"))
    root = tree(tmp_path, {"include/h.h": LOOKUPS[how], "include/one.h": "\tone\n", "include/two.h": "\ttwo\n",
                           "a.S": f"#define CONFIG_TWO 1\n#define FOO {define[0]}\n#include <h.h>\n",
                           "b.S": f"#define CONFIG_TWO 1\n#define FOO {define[1]}\n#include <h.h>\n",
                           "c.S": "#define CONFIG_TWO 1\n#include <h.h>\n"})
    opts = CppOptions(search=IncludeSearch(dirs=(root / "include",)), defines={})
    for f in ("a.S", "b.S", "c.S"):
        got = preprocess_file(root / f, opts)
        assert digest(got) == digest(fresh(root / f, opts)), f
    # only #ifdef and defined() ask no more than whether FOO is defined: b.S replays a.S's reading
    assert len(replays) == (1 if how in ("ifdef", "defined") else 0)
    replays.clear()
    # and the same lookups again are a replay (but for the guard's, which a.S and b.S
    # skip, and c.S's #include with no name, which gives a problem)
    for f in ("a.S", "b.S", "c.S"):
        got = preprocess_file(root / f, opts)
        assert digest(got) == digest(fresh(root / f, opts)), f
    assert len(replays) == {"guard": 1, "include": 2}.get(how, 3)


def test_a_header_changed_on_disk_is_read_again(tmp_path, replays):
    root = tree(tmp_path, {**HEADERS, "a.S": "#include <outer.h>\n\tZERO(ax)\n",
                           "b.S": "#include <outer.h>\n\tZERO(bx)\n"})
    opts = opts_for(root)
    preprocess_file(root / "a.S", opts)
    (root / "include/inner.h").write_text(HEADERS["include/inner.h"].replace("xorl", "subl"))
    got = preprocess_file(root / "b.S", opts)
    assert got.lines[-1].text.strip() == "subl %bx, %bx"
    assert digest(got) == digest(fresh(root / "b.S", opts))


def test_a_header_added_earlier_in_the_search_is_read(tmp_path, replays):
    root = tree(tmp_path, {**HEADERS, "a.S": "#include <outer.h>\n\tZERO(ax)\n",
                           "b.S": "#include <outer.h>\n\tZERO(bx)\n"})
    opts = CppOptions(search=IncludeSearch(dirs=(root / "first", root / "include")))
    (root / "first").mkdir()
    preprocess_file(root / "a.S", opts)
    tree(root, {"first/inner.h": "#define ZERO(r) movl $0, %r\n"})
    got = preprocess_file(root / "b.S", opts)
    assert got.lines[-1].text.strip() == "movl $0, %bx"
    assert digest(got) == digest(fresh(root / "b.S", opts))


def test_counter_and_base_file_are_not_recorded(tmp_path, replays):
    root = tree(tmp_path, {"include/c.h": "#define ONE 1\n\t.long __COUNTER__\n",
                           "include/f.h": "#define TWO 2\n\t.ascii __BASE_FILE__\n",
                           "a.S": "#include <c.h>\n#include <f.h>\n\t.long __COUNTER__\n",
                           "b.S": "\t.long __COUNTER__\n#include <c.h>\n#include <f.h>\n"})
    opts = opts_for(root)
    preprocess_file(root / "a.S", opts)
    got = preprocess_file(root / "b.S", opts)
    assert replays == []
    texts = [ln.text.strip() for ln in got.lines]
    assert texts[:2] == [".long 0", ".long 1"] and texts[2].endswith('b.S"')
    assert digest(got) == digest(fresh(root / "b.S", opts))


@pytest.mark.parametrize("limit", ["includes", "cpp_lines"])
def test_a_limit_met_inside_a_replayed_header_is_met_where_reading_meets_it(tmp_path, replays, limit):
    chain = {f"include/h{i}.h": f"#define H{i} {i}\n#include <h{i + 1}.h>\n" for i in range(6)}
    chain["include/h6.h"] = "#define LAST 6\n"
    # b.S reaches h0.h in the state a.S did (empty.h defines nothing), with more
    # lines and includes already counted
    root = tree(tmp_path, {**chain, "include/empty.h": "\n" * 20, "a.S": "#include <h0.h>\n\tnop\n",
                           "b.S": "#include <empty.h>\n" * 3 + "#include <h0.h>\n\tnop\n"})
    opts = opts_for(root)
    a = preprocess_file(root / "a.S", opts)
    # a budget a.S fits in, and b.S does not
    lim = replace(DEFAULT, **{limit: a.peak["includes" if limit == "includes" else "cpp-lines"] + 2})
    opts = opts_for(root, limits=lim)
    assert not fresh(root / "a.S", opts).problems
    preprocess_file(root / "a.S", opts)
    want = fresh(root / "b.S", opts)
    assert [p.kind for p in want.problems] == [ProblemKind.LIMIT]
    got = preprocess_file(root / "b.S", opts)
    assert digest(got) == digest(want)
    # and within the budget, b.S's h0.h is a replay
    replays.clear()
    preprocess_file(root / "a.S", opts_for(root))
    preprocess_file(root / "b.S", opts_for(root))
    assert replays


def test_a_header_replayed_inside_a_header_being_read_is_in_its_record(tmp_path, replays):
    root = tree(tmp_path, {**HEADERS, "include/mid.h": "#include <inner.h>\n#define MID 1\n",
                           "include/both.h": "#include <mid.h>\n#define BOTH 1\n",
                           "include/wrap.h": "#include <mid.h>\n",
                           "a.S": "#include <wrap.h>\n", "b.S": "#include <both.h>\n",
                           "c.S": "#include <both.h>\n\tZERO(cx) BOTH\n", "first/README": ""})
    opts = CppOptions(search=IncludeSearch(dirs=(root / "first", root / "include")))
    preprocess_file(root / "a.S", opts)
    preprocess_file(root / "b.S", opts)  # mid.h replayed while both.h is recorded
    assert len(replays) == 1
    got = preprocess_file(root / "c.S", opts)  # both.h replayed, with what mid.h read
    assert len(replays) == 2
    assert got.lines[-1].text.strip() == "xorl %cx, %cx 1"
    assert got.peak["include-depth"] == 4 and any(f.endswith("inner.h") for f in got.files)
    assert digest(got) == digest(fresh(root / "c.S", opts))
    # an include the replayed mid.h resolved is part of both.h's record too
    tree(root, {"first/inner.h": "#define ZERO(r) movl $0, %r\n"})
    got = preprocess_file(root / "c.S", opts)
    assert got.lines[-1].text.strip() == "movl $0, %cx 1"
    assert digest(got) == digest(fresh(root / "c.S", opts))
    # and so is a file it read
    preprocess_file(root / "a.S", opts)
    preprocess_file(root / "b.S", opts)
    (root / "first/inner.h").write_text("#define ZERO(r) andl $0, %r\n")
    got = preprocess_file(root / "c.S", opts)
    assert got.lines[-1].text.strip() == "andl $0, %cx 1"
    assert digest(got) == digest(fresh(root / "c.S", opts))


def test_an_unclean_reading_is_not_kept(tmp_path, replays):
    root = tree(tmp_path, {"include/bad.h": "#define OK 1\n#include <missing.h>\n#error stop\n",
                           "a.S": "#include <bad.h>\n", "b.S": "#include <bad.h>\n"})
    opts = opts_for(root)
    preprocess_file(root / "a.S", opts)
    got = preprocess_file(root / "b.S", opts)
    assert replays == [] and len(got.problems) == 2
    assert digest(got) == digest(fresh(root / "b.S", opts))


def test_past_the_bound_the_least_recently_replayed_go(tmp_path, replays, monkeypatch):
    files = {f"include/{h}.h": f"#define {h.upper()} 1\n\tnop\n" for h in "xyz"}
    files.update({f"{h}.S": f"#include <{h}.h>\n" for h in "xyz"})
    root = tree(tmp_path, files)
    opts = opts_for(root)
    preprocess_file(root / "x.S", opts)
    size = headermemo._held[0]
    monkeypatch.setattr(headermemo, "MAX_HELD", 2 * size)  # room for two
    preprocess_file(root / "y.S", opts)
    preprocess_file(root / "x.S", opts)  # replayed: x.h is now the newest
    assert replays == [1]
    preprocess_file(root / "z.S", opts)  # y.h goes
    assert headermemo._held[0] == 2 * size
    for h, again in (("x", True), ("y", False)):
        n = len(replays)
        got = preprocess_file(root / f"{h}.S", opts)
        assert (len(replays) > n) is again, h
        assert digest(got) == digest(fresh(root / f"{h}.S", opts))


def test_a_header_skipped_by_its_guard_is_a_lookup_of_the_guard(tmp_path, replays):
    root = tree(tmp_path, {"include/g.h": "#ifndef G_H\n#define G_H\n\tmovl $1, %eax\n#endif\n",
                           "include/p.h": "#include <g.h>\n\tmovl $2, %eax\n",
                           "a.S": "#define G_H\n#include <p.h>\n", "b.S": "#include <p.h>\n"})
    opts = opts_for(root)
    preprocess_file(root / "a.S", opts)
    got = preprocess_file(root / "b.S", opts)
    assert [ln.text.strip() for ln in got.lines] == ["movl $1, %eax", "movl $2, %eax"]
    assert digest(got) == digest(fresh(root / "b.S", opts))


def test_what_a_replayed_header_looked_up_is_looked_up_by_the_header_around_it(tmp_path, replays):
    root = tree(tmp_path, {"include/q.h": "#ifdef FOO\n\tmovl $1, %eax\n#endif\n\tmovl BAR, %ebx\n",
                           "include/w.h": "#include <q.h>\n", "include/p.h": "#include <q.h>\n\tnop\n",
                           "include/bar.h": "#define BAR 7\n",
                           "a.S": "#include <bar.h>\n#include <w.h>\n", "b.S": "#include <bar.h>\n#include <p.h>\n",
                           "c.S": "#define FOO\n#include <bar.h>\n#include <p.h>\n",
                           "d.S": "#define BAR 8\n#include <p.h>\n"})
    opts = opts_for(root)
    preprocess_file(root / "a.S", opts)
    preprocess_file(root / "b.S", opts)  # bar.h replayed (one #define), and q.h while p.h is recorded
    assert replays == [1, 0]
    for f in ("c.S", "d.S"):  # FOO defined, BAR another: p.h's reading is not b.S's
        got = preprocess_file(root / f, opts)
        assert digest(got) == digest(fresh(root / f, opts)), f
    assert replays == [1, 0, 1]  # (c.S's bar.h)


def test_is_enabled_in_a_header_looks_its_option_up(tmp_path, replays):
    root = tree(tmp_path, {"include/k.h": "#if IS_ENABLED(CONFIG_X)\n\tmovl $1, %eax\n#endif\n",
                           "a.S": "#define CONFIG_X 1\n#include <k.h>\n", "b.S": "#include <k.h>\n",
                           "c.S": "#define CONFIG_X_MODULE 1\n#include <k.h>\n"})
    opts = opts_for(root)
    for f in ("a.S", "b.S", "c.S"):
        got = preprocess_file(root / f, opts)
        assert digest(got) == digest(fresh(root / f, opts)), f
    assert [len(preprocess_file(root / f, opts).lines) for f in ("a.S", "b.S", "c.S")] == [1, 0, 1]


def test_what_a_header_read_inside_another_looked_up_is_looked_up_by_both(tmp_path, replays):
    root = tree(tmp_path, {"include/q.h": "\tmovl BAR, %ebx\n", "include/p.h": "#include <q.h>\n\tnop\n",
                           "include/bar.h": "#define BAR 7\n",
                           "a.S": "#include <bar.h>\n#include <p.h>\n", "d.S": "#define BAR 8\n#include <p.h>\n"})
    opts = opts_for(root)
    preprocess_file(root / "a.S", opts)  # q.h recorded while p.h is
    got = preprocess_file(root / "d.S", opts)
    assert replays == [] and got.lines[0].text.strip() == "movl 8, %ebx"
    assert digest(got) == digest(fresh(root / "d.S", opts))


def test_a_configuration_is_a_key_by_its_values_and_is_not_kept(tmp_path, replays):
    import gc
    import weakref

    from entrylint.cpp.config import Kconfig

    root = tree(tmp_path, {"include/k.h": "#ifdef CONFIG_X\n\tmovl $1, %eax\n#endif\n",
                           "a.S": "#include <k.h>\n"})

    made = []

    def run(values):
        opts = opts_for(root, kconfig=Kconfig("cfg", dict(values)))
        made.append(weakref.ref(opts.kconfig))
        got = preprocess_file(root / "a.S", opts)
        assert digest(got) == digest(fresh(root / "a.S", opts))
        return [ln.text.strip() for ln in got.lines]

    assert run({"CONFIG_X": "y"}) == ["movl $1, %eax"]
    assert run({"CONFIG_X": "y"}) == ["movl $1, %eax"] and len(replays) == 1  # another object, equal values
    assert run({"CONFIG_Y": "y"}) == [] and len(replays) == 1
    gc.collect()
    assert [r() for r in made] == [None] * 3


def test_a_header_reached_at_another_depth_is_replayed_within_the_depth_limit(tmp_path, replays):
    """A record keeps how much deeper its reading's includes went: a.S
    includes outer.h itself, b.S through one more header.  Replayed there,
    the deepest file it entered is counted where it is now; where that is
    past the include-depth limit, it is read, and the limit met as reading
    meets it."""
    root = tree(tmp_path, {**HEADERS, "include/via.h": "#include <outer.h>\n",
                           "a.S": "#include <outer.h>\n\tZERO(ax)\n", "b.S": "#include <via.h>\n\tZERO(bx) WIDTH\n"})
    opts = opts_for(root)
    preprocess_file(root / "a.S", opts)
    got = preprocess_file(root / "b.S", opts)
    assert replays, "outer.h was read again rather than replayed"
    assert got.peak["include-depth"] == 4 and digest(got) == digest(fresh(root / "b.S", opts))
    # inner.h is at depth 3 from a.S, 4 from b.S: a limit of 3 cuts b.S's alone
    replays.clear()
    opts = opts_for(root, limits=replace(DEFAULT, include_depth=3))
    assert not preprocess_file(root / "a.S", opts).problems
    got = preprocess_file(root / "b.S", opts)
    assert replays == [] and [p.kind for p in got.problems] == [ProblemKind.LIMIT]
    assert digest(got) == digest(fresh(root / "b.S", opts))


def test_a_reading_a_limit_cut_without_a_word_is_not_replayed(tmp_path, replays):
    """d.S reads loop.h twice at depth 3, where its includes of leaf.h are
    past the limit: the first reading says so, the second is cut without a
    word (each line's limit is reported once).  That reading is no record of
    loop.h: e.S includes it at depth 2, where leaf.h is read."""
    root = tree(tmp_path, {"include/leaf.h": "#define LEAF 1\n",
                           "include/loop.h": "#include <leaf.h>\n#define LOOP 1\n",
                           "include/y.h": "#include <loop.h>\n#include <loop.h>\n",
                           "d.S": "#include <y.h>\n", "e.S": "#include <loop.h>\n\tLOOP LEAF\n"})
    opts = opts_for(root, limits=replace(DEFAULT, include_depth=3))
    assert [p.kind for p in preprocess_file(root / "d.S", opts).problems] == [ProblemKind.LIMIT]
    got = preprocess_file(root / "e.S", opts)
    assert got.lines[-1].text.strip() == "1 1" and not got.problems
    assert digest(got) == digest(fresh(root / "e.S", opts))
