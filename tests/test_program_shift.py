"""An edited text's program moved from the last one (entrylint/program/shift.py):
where the edit put instructions that only fall through in or took them out
(a line added, deleted or moved, in the file or in a macro's body), the
program is the last one with every index it holds moved -- equal to what
build_program gives the new statements, its records pointing at the new
statements -- and where a label or ``.size`` next to the line leaves the
place unclear, or the edit is any other, it is built from the start."""

from __future__ import annotations

import pytest
from incremental_fixture import FIX, OPTS, replace_once
from kernels import shared_tree

from entrylint import api, incremental
from entrylint.analysis.memory import model_of
from entrylint.incremental import Sessions
from entrylint.program.shift import LIMIT, align

ENTRY = FIX / "entry_incr.S"


def _check(text: str, edited: str, path=ENTRY, opts=OPTS):
    """``edited`` checked after ``text`` in one session: (its result, whether
    its program was moved from the last one, a run from the start's result)."""
    sessions = Sessions()
    api.check(path, opts, text=text, incremental=sessions)
    session = sessions.session(path, opts)[0]
    before = session.stats["moved"]
    got = api.check(path, opts, text=edited, incremental=sessions)
    return got, session.stats["moved"] > before, api.check(path, opts, text=edited)


def _same_program(got, full) -> None:
    prog, fresh = got.program, full.program
    assert prog == fresh  # every instruction, label, symbol, alternative and exception-table entry
    assert prog.stmt_at == fresh.stmt_at
    # its records hold the new statements (and their places), not alike ones of the last run
    ids = {id(st) for st in prog.statements}
    assert all(id(i.stmt) in ids and all(id(m) in ids for m in i.merged) for i in prog.instructions)
    assert all(id(d.stmt) in ids for d in prog.data)
    assert [s.location for s in prog.symbols.values()] == [s.location for s in fresh.symbols.values()]
    assert [(f.location, f.trace) for f in prog.forks] == [(f.location, f.trace) for f in fresh.forks]
    # what is worked out once per program from the names in its traces (carried over where each
    # instruction put in or taken out has the names of one next to it): the same
    for kind, insns in ((None, False), ("macro", True), ("macro", False)):
        assert prog.trace_names(kind, insns) == fresh.trace_names(kind, insns)
    assert model_of(prog) == model_of(fresh)


@pytest.mark.parametrize("old,new", [
    ("\tpopq\t%rcx\n\ttestl", "\tpopq\t%rcx\n\tnop\n\ttestl"),  # a line added between two instructions
    ("\tmovq\t$-1, %rax\n", ""),  # a line deleted (before the label the jz goes to)
    ("\tmovq\t%rax, %gs:NMI_SCRATCH\n", ""),  # the one the jz goes to (3:): it goes to the next now
    ("1:\n\tSWITCH_TO_USER_CR3", "1:\n\tnop\n\tSWITCH_TO_USER_CR3"),  # after a label: the jz goes to it now
    ("2:\n\tSAVE_RCX", "2:\n\tnop\n\tSAVE_RCX"),  # after two labels (a macro's .Lkcr3_N, then 2:)
    ("\tpushq\t%rcx\n.endm", "\tpushq\t%rcx\n\tnop\n.endm"),  # a macro's body: one per expansion
    ("#ifdef CONFIG_X86_64\n", "/* the debug entry */\n#ifdef CONFIG_X86_64\n"),  # no code: places only
    ("\tswapgs\n\tsysretq\n", "\tswapgs\n\tsysretq\n\tnop\n"),  # after a return: nothing leads to it
    # an entry's first line, the first of its section: the entry's label, and the section's start, on it
    ("SYM_CODE_START(entry_SYSCALL_64)\n\tswapgs", "SYM_CODE_START(entry_SYSCALL_64)\n\tnop\n\tswapgs"),
])
def test_a_plain_instruction_added_or_deleted_moves_the_last_program(old, new):
    text = ENTRY.read_text()
    got, moved, full = _check(text, replace_once(text, old, new))
    assert moved
    _same_program(got.analysis.expansion, full.analysis.expansion)
    assert got.findings == full.findings
    assert incremental.outcome(got) == incremental.outcome(full)


