"""The work limits bound a check, not each of its profiles (issue 9).

A check runs every profile (MODEL 6), and a file's profiles can each read
other lines (an ``#ifdef CONFIG_...``): the statements GNU as reads, the
instructions it makes and the lines the preprocessor reads are counted over
the check, so a file at the limits costs the bound once, not once per
profile.  A profile whose lines are those of an earlier one shares its
expansion and spends nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from entrylint import api
from entrylint.source.limits import DEFAULT

REPO = Path(__file__).resolve().parents[1]
PTI_HEAD = "#ifdef CONFIG_PAGE_TABLE_ISOLATION\n\tnop\n#endif\n"


def hits(res, name):
    return [f for f in res.findings if f.id == "EL906" and f"limit {name}=" in f.message]


def test_statements_read_are_counted_over_the_check(tmp_path):
    body = ".rept 300\n\tnop\n\tnop\n.endr\n"  # 600 statements read, 600 instructions
    (tmp_path / "same.S").write_text(body)
    (tmp_path / "differ.S").write_text(PTI_HEAD + body)
    lim = DEFAULT.with_(expansion_statements=1000)
    # the profiles read the same lines: one expansion, 600 statements in all
    assert not hits(api.check(tmp_path / "same.S", api.Options(limits=lim, assemble=False)), "expansion-statements")
    # max and defconfig read one text, pti-off another: 601 + 600 > 1000
    res = api.check(tmp_path / "differ.S", api.Options(limits=lim, assemble=False))
    over = hits(res, "expansion-statements")
    assert [f.profiles for f in over] == [("pti-off",)], over
    assert "by this check's profiles together" in over[0].message
    # one profile alone has the whole budget
    alone = api.check(tmp_path / "differ.S", api.Options(limits=lim, assemble=False, profile="pti-off"))
    assert not hits(alone, "expansion-statements")


def test_instructions_are_counted_over_the_check(tmp_path):
    (tmp_path / "differ.S").write_text(PTI_HEAD + ".rept 600\n\tnop\n.endr\n")
    res = api.check(tmp_path / "differ.S", api.Options(limits=DEFAULT.with_(program_instructions=1000),
                                                       assemble=False))
    assert [f.profiles for f in hits(res, "program-instructions")] == [("pti-off",)]


def test_lines_the_preprocessor_reads_are_counted_over_the_check(tmp_path):
    (tmp_path / "lines.S").write_text(PTI_HEAD + "\tnop\n" * 297)  # 300 lines
    lim = DEFAULT.with_(cpp_lines=700)
    res = api.check(tmp_path / "lines.S", api.Options(limits=lim, assemble=False))
    over = hits(res, "cpp-lines")
    # max reads 300, defconfig 300, pti-off the 100 left
    assert [f.profiles for f in over] == [("pti-off",)] and "together" in over[0].message, over
    one = api.expand(tmp_path / "lines.S", api.Options(limits=lim, assemble=False, profile="max"))
    assert one.pp.peak["cpp-lines"] == 300
    cut = api.expand(tmp_path / "lines.S", api.Options(limits=DEFAULT.with_(cpp_lines=100), assemble=False,
                                                       profile="max"))
    # the first 100 lines are read: the nop under CONFIG_PAGE_TABLE_ISOLATION (on in max) and 97 more
    assert len([s for s in cut.gas.statements if s.kind == "insn"]) == 98


def test_walk_visits_are_counted_over_the_check():
    """Each profile walks its own tuples (they carry the features it compiles
    out), so a walk at the limit cost the bound once per profile (1M visits
    each, about 20 us a visit); the profiles spend one budget."""
    walk = REPO / "fixtures" / "limits" / "walk.S"  # 9 visits under each profile
    lim = DEFAULT.with_(analysis_visits=20)
    res = api.check(walk, api.Options(limits=lim, assemble=False))
    over = hits(res, "analysis-visits")
    assert [f.profiles for f in over] == [("pti-off",)], over  # max 9, defconfig 9, pti-off the 2 left
    assert "by this check's profiles together" in over[0].message
    assert not hits(api.check(walk, api.Options(limits=lim, assemble=False, profile="pti-off")), "analysis-visits")
    assert not hits(api.check(walk, api.Options(limits=DEFAULT.with_(analysis_visits=27), assemble=False)),
                    "analysis-visits")


def test_walk_steps_are_counted_over_the_check(tmp_path):
    """The profiles spend one analysis-steps budget too (8 steps each here)."""
    from entrylint.program.decode import find_assembler

    if find_assembler() is None:
        pytest.skip("no GNU as: no instruction has effects, nothing steps")
    walk = REPO / "fixtures" / "limits" / "walk.S"
    lim = DEFAULT.with_(analysis_steps=20)
    over = hits(api.check(walk, api.Options(limits=lim, assemble=True)), "analysis-steps")
    assert [f.profiles for f in over] == [("pti-off",)], over  # max 8, defconfig 8, pti-off the 4 left
    assert "by this check's profiles together" in over[0].message
    assert not hits(api.check(walk, api.Options(limits=lim, assemble=True, profile="pti-off")), "analysis-steps")
    assert not hits(api.check(walk, api.Options(limits=DEFAULT.with_(analysis_steps=24), assemble=True)),
                    "analysis-steps")
    # pti-off reads other lines: its program is built anew, and the steps spent stay spent
    (tmp_path / "differ.S").write_text(PTI_HEAD + walk.read_text())
    over = hits(api.check(tmp_path / "differ.S", api.Options(limits=lim, assemble=True)), "analysis-steps")
    assert [f.profiles for f in over] == [("pti-off",)], over


def test_problems_of_one_kind_stop_at_the_limit_with_one_finding_that_counts_the_rest(tmp_path):
    (tmp_path / "u.S").write_text("".join(f"\tfrob{k} %rax\n" for k in range(50)))
    if shutil.which("as") is None:
        pytest.skip("GNU as names the unknown mnemonics")
    res = api.check(tmp_path / "u.S", api.Options(limits=DEFAULT.with_(problems=10),
                                                  profile="max"))
    assert len([f for f in res.findings if f.id == "EL902"]) == 10
    more = hits(res, "problems")
    assert len(more) == 1 and more[0].message.startswith("40 more unknown-mnemonic problems are not shown")
    assert more[0].location.line == 11  # the first left out
    full = api.check(tmp_path / "u.S", api.Options(profile="max"))
    assert len([f for f in full.findings if f.id == "EL902"]) == 50 and not hits(full, "problems")


def test_a_plain_line_is_rendered_once_for_every_profile(tmp_path):
    """The preprocessor's line for a line without a macro is a function of
    its tokens and the condition: the profiles of a check share it."""
    from entrylint.cpp import CppOptions, preprocess_text

    text = "\tmovq %rsp, %rdi\n#ifdef X\n\tnop\n#endif\n\tpushq %rax\n"
    a = preprocess_text(text, str(tmp_path / "p.S"), CppOptions())
    b = preprocess_text(text, str(tmp_path / "p.S"), CppOptions(defines={"X": None}))
    assert [ln.text.strip() for ln in a.lines] == ["movq %rsp, %rdi", "pushq %rax"]
    assert [ln.text.strip() for ln in b.lines] == ["movq %rsp, %rdi", "nop", "pushq %rax"]
    assert a.lines[0] is b.lines[0] and a.lines[1] is b.lines[2]
    assert b.lines[1].cond != () and b.lines[1].cond != a.lines[0].cond


def test_the_if_records_stay_shared_when_their_table_is_full(tmp_path, monkeypatch):
    """The #if records are shared by the profiles of a check (the render
    memo compares a line's condition by identity first).  A table full of
    earlier checks' records is emptied when a check starts, never while one
    is read: emptied in between, the second profile's records of the lines
    read before were new, and each line was compared field by field, its
    whole nesting deep (a fuzz worker: 11 s on an input of 2.5 s)."""
    from entrylint.cpp import CppOptions, conditionals, preprocess_text
    from entrylint.cpp.types import Cond

    compared = []
    real_eq = Cond.__eq__
    monkeypatch.setattr(Cond, "__eq__", lambda self, other: (compared.append(1), real_eq(self, other))[1])
    depth = 40
    text = "#if 1\n\tnop\n" * depth + "#endif\n" * depth
    name = str(tmp_path / "n.S")
    kept = conditionals.CONDS_KEPT
    filler = {("filler", True, None, k): (None, ()) for k in range(kept - depth // 2)}
    monkeypatch.setattr(conditionals, "_CONDS", dict(filler))
    a = preprocess_text(text, name, CppOptions())
    b = preprocess_text(text, name, CppOptions(defines={"X": None}))
    assert len(a.lines) == len(b.lines) == depth
    assert all(x.cond is y.cond for x, y in zip(a.lines, b.lines))
    assert compared == []  # (by identity; emptied after the first #ifs: 820 compares)
    assert len(a.lines[-1].cond) == depth  # (the records are the nesting, one per #if)
    conditionals.trim()  # a check starts: the earlier records go
    assert conditionals._CONDS == {}
    small = dict(list(filler.items())[:10])
    monkeypatch.setattr(conditionals, "_CONDS", dict(small))
    conditionals.trim()  # under the bound: kept
    assert conditionals._CONDS == small
    monkeypatch.setattr(conditionals, "_CONDS", {("filler", True, None, k): (None, ()) for k in range(kept + 1)})
    (tmp_path / "c.S").write_text("\tnop\n")
    api.check(tmp_path / "c.S", api.Options(profile="defconfig", assemble=False))
    assert len(conditionals._CONDS) < 1000


def test_an_argument_is_expanded_before_it_replaces_its_parameter_when_it_holds_a_macro(tmp_path):
    """An argument with no macro name in it is handed over as it is
    (Expander._expand_arg); one that holds a macro is expanded first: the
    commas PAIR brings make two arguments of MOV2's invocation.  The line
    reads PAIR in both profiles: the one that defines it expands it again."""
    from entrylint.cpp import CppOptions, lexer, preprocess_text

    text = ("#ifdef X\n#define PAIR %rax, %rbx\n#else\n#define PAIR2 %rax, %rbx\n#endif\n"
            "#define MOV2(a, b) movq a, b\n#define MOVE(x) MOV2(x)\n"
            "\tMOVE(PAIR)\n\tMOVE(PAIR2)\n\tMOVE(%rcx)\n")
    name = str(tmp_path / "a.S")
    lexer._CHECKED.clear()
    first = preprocess_text(text, name, CppOptions(defines={}, share_lines=True))
    second = preprocess_text(text, name, CppOptions(defines={"X": None}, share_lines=True))
    assert [ln.text.strip() for ln in first.lines] == ["MOV2", "movq %rax, %rbx", "MOV2"]  # (as gcc -E)
    assert [ln.text.strip() for ln in second.lines] == ["movq %rax, %rbx", "MOV2", "MOV2"]
    assert any("MOV2" in p.message for p in first.problems)


def test_a_macro_line_is_expanded_once_for_the_profiles_that_read_the_same_macros(tmp_path, monkeypatch):
    """A line of the file checked whose macros every name it looked up means
    the same (the same macro, or one made from the same #define line) is
    taken from the profile before: the same line, the same expansion count;
    a line whose macros differ, one that reads __LINE__ or __COUNTER__, and
    one whose arguments run on to the next line are expanded again.  Only a
    check of several profiles keeps them (api.expand: share_lines)."""
    from entrylint.cpp import CppOptions, preprocess_text
    from entrylint.cpp import lexer
    from entrylint.cpp.macros import Expander

    text = ("#define R1 %rax\n#define SAVE(r) pushq r; movq r, R1\n"
            "#ifdef X\n#define WIDTH 8\n#else\n#define WIDTH 4\n#endif\n"
            "\tSAVE(%rbx)\n"  # line 8: the same in both runs
            "\tsubq $WIDTH, %rsp\n"  # 9: WIDTH differs
            "#ifdef X\n.set n, __COUNTER__\n#endif\n"
            "\tmovq $__LINE__, %rcx; movq $__COUNTER__, %rdx\n"  # 13: builtins, never taken over
            "\tSAVE(\n%rcx)\n")  # 14: arguments on the next line
    name = str(tmp_path / "m.S")
    started = []
    real = Expander.start
    monkeypatch.setattr(Expander, "start", lambda self, toks, *a, **k: (started.append(toks[0].loc[1]),
                                                                       real(self, toks, *a, **k))[1])

    def run(defines):
        started.clear()
        pp = preprocess_text(text, name, CppOptions(defines=defines, share_lines=True))
        return [ln.text.strip() for ln in pp.lines], sorted(set(started))

    first, expanded = run({})
    assert first == ["pushq %rbx; movq %rbx, %rax", "subq $4, %rsp", "movq $13, %rcx; movq $0, %rdx",
                     "pushq %rcx; movq %rcx, %rax"]
    assert {8, 9, 13, 14} <= set(expanded)
    second, expanded = run({"X": None})  # the same lexed file (lexer._CHECKED): the next profile
    assert second == ["pushq %rbx; movq %rbx, %rax", "subq $8, %rsp", ".set n, 0",
                      "movq $13, %rcx; movq $1, %rdx", "pushq %rcx; movq %rcx, %rax"]
    assert 8 not in expanded and {9, 13, 14} <= set(expanded)
    lexer._CHECKED.clear()  # a run from the start gives the same lines and counts
    fresh = preprocess_text(text, name, CppOptions(defines={"X": None}, share_lines=True))
    again = preprocess_text(text, name, CppOptions(defines={"X": None}, share_lines=True))
    assert [ln.text for ln in again.lines] == [ln.text for ln in fresh.lines]
    assert [ln.segments for ln in again.lines] == [ln.segments for ln in fresh.lines]
    # a line taken over counts its expansions, up to the cpp-expansions limit
    from entrylint.cpp.preprocessor import Preprocessor
    from entrylint.source.limits import DEFAULT as LIMITS

    lexer._CHECKED.clear()
    made, taken = Preprocessor(CppOptions(share_lines=True)), Preprocessor(CppOptions(share_lines=True))
    made.run(name, text)
    taken.run(name, text)
    assert taken.exp.count == made.exp.count > 0 and taken.exp.deepest == made.exp.deepest
    short = Preprocessor(CppOptions(limits=LIMITS.with_(cpp_expansions=1), share_lines=True)).run(name, text)
    assert [p.location.line for p in short.problems if "cpp-expansions" in p.message] == [8]
    # a check of one profile keeps nothing and takes nothing
    lexer._CHECKED.clear()
    started.clear()
    preprocess_text(text, name, CppOptions())
    preprocess_text(text, name, CppOptions())
    assert started.count(8) == 2 and not lexer._CHECKED[name][1].expanded


def test_a_flag_writer_makes_one_set_for_all_the_flags_it_writes():
    from entrylint.analysis.flags import FLAG_NAMES, _transfer

    sets = {id(d) for _, d in _transfer(7, FLAG_NAMES, ())}
    assert len(sets) == 1
    mixed = dict(_transfer(7, ("cf", "zf"), ("of",)))
    assert len({id(d) for d in mixed.values()}) == 2 and len(mixed) == 3


def test_an_expansion_kept_from_an_earlier_check_counts_for_this_one(tmp_path):
    """GNU as's last expansion is kept for a check that reads the same lines
    (the next profile, or the next check of the same file: patch review
    checks a file before and after each patch).  Taken over by a new check,
    it must count on that check's budget as if made there: else the next
    profile read on the whole budget, and the same file gave other limit
    findings the second time."""
    (tmp_path / "differ.S").write_text(PTI_HEAD + ".rept 300\n\tnop\n\tnop\n.endr\n")
    opts = api.Options(limits=DEFAULT.with_(expansion_statements=1000), assemble=False)

    def limits_of(res):
        return [(f.message, f.profiles) for f in res.findings if f.id == "EL906"]

    fresh = limits_of(api.check(tmp_path / "differ.S", opts))
    assert [p for _, p in fresh] == [("pti-off",)]
    api.check(tmp_path / "differ.S", api.Options(limits=opts.limits, assemble=False, profile="max"))
    assert limits_of(api.check(tmp_path / "differ.S", opts)) == fresh


def test_rule_findings_stop_a_rule_plugin_with_one_finding(tmp_path):
    """A rule judges each instruction and each finding carries its path:
    `.rept` of calls with the user CR3 made one finding per call before the
    grouping folded them into one (100k calls: ~40 s).  Past rule-findings
    a plugin is not asked for more, and one EL906 says which rule stopped."""
    if shutil.which("as") is None:
        pytest.skip("GNU as: the calls' effects")
    text = ".globl entry_SYSCALL_64\nentry_SYSCALL_64:\n\tswapgs\n.rept 50\n\tcall some_c_function\n.endr\n\tsysretq\n"
    (tmp_path / "calls.S").write_text(text)
    low = api.check(tmp_path / "calls.S", api.Options(limits=DEFAULT.with_(rule_findings=10), profile="max"))
    over = hits(low, "rule-findings")
    assert over and all("the rest of the file was not examined" in f.message for f in over), over
    assert len({f.message.split(" ")[0] for f in over}) == len(over)  # one per rule that ran over
    full = api.check(tmp_path / "calls.S", api.Options(profile="max"))
    assert not hits(full, "rule-findings")
    # what is reported of the calls is the same fault: one finding at the .rept line either way
    assert {f.id for f in full.findings} <= {f.id for f in low.findings} | {"EL906"}