def test_the_first_line_of_a_section_taken_out_moves_the_last_program():
    """An entry's first line, the first instruction of its section, taken
    out: the entry's label goes to the next one (and the walk with it)."""
    text = ENTRY.read_text()
    first = replace_once(text, "SYM_CODE_START(entry_SYSCALL_64)\n", "SYM_CODE_START(entry_SYSCALL_64)\n\tnop\n")
    got, moved, full = _check(first, text)
    assert moved and got.analysis.program.symbols["entry_SYSCALL_64"].start == 0
    _same_program(got.analysis.expansion, full.analysis.expansion)
    assert incremental.outcome(got) == incremental.outcome(full)


ANNOTATED = """\t.text
\t.globl\tf
f:
.Lhere_1:
\t.pushsection .discard.unwind_hints
\t.long\t.Lhere_1 - .
\t.popsection
\tswapgs
\tjmp\t2f
2:
\tret
"""


def test_a_line_between_an_entry_label_and_an_annotations_label_moves_the_last_program(tmp_path):
    """A line put in after an entry's label, before the label an annotation
    (UNWIND_HINT, ANNOTATE) makes for its .discard section: the entry's
    label is on the new line, the annotation's on the next -- its place is
    all the program reads of it (build.passed_over).  Named by code or by a
    table the build reads, it is built."""
    path = tmp_path / "f.S"
    got, moved, full = _check(ANNOTATED, ANNOTATED.replace("f:\n", "f:\n\tnop\n"), path)
    assert moved and got.analysis.program.labels[".Lhere_1"] == 1 and got.analysis.program.labels["f"] == 0
    _same_program(got.analysis.expansion, full.analysis.expansion)
    assert incremental.outcome(got) == incremental.outcome(full)
    # named by data the build passes over in another section (an ORC entry): the same
    orc = ANNOTATED.replace(".discard.unwind_hints", ".orc_unwind_ip, \"a\"")
    got, moved, full = _check(orc, orc.replace("f:\n", "f:\n\tnop\n"), path)
    assert moved and got.analysis.program == full.analysis.program
    # named by code, or by a table the build reads (an exception-table entry): built
    named = ANNOTATED.replace("\tjmp\t2f", "\tjmp\t.Lhere_1")
    extable = ANNOTATED.replace("\tjmp\t2f\n", "\tjmp\t2f\n.pushsection __ex_table, \"a\"\n\t.long .Lhere_1 - .\n"
                                "\t.long 2f - .\n.popsection\n")
    for text in (named, extable):
        got, moved, full = _check(text, text.replace("f:\n", "f:\n\tnop\n"), path)
        assert not moved and got.analysis.program == full.analysis.program


def test_what_the_names_in_the_traces_give_is_carried_over():
    """A nop among top-level instructions of the file: the names of its
    trace are its neighbours' -- the memory model is the last program's."""
    text = ENTRY.read_text()
    sessions = Sessions()
    last = api.check(ENTRY, OPTS, text=text, incremental=sessions).analysis.program
    key = ("trace-names", None, False)
    assert key in last.memo
    got = api.check(ENTRY, OPTS, text=replace_once(text, "\tpopq\t%rcx\n\ttestl", "\tpopq\t%rcx\n\tnop\n\ttestl"),
                    incremental=sessions).analysis.program
    assert got.memo[key] is last.memo[key]  # (worked out again: an equal set, another object)


@pytest.mark.parametrize("there", [
    ("\tswapgs\n\tsysretq\n", "\tswapgs\n\tnop\n\tsysretq\n"),
    # into a macro's body and out of it: taken out once, put in once per expansion (twice), and back
    ("\tpushq\t%rcx\n.endm", "\tpushq\t%rcx\n\tnop\n.endm"),
])
def test_a_line_moved_moves_the_last_program(there):
    """A nop cut and pasted back a few lines on, in one change (the
    language server's ``code`` edits), and back: taken out at one place,
    put in at the other; the lines between are one up (down)."""
    text = ENTRY.read_text()
    a = replace_once(text, "\tpopq\t%rcx\n\ttestl", "\tpopq\t%rcx\n\tnop\n\ttestl")
    b = replace_once(text, *there)
    for first, then in ((a, b), (b, a)):
        got, moved, full = _check(first, then)
        assert moved
        _same_program(got.analysis.expansion, full.analysis.expansion)
        assert incremental.outcome(got) == incremental.outcome(full)


def test_a_line_moved_past_labels_moves_the_last_program():
    """A nop moved past a label (7:) in one change: 6: before it gave the
    nop's place and gives it again, 7: gave the next instruction's and
    gives the nop's now.  (The places the nop taken out gave are read after
    those the nop put in gives: 6: went to the testl.)  Back, the nop lands
    between the two labels: which one is on it is not clear -- built."""
    text = ENTRY.read_text()
    at = "\tpopq\t%rcx\n\ttestl\t%eax, %eax\n"
    a = replace_once(text, at, "\tpopq\t%rcx\n6:\n\tnop\n7:\n\ttestl\t%eax, %eax\n\tjz\t6b\n\tjz\t7b\n")
    b = replace_once(text, at, "\tpopq\t%rcx\n6:\n7:\n\tnop\n\ttestl\t%eax, %eax\n\tjz\t6b\n\tjz\t7b\n")
    for first, then, moves in ((a, b, True), (b, a, False)):
        got, moved, full = _check(first, then)
        assert moved is moves
        _same_program(got.analysis.expansion, full.analysis.expansion)
        assert incremental.outcome(got) == incremental.outcome(full)


def test_a_line_before_another_sections_code_after_a_label_builds_the_program():
    """8: before the nop gives its place now; the .fixup code after it
    ends its section with 9:, whose place (one past that section's last
    instruction) was the testl's and stays the testl's: the two are told
    apart by no index, so the program is built.  (Moved, the jz went to
    the nop.)  Taken out again, the program moves."""
    text = ENTRY.read_text()
    at = "\tpopq\t%rcx\n\ttestl\t%eax, %eax\n"
    fixup = "\t.pushsection .fixup, \"ax\"\n\tmovq\t$0, %rax\n9:\n\t.popsection\n\ttestl\t%eax, %eax\n\tjz\t9b\n"
    a = replace_once(text, at, "\tpopq\t%rcx\n8:\n" + fixup)
    b = replace_once(text, at, "\tpopq\t%rcx\n8:\n\tnop\n" + fixup)
    for first, then, moves in ((a, b, False), (b, a, True)):
        got, moved, full = _check(first, then)
        assert moved is moves
        _same_program(got.analysis.expansion, full.analysis.expansion)


@pytest.mark.parametrize("old,new", [
    # a label on each side of the line (the macro's .Lkcr3_N before it, 2: after it): which is on it
    ("scratch_reg=%rax\n2:", "scratch_reg=%rax\n\tnop\n2:"),
    ("\tpopq\t%rcx\n\ttestl", "\tpopq\t%rcx\n\tjmp\t1f\n\ttestl"),  # a jump: an edge the last program has not
    ("\tpopq\t%rcx\n\ttestl", "\tpopq\t%rcx\n\tcall\texc_debug\n\ttestl"),  # a call
    ("\tpopq\t%rcx\n\ttestl", "\tpopq\t%rcx\n\tpushq\t$1f\n\ttestl"),  # a code label's address
    ("\tpopq\t%rcx\n\ttestl", "\tpopq\t%rcx\n\trep\n\ttestl"),  # a prefix on a line of its own
    ("\tpopq\t%rcx\n\ttestl", "\tpopq\t%rcx\n4:\tnop\n\ttestl"),  # a label with it
    ("\tpopq\t%rcx\n\ttestl", "\tpopq\t%rcx\n\t.byte 0x90\n\ttestl"),  # a directive
    ("\tcall\texc_nmi\n", ""),  # a call taken out
    # a macro invocation taken out: its instructions and the label its body ends with
    ("\tswapgs\n\tSWITCH_TO_KERNEL_CR3 scratch_reg=%rax\n", "\tswapgs\n"),
    ("\tpopq\t%rcx\n\ttestl", "\tpopq\t%rcx\n\tnop\n\tnop\n\ttestl"),  # two in a row: no instruction of the last between
])
def test_any_other_edit_builds_the_program(old, new):
    text = ENTRY.read_text()
    got, moved, full = _check(text, replace_once(text, old, new))
    assert not moved
    assert got.analysis.program == full.analysis.program
    assert got.findings == full.findings


def test_the_statements_line_up():
    class S:
        def __init__(self, name, line):
            self.kind, self.name, self.args, self.section, self.cpp_macros, self.line = "insn", name, "", ".text", (), line

    old = [S(n, i) for i, n in enumerate("abcxdxe")]
    # put in twice (a macro's body line: after each x), the rest alike at other places
    new = [S(n, i + 10) for i, n in enumerate("abcxndxne")]
    gone, put, to = align(old, new)
    assert (gone, put) == ([], [4, 7]) and [to(i) for i in range(len(old))] == [0, 1, 2, 3, 5, 6, 8]
    gone, put, to = align(new, old)
    assert (gone, put) == ([4, 7], []) and [to(i) for i in (0, 1, 2, 3, 5, 6, 8)] == list(range(7))
    # one moved: out at b, in after x
    moved = [S(n, i) for i, n in enumerate("acxbdxe")]
    gone, put, to = align(old, moved)
    assert (gone, put) == ([1], [3]) and [to(i) for i in (0, 2, 3, 4, 5, 6)] == [0, 1, 2, 4, 5, 6]
    assert align(old, [S(n, i) for i, n in enumerate("abcydxe")]) is None  # one retyped: patch.py's
    assert align(old, [S(n, i) for i, n in enumerate("bacxdxe")]) is not None  # (two swapped: one moved)
    gone, put, to = align(old, [S(n, i) for i, n in enumerate("abcxdxeyz")])  # at the end
    assert (gone, put) == ([], [7, 8]) and [to(i) for i in range(len(old))] == list(range(7))
    assert align(old, old[:3] + [S("y", 0)] * (LIMIT + 1) + old[3:]) is None  # more than LIMIT


# (tree, file, every how many code lines): entry code of 5.10 to 6.8 and
# library code, a nop put before each such line and taken out again (4.x
# entry code has paravirt sites: patch.py's plain programs only are moved)
REAL = [("linux-5.10.89", "arch/x86/entry/entry_64.S", 61), ("linux-6.8.1", "arch/x86/entry/entry_64.S", 53),
        ("linux-6.8.1", "arch/x86/entry/entry_64_compat.S", 17), ("linux-6.8.1", "arch/x86/lib/copy_user_64.S", 7)]


@pytest.mark.parametrize("tree,rel,step", REAL)
def test_a_nop_put_in_and_taken_out_of_real_entry_code_gives_the_built_program(tree, rel, step):
    root = shared_tree(tree)
    if root is None:
        pytest.skip(f"{tree} is not in ../shared/kernels")
    path = root / rel
    opts = api.Options(root=root, profile="defconfig")
    text = path.read_text(errors="replace")
    lines = text.splitlines(keepends=True)
    code = [i for i, s in enumerate(lines) if s.startswith("\t") and not s.lstrip().startswith(("/*", "*", "#", "."))]
    sessions = Sessions()
    api.expand(path, opts, text=text, incremental=sessions)
    session = sessions.session(path, opts)[0]
    moved = 0
    for i in code[::step]:
        for t in ("".join(lines[:i] + ["\tnop\n"] + lines[i:]), text):
            before = session.stats["moved"]
            got = api.expand(path, opts, text=t, incremental=sessions)
            if session.stats["moved"] > before:
                moved += 1
                _same_program(got, api.expand(path, opts, text=t))
    assert moved >= len(code[::step]) // 2  # (a label on both sides of the line, or next to a paravirt site...)


# small programs of labels (numeric, symbols), jumps both ways, a code
# label pushed, .fixup code that ends its section with a label, exception
# table entries and .size, edited at random by a plain line put in, taken
# out or moved a few lines
_PLAIN = ["\tnop\n", "\tmovq\t%rax, %rbx\n", "\tpushq\t%rcx\n", "\tpopq\t%rcx\n", "\taddq\t$8, %rsp\n"]


def _random_program(rnd, macro: bool = False) -> list[str]:
    def piece() -> str:
        r, n, m, k = rnd.random(), rnd.randint(1, 5), rnd.randint(1, 5), rnd.randint(1, 3)
        if macro and r < 0.15:
            return "\tSAVE\n"
        for upto, text in ((0.35, rnd.choice(_PLAIN)), (0.5, f"{n}:\n"), (0.6, f"\tjz\t{n}{rnd.choice('bf')}\n"),
                           (0.65, f"\tjmp\t{n}f\n"),
                           (0.72, f".pushsection .fixup, \"ax\"\n\tmovq\t$0, %rax\n{n}:\n.popsection\n"),
                           (0.78, f".pushsection .fixup, \"ax\"\n{n}:\tmovq\t$0, %rax\n\tjmp\t{m}b\n.popsection\n"),
                           (0.84, f".globl sym{k}\nsym{k}:\n"), (0.88, f".size sym{k}, .-sym{k}\n"),
                           (0.92, f"\tpushq\t${n}f\n"), (0.96, f"\tcall\tsym{k}\n")):
            if r < upto:
                return text
        return f".pushsection __ex_table, \"a\"\n\t.long {n}b - .\n\t.long {m}f - .\n.popsection\n"

    head = "\t.text\n" + (".macro SAVE\n\tpushq\t%rcx\n\tmovq\t%rax, %rbx\n.endm\n" if macro else "")
    text = head + "".join(piece() for _ in range(rnd.randint(8, 30))) + "\tret\n"
    return text.splitlines(keepends=True)


def _random_edit(rnd, lines: list[str], put) -> str:
    """``lines`` with a plain line put in (``put``: the line, or lines to
    choose from), taken out or moved a few lines, at random."""
    new, plain = list(lines), [i for i, ln in enumerate(lines) if ln in _PLAIN]
    r = rnd.random()
    if r < 0.4 or not plain:
        new.insert(rnd.randint(1, len(new)), put if isinstance(put, str) else rnd.choice(put))
    elif r < 0.7:
        new.pop(rnd.choice(plain))
    else:
        i = rnd.choice(plain)
        new.insert(max(1, min(len(new) - 1, i + rnd.randint(-4, 4))), new.pop(i))
    return "".join(new)


@pytest.mark.parametrize("macro", [False, True])
def test_random_edits_of_small_programs_give_the_built_program(tmp_path, macro):
    """(``macro``: the programs start with a macro's definition, invoked
    here and there: a line put in its body or taken out of it is put in or
    taken out once per invocation, and one moved into it or out of it is
    taken out at one place and put in at several, or the reverse.)"""
    import random

    rnd = random.Random(1)
    path, moved, several = tmp_path / "f.S", 0, 0
    for _ in range(150):
        lines = _random_program(rnd, macro)
        text = "".join(lines)
        sessions = Sessions()
        api.expand(path, OPTS, text=text, incremental=sessions)
        session = sessions.session(path, OPTS)[0]
        for _ in range(6):
            edited = _random_edit(rnd, lines, "\tnop\n")
            before = session.stats["moved"]
            got = api.expand(path, OPTS, text=edited, incremental=sessions)
            if session.stats["moved"] > before:
                moved += 1
                full = api.expand(path, OPTS, text=edited)
                assert got.program == full.program and got.program.stmt_at == full.program.stmt_at, edited
                _, numbers, _, put = got.program.moved_from
                gone = numbers.count(None)
                several += bool(gone and put and gone + len(put) > 2)
            api.expand(path, OPTS, text=text, incremental=sessions)
    assert moved >= 300  # (of 900: most edits are moved, the rest built)
    assert several >= (20 if macro else 0)  # (moved into the macro's body or out of it)
