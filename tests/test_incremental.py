"""Incremental re-reading (entrylint/incremental.py): after an edit, the
preprocessor and the GNU as loop resume from a snapshot taken before the
first line the edit changed.  What comes out must be what a run from the
start gives: the preprocessed lines, the statements, the problems and the
findings, for every kind of edit."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from incremental_fixture import FIX, OPTS, replace_once

from entrylint import api, incremental, rejoin
from entrylint.incremental import Sessions

# (name, edit of the text before it): applied in order, as typing would
EDITS = [
    ("comment in an entry", lambda t: replace_once(t, "\tcall\texc_nmi\n", "\tcall\texc_nmi\t/* C */\n")),
    ("code inside one entry", lambda t: replace_once(t, "\tcall\texc_nmi", "\tnop\n\tcall\texc_nmi")),
    ("a line deleted", lambda t: replace_once(t, "\tmovq\t$-1, %rax\n", "")),
    # an instruction becomes a directive: GNU as reads as many statements,
    # one instruction fewer (the program-instructions count and figure)
    ("an instruction made a directive", lambda t: replace_once(t, "\tpopq\t%rcx\n\ttestl", "\t.p2align 4\n\ttestl")),
    ("a .macro body", lambda t: replace_once(t, "\tpushfq\n", "\tpushfq\n\tpushq\t%rdx\n")),
    ("a .set value", lambda t: replace_once(t, ".set\tSAVE_FLAGS, 1", ".set\tSAVE_FLAGS, 0")),
    ("a .set value mid-file", lambda t: replace_once(t, ".set\tNMI_SAVE, 1", ".set\tNMI_SAVE, 0")),
    ("a cpp #define mid-file", lambda t: replace_once(t, "#define NMI_SCRATCH\tpcpu_hot+16",
                                                  "#define NMI_SCRATCH\tpcpu_hot+32")),
    ("a cpp #define", lambda t: replace_once(t, "#define STACK_OFF\t8", "#define STACK_OFF\t16")),
    ("an #ifdef line", lambda t: replace_once(t, "#ifdef CONFIG_X86_64", "#ifdef CONFIG_X86_32")),
    ("an #endif removed", lambda t: replace_once(t, "SYM_CODE_END(asm_exc_debug)\n#endif\n",
                                              "SYM_CODE_END(asm_exc_debug)\n")),
    ("an #endif put back", lambda t: replace_once(t, "SYM_CODE_END(asm_exc_debug)\n",
                                               "SYM_CODE_END(asm_exc_debug)\n#endif\n")),
    ("an #include added mid-file", lambda t: replace_once(t, "SYM_CODE_START(asm_exc_nmi)",
                                                      '#include "incr.h"\nSYM_CODE_START(asm_exc_nmi)')),
    ("an #include removed", lambda t: replace_once(t, '#include "incr.h"\nSYM_CODE_START(asm_exc_nmi)',
                                               "SYM_CODE_START(asm_exc_nmi)")),
    # the arguments of a function-like macro start on the next line: cpp
    # peeks past the end of the line, so the line after it is part of it
    ("the peeked line", lambda t: replace_once(t, "\t(%rsp)\n", "\tnop\n")),
    ("the peeked line back", lambda t: replace_once(t, "\tLOAD_TOP\n\tnop\n", "\tLOAD_TOP\n\t(%rsp)\n")),
    ("an operand typed in place", lambda t: replace_once(t, "\tmovq\t%gs:pcpu_hot+16, %rdx", "\tmovq\t%gs:pcpu_hot+8, %rdx")),
    ("a register typed in place", lambda t: replace_once(t, "\tpopq\t%rcx\n\tiretq", "\tpopq\t%rdx\n\tiretq")),
    ("the top include", lambda t: replace_once(t, '#include "incr.h"\n', '#include "incr.h"\n#define EXTRA 1\n')),
    ("an entry added at the end", lambda t: t + "SYM_CODE_START(asm_extra)\n\tswapgs\n\tiretq\n"
                                                "SYM_CODE_END(asm_extra)\n"),
]


def _copy_with(tmp_path, header: str, text: str):
    """The fixture folder copied to ``tmp_path`` with one more header: its entry file."""
    for f in FIX.iterdir():
        shutil.copy(f, tmp_path / f.name)
    (tmp_path / header).write_text(text)
    return tmp_path / "entry_incr.S"


def _same_as_scratch(path, text, sessions):
    inc = api.check(path, OPTS, text=text, incremental=sessions)
    full = api.check(path, OPTS, text=text)
    assert inc.findings == full.findings
    assert incremental.outcome(inc) == incremental.outcome(full)
    return inc


def _resumed(session) -> int:
    """The logical line the session's last run resumed at."""
    return int(session.last.split("resumed at logical line ", 1)[1].split(",")[0])


def test_a_re_analysis_looks_up_the_steps_of_the_last_walk(monkeypatch):
    """The walk of an edited text steps only what the edit made new: the
    other (instruction, tuple) pairs are the last walk's, looked up by value."""
    from entrylint.analysis import forward

    calls = []
    real = forward.step
    monkeypatch.setattr(forward, "step", lambda ins, t, cfg: calls.append(ins.mnemonic) or real(ins, t, cfg))
    path = FIX / "entry_incr.S"
    text = path.read_text()
    sessions = Sessions()
    first = _same_as_scratch(path, text, sessions)
    calls.clear()
    api.check(path, OPTS, text=text, incremental=sessions)
    again = len(calls)
    calls.clear()
    edited = replace_once(text, "\tcall\texc_nmi", "\tpushq\t%r11\n\tcall\texc_nmi")
    second = api.check(path, OPTS, text=edited, incremental=sessions)
    stepped = list(calls)
    calls.clear()
    full = api.check(path, OPTS, text=edited)  # from the start: every step worked out
    scratch = len(calls)
    assert again == 0  # the same text: every step looked up
    # the new push on each tuple reaching it, and what the pushed register
    # makes new after it; far fewer than a walk from the start
    assert "pushq" in stepped and 0 < len(stepped) < scratch / 2, (stepped, scratch)
    assert incremental.outcome(second) == incremental.outcome(full)  # the walk's records too
    assert first.analysis.forward.steps < second.analysis.forward.steps  # counted as before: per pair


@pytest.mark.parametrize("step", [1, 4])
def test_every_edit_kind_gives_what_a_run_from_the_start_gives(monkeypatch, step):
    monkeypatch.setattr(incremental, "STEP", step)
    path = FIX / "entry_incr.S"
    text = path.read_text()
    sessions = Sessions()
    _same_as_scratch(path, text, sessions)
    session = sessions.session(path, OPTS)[0]
    assert session.last == "full"
    how = {}
    for name, edit in EDITS:
        text = edit(text)
        _same_as_scratch(path, text, sessions)
        how[name] = session.last
    # the edits after the first entry were read from a snapshot, not from the start
    # an edit inside a line leaves the rest of the file where it was: the run
    # rejoins the last one where its state is the same again (at the next
    # snapshot: with one per line, before the end of this short file) ...
    if step == 1:
        for name in ("comment in an entry", "an operand typed in place", "a register typed in place",
                     "an instruction made a directive"):
            assert "GNU as at" in how[name], (name, how[name])
        # a line added or removed: the rest of the file is the same a line
        # up or down, and the last run's output is taken with its places moved
        for name in ("code inside one entry", "a line deleted"):
            assert "GNU as at" in how[name], (name, how[name])
        # where only the macro table or the symbol values differ, the preprocessor
        # or GNU as reads on (their output up to the next snapshot is the same)
        for name in ("a .set value mid-file", "a cpp #define mid-file"):
            assert how[name].startswith("resumed"), (name, how[name])
    # ... and never where it differs (a symbol value, a condition) ...
    for name in ("a .set value", "a .set value mid-file", "a cpp #define mid-file",
                 "an #ifdef line", "a cpp #define"):
        assert "GNU as at" not in how[name], (name, how[name])
    # ... but in a .macro body whose invocations all come before a snapshot:
    # the rest is the last run's, its lines moved (test below)
    assert "GNU as at" in how["a .macro body"], how["a .macro body"]
    for name in ("comment in an entry", "code inside one entry", "an #endif put back", "the peeked line",
                 "an entry added at the end"):
        assert how[name].startswith("resumed"), (name, how[name])
    # a line added just after the top include, before the first text line:
    # read from the snapshot past the include (the header is not read again)
    assert how["the top include"] == "resumed at logical line 3", how["the top include"]


def test_an_edited_macro_body_rejoins_past_its_last_invocation(monkeypatch):
    """An edit inside a ``.macro`` body changes what its invocations expand
    to and nothing else: GNU as takes the last run's statements from the
    first snapshot past the last line that invokes it (entry_64.S's idtentry
    macros, all invoked by the ``#include <asm/idtentry.h>`` under them);
    where the macro is invoked again at the end, only past that, and where
    a macro is defined on one side only, never.  Each gives what a run from
    the start gives, the macro tables too (the invocation at the end expands
    to another instruction: taken from the last run, it would differ); and a
    later edit resumes from the snapshots the rejoin kept, with the edited
    macro as this text has it."""
    monkeypatch.setattr(incremental, "STEP", 1)
    path = FIX / "entry_incr.S"
    base = path.read_text()
    retyped = lambda t: replace_once(t, "\tpushq\t%rcx\n.endm", "\tpushq\t%rdx\n.endm")  # noqa: E731
    tail = "SYM_CODE_START(asm_tail)\n\tSAVE_RCX\n\tiretq\nSYM_CODE_END(asm_tail)\n"
    renamed = lambda t: replace_once(t, ".macro SAVE_RCX\n", ".macro SAVE_RCX_NEW\n")  # noqa: E731
    at = {}
    for case, text, edit in (("base", base, retyped), ("tail", base + tail, retyped), ("renamed", base, renamed)):
        sessions = Sessions()
        _same_as_scratch(path, text, sessions)
        session = sessions.session(path, OPTS)[0]
        edited = _same_as_scratch(path, edit(text), sessions)
        assert edited.analysis.expansion.gas.macros["save_rcx" if edit is retyped else "save_rcx_new"] \
            .body[-1].text.split() == ["pushq", "%rdx" if edit is retyped else "%rcx"]
        at[case] = int(session.last.split("GNU as at ")[1].split(",")[0]) if "GNU as at" in session.last else None
        # an edit further down resumes from a snapshot the run above kept
        later = replace_once(edit(text), "\tcall\texc_nmi", "\tnop\n\tcall\texc_nmi")
        _same_as_scratch(path, later, sessions)
        assert session.last.startswith("resumed"), session.last
    assert at["base"] is not None and at["renamed"] is None, at
    assert at["tail"] is None or at["tail"] > at["base"] + tail.count("\n"), at


@pytest.mark.parametrize("body", ["\tpushq\t%rdx\n", "\tpushq\t%rcx\n\tpushq\t%rdx\n"], ids=["in place", "a line added"])
def test_an_edited_macro_invoked_further_down_is_read_only_around_its_invocations(monkeypatch, body):
    """Where the edited ``.macro`` is invoked again below, GNU as goes on
    from the last snapshot before each invocation (the lines between are
    the last run's, read in the same state but for a macro they do not
    invoke: its statements taken -- with their places moved where the edit
    added a line) and reads only the pieces that invoke it, rejoining past
    the last.  What comes out is a run from the start's; a later edit
    resumes from the snapshots kept."""
    monkeypatch.setattr(incremental, "STEP", 1)
    jumps = []
    real = rejoin._jump
    monkeypatch.setattr(rejoin, "_jump", lambda e, st, g, between, *rest: jumps.append(len(between))
                        or real(e, st, g, between, *rest))
    read = []
    from entrylint.gas.expander import Expander

    feed = Expander.feed
    monkeypatch.setattr(Expander, "feed", lambda self, lines: read.append(len(lines)) or feed(self, lines))
    path = FIX / "entry_incr.S"
    filler = "".join(f"SYM_CODE_START(asm_filler{k})\n\tnop\n\tiretq\nSYM_CODE_END(asm_filler{k})\n" for k in range(4))
    call = "SYM_CODE_START(asm_again{})\n\tSAVE_RCX\n\tiretq\nSYM_CODE_END(asm_again{})\n"
    text = path.read_text() + filler + call.format(1, 1) + filler + call.format(2, 2) + filler
    sessions = Sessions()
    _same_as_scratch(path, text, sessions)
    session = sessions.session(path, OPTS)[0]
    read.clear()
    edited = replace_once(text, "\tpushq\t%rcx\n.endm", body + ".endm")
    got = api.check(path, OPTS, text=edited, incremental=sessions)
    fed = sum(read)
    assert incremental.outcome(got) == incremental.outcome(api.check(path, OPTS, text=edited))
    assert len(jumps) == 4, jumps  # to the line before each invocation (two in the file's entries, two added)
    assert "GNU as at" in session.last, session.last  # past the last invocation: the last filler taken
    assert fed < len(got.analysis.expansion.pp.lines) / 2, (fed, len(got.analysis.expansion.pp.lines))
    rdx = [i for i in got.analysis.program.instructions if i.text == "pushq %rdx"]
    assert len(rdx) == 4  # every invocation expanded with the new body
    _same_as_scratch(path, replace_once(edited, "asm_again2)\n\tSAVE_RCX", "asm_again2)\n\tnop"), sessions)
    # (from the snapshot the jump to asm_again2's invocation kept, not from the top)
    assert _resumed(session) > edited.splitlines().index("SYM_CODE_START(asm_again1)") + 4, session.last


def test_an_edited_macro_invoked_inside_a_header_is_read_only_around_its_invocation(monkeypatch, tmp_path):
    """A header included in one line is one piece between two snapshots of
    the preprocessor; GNU as marks it every rejoin.MARK lines, and an edit
    in a ``.macro`` body invoked in it is read from the mark before the
    invocation and rejoins at a mark after it (6.12's idtentry macros,
    invoked in idtentry.h).  The marks of the last run are moved and kept:
    the next such edit does the same.  As a run from the start."""
    monkeypatch.setattr(incremental, "STEP", 4)
    read = []
    from entrylint.gas.expander import Expander

    feed = Expander.feed
    monkeypatch.setattr(Expander, "feed", lambda self, lines: read.append(len(lines)) or feed(self, lines))
    body = "".join(f"SYM_CODE_START(asm_big{k})\n\t{'SAVE_RCX' if k == 25 else 'nop'}\n\tiretq\n"
                   f"SYM_CODE_END(asm_big{k})\n" for k in range(50))
    text = (FIX / "entry_incr.S").read_text() + '#include "incr_big.h"\n'
    path = _copy_with(tmp_path, "incr_big.h", body)
    sessions = Sessions()
    _same_as_scratch(path, text, sessions)
    session = sessions.session(path, OPTS)[0]
    assert session.state.marks  # (the header's 200 lines of output)
    for reg in ("%rdx", "%rbx"):
        edited = re.sub(r"\tpushq\t%r[a-z]x\n\.endm", f"\tpushq\t{reg}\n.endm", text)
        assert edited != text
        read.clear()
        got = api.check(path, OPTS, text=edited, incremental=sessions)
        fed = sum(read)
        assert incremental.outcome(got) == incremental.outcome(api.check(path, OPTS, text=edited))
        assert "GNU as at" in session.last, session.last
        assert fed <= 3 * rejoin.MARK + 30, fed  # around the invocation, and the file's own ones (STEP 4)
        assert sum(i.text == f"pushq {reg}" for i in got.analysis.program.instructions) == 3
        assert session.state.marks
        text = edited
    # a line added above the header: the run rejoins with the last run's
    # statements moved, its marks not kept; the next edit of the macro reads
    # the header (marking it again), and the one after reads around the
    # invocation again
    text = replace_once(text, "\tcall\texc_nmi", "\tnop\n\tcall\texc_nmi")
    _same_as_scratch(path, text, sessions)
    for reg in ("%rcx", "%rdx"):
        edited = re.sub(r"\tpushq\t%r[a-z]x\n\.endm", f"\tpushq\t{reg}\n.endm", text)
        read.clear()
        got = api.check(path, OPTS, text=edited, incremental=sessions)
        fed = sum(read)
        assert incremental.outcome(got) == incremental.outcome(api.check(path, OPTS, text=edited))
        text = edited
    assert fed <= 3 * rejoin.MARK + 30, fed


def test_a_line_added_moves_the_last_runs_places_and_snapshots(monkeypatch):
    """After a line added near the top, the last run's output is taken with
    every place below moved a line down, and so are its snapshots: an edit
    further down then resumes from one of them (not from above the first
    edit) and rejoins again.  Findings, lines, statements, traces: those of
    a run from the start."""
    monkeypatch.setattr(incremental, "STEP", 2)
    path = FIX / "entry_incr.S"
    text = path.read_text()
    sessions = Sessions()
    _same_as_scratch(path, text, sessions)
    session = sessions.session(path, OPTS)[0]
    text = replace_once(text, "\tcall\tdo_syscall_64\n", "\tnop\n\tcall\tdo_syscall_64\n")
    first = _same_as_scratch(path, text, sessions)
    assert "GNU as at" in session.last, session.last
    joined = int(session.last.split("GNU as at ")[1].split(",")[0])
    nmi = next(i for i in first.analysis.program.instructions if i.mnemonic == "call" and i.target_name == "exc_nmi")
    assert nmi.location.line == 69  # (line 68 of the fixture, one down)
    text = replace_once(text, "\tmovq\t%gs:pcpu_hot+16, %rdx", "\tmovq\t%gs:pcpu_hot+24, %rdx")
    _same_as_scratch(path, text, sessions)
    resumed = int(session.last.split("resumed at logical line ", 1)[1].split(",")[0])
    assert resumed > joined and "GNU as at" in session.last, session.last


def test_no_line_number_is_moved_where_the_text_expands_one(tmp_path, monkeypatch):
    """``__LINE__`` reached through the macros a line expands (a header's
    macro naming another that names it) makes that line's output depend on
    its number: the last run's output is not taken across it, and the line
    reads its new number."""
    monkeypatch.setattr(incremental, "STEP", 1)
    path = _copy_with(tmp_path, "lines.h", "#define LINE_NO\t__LINE__\n#define WHERE_AM_I\tLINE_NO\n")
    text = replace_once(path.read_text(), '#include "incr.h"\n', '#include "incr.h"\n#include "lines.h"\n')
    text = replace_once(text, "\tcall\texc_nmi\n", "\tcall\texc_nmi\n\t.long\tWHERE_AM_I\n")
    sessions = Sessions()
    _same_as_scratch(path, text, sessions)
    text = replace_once(text, "\tcall\texc_debug\n", "\tnop\n\tcall\texc_debug\n")
    got = _same_as_scratch(path, text, sessions)
    (long_,) = [st for st in got.analysis.expansion.gas.statements if st.name == ".long"]
    assert long_.args == str(long_.trace[0].location.line)
    assert "resumed" in sessions.session(path, OPTS)[0].last


def test_the_peeked_line_is_not_skipped(monkeypatch):
    """A snapshot right after ``LOAD_TOP`` (a function-like macro name ending
    its line) must not be used when the next line is edited: cpp looked at
    it for the ``(`` of the arguments."""
    monkeypatch.setattr(incremental, "STEP", 1)
    path = FIX / "entry_incr.S"
    text = replace_once(path.read_text(), "\t(%rsp)\n", "\tnop\n")
    sessions = Sessions()
    first = _same_as_scratch(path, text, sessions)
    assert any("LOAD_TOP" in s.name.upper() or "LOAD_TOP" in s.args for s in first.analysis.expansion.gas.statements)
    second = _same_as_scratch(path, replace_once(text, "\tLOAD_TOP\n\tnop\n", "\tLOAD_TOP\n\t(%rsp)\n"), sessions)
    assert not any("LOAD_TOP" in s.args for s in second.analysis.expansion.gas.statements)


def test_a_header_changed_on_disk_is_read_again(tmp_path, monkeypatch):
    monkeypatch.setattr(incremental, "STEP", 2)
    for f in FIX.iterdir():
        shutil.copy(f, tmp_path / f.name)
    path, header = tmp_path / "entry_incr.S", tmp_path / "incr.h"
    text = path.read_text()
    sessions = Sessions()
    _same_as_scratch(path, text, sessions)
    header.write_text(replace_once(header.read_text(), "#define PTI_USER_BIT\t\t0x1000", "#define PTI_USER_BIT\t\t0x800"))
    st = header.stat()
    os.utime(header, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    edited = replace_once(text, "\tcall\texc_nmi", "\tnop\n\tcall\texc_nmi")
    inc = _same_as_scratch(path, edited, sessions)
    assert sessions.session(path, OPTS)[0].last == "full"
    assert any("0x800" in s.args for s in inc.analysis.expansion.gas.statements)


def test_other_options_do_not_share_a_session():
    path = FIX / "entry_incr.S"
    text = path.read_text()
    sessions = Sessions()
    _same_as_scratch(path, text, sessions)
    other = api.Options(profile="pti-off")
    inc = api.check(path, other, text=text, incremental=sessions)
    assert inc.findings == api.check(path, other, text=text).findings
    assert sessions.session(path, other)[0].last == "full"


SIBLING = Path(__file__).resolve().parents[1] / "fixtures" / "analysis" / "sibling_tree"


def test_another_files_helper_is_walked_once_across_re_analyses(monkeypatch):
    """A re-analysis of the file being edited follows a helper of another file
    (analysis/siblings.py) without walking that file again: its walk depends
    on that file's expansion only.  Findings stay those of a fresh process."""
    from entrylint.analysis import forward

    path = SIBLING / "arch/x86/entry/entry_64_compat.S"
    opts = api.Options(root=SIBLING, profile="defconfig")
    text = path.read_text()
    first = api.check(path, opts, text=text).findings
    walks = []
    real = forward.analyze

    def counting(program, cfg, entries, *a, **k):
        walks.append([e.kind.name for e in entries])
        return real(program, cfg, entries, *a, **k)

    monkeypatch.setattr(forward, "analyze", counting)
    edited = text.replace("\tcall\tswitch_to_thread_stack", "\tnop\n\tcall\tswitch_to_thread_stack")
    assert edited != text
    again = api.check(path, opts, text=edited)
    assert not any(kinds == ["called-from-asm"] for kinds in walks), walks  # only the file's own walk
    assert len(walks) == 1
    assert [(f.id, f.message) for f in again.findings] == [(f.id, f.message) for f in first]


class _Stop(BaseException):
    """Stands for the language server's Cancelled (raised in the worker thread)."""


@pytest.mark.parametrize("where", ["cpp", "gas"])
def test_a_run_stopped_part_way_leaves_a_usable_session(monkeypatch, where):
    """A newer edit cancels the analysis in progress by raising in its
    thread (faces/lsp/engine.py): the session keeps its last complete state,
    and the next run still gives what a run from the start gives."""
    from entrylint.cpp import resume as cpp_resume
    from entrylint.gas import resume as gas_resume

    monkeypatch.setattr(incremental, "STEP", 2)
    path = FIX / "entry_incr.S"
    text = path.read_text()
    sessions = Sessions()
    _same_as_scratch(path, text, sessions)
    mod, name = (cpp_resume, "snapshot") if where == "cpp" else (gas_resume, "snapshot")
    real, calls = getattr(mod, name), []

    def stopping(*a, **k):
        calls.append(1)
        if len(calls) == 1:  # (the edit adds a line: the run rejoins the last one a few snapshots on)
            raise _Stop
        return real(*a, **k)

    monkeypatch.setattr(mod, name, stopping)
    with pytest.raises(_Stop):
        api.check(path, OPTS, text=replace_once(text, "\tcall\texc_debug", "\tnop\n\tcall\texc_debug"), incremental=sessions)
    monkeypatch.setattr(mod, name, real)
    for edited in (replace_once(text, "\tcall\texc_nmi", "\tnop\n\tcall\texc_nmi"), text):
        _same_as_scratch(path, edited, sessions)
        assert sessions.session(path, OPTS)[0].last.startswith("resumed")


def test_a_header_read_after_the_snapshot_gives_its_problems_again(tmp_path, monkeypatch):
    """A header first included after the snapshot a run resumes from is read
    again by that run, with its problems (here: a comment left open): the
    snapshot holds the files read up to it, not those the old run read later."""
    monkeypatch.setattr(incremental, "STEP", 2)
    path = _copy_with(tmp_path, "late.h", "#define LATE_OFF\t24\n/* a comment left open\n")
    text = replace_once(path.read_text(), "SYM_CODE_START(asm_exc_nmi)", '#include "late.h"\nSYM_CODE_START(asm_exc_nmi)')
    sessions = Sessions()
    first = _same_as_scratch(path, text, sessions)
    assert any("unterminated comment" in p.message for p in first.analysis.expansion.pp.problems)
    second = _same_as_scratch(path, replace_once(text, "\tcall\tdo_syscall_64", "\tnop\n\tcall\tdo_syscall_64"), sessions)
    assert sessions.session(path, OPTS)[0].last.startswith("resumed")
    assert any("unterminated comment" in p.message for p in second.analysis.expansion.pp.problems)


def test_rejoining_at_an_older_runs_snapshot_after_the_lexing_problems_changed(monkeypatch):
    """The main file's lexing problems come first among its problems and
    depend on all of its text: a comment left open at the end adds one.  An
    edit above the snapshot the last run resumed from rejoins at a snapshot
    of an older run, taken when there was no such problem; the problems after
    it are still those of a run from the start."""
    monkeypatch.setattr(incremental, "STEP", 1)
    path = FIX / "entry_incr.S"
    text = path.read_text()
    sessions = Sessions()
    _same_as_scratch(path, text, sessions)
    text += "/* a comment left open at the end\n"
    _same_as_scratch(path, text, sessions)
    session = sessions.session(path, OPTS)[0]
    for old, new in (("\tpopq\t%rcx\n\tiretq", "\tpopq\t%rdx\n\tiretq"), ("\tpopq\t%rdx\n\tiretq", "\tpopq\t%rsi\n\tiretq"),
                     ("\tcall\tdo_syscall_64", "\tcall\tdo_syscall_32")):
        text = replace_once(text, old, new)
        got = _same_as_scratch(path, text, sessions)
        assert "GNU as at" in session.last, session.last
        assert sum("unterminated comment" in p.message for p in got.analysis.expansion.pp.problems) == 1


def test_a_failure_of_the_incremental_reading_falls_back_to_a_run_from_the_start(monkeypatch):
    path = FIX / "entry_incr.S"
    text = path.read_text()
    sessions = Sessions()
    _same_as_scratch(path, text, sessions)

    def broken(*a, **k):
        raise RuntimeError("a fault in the snapshot code")

    monkeypatch.setattr(incremental, "_resume_point", broken)
    _same_as_scratch(path, replace_once(text, "\tcall\texc_nmi", "\tnop\n\tcall\texc_nmi"), sessions)
    session = sessions.session(path, OPTS)[0]
    assert session.state is None and "failed" in session.last


def test_a_line_cut_by_the_line_length_limit_is_read_from_the_start(monkeypatch):
    """The preprocessor reads a main file with a line over the limit as
    another text (the line emptied, a LIMIT finding): no snapshot of it is
    kept, and every edit gives what a run from the start gives."""
    from dataclasses import replace as dc_replace

    from entrylint.source.limits import DEFAULT

    monkeypatch.setattr(incremental, "STEP", 2)
    opts = api.Options(profile="defconfig", limits=dc_replace(DEFAULT, line_length=120))
    path = FIX / "entry_incr.S"
    text = replace_once(path.read_text(), "SYM_CODE_START(asm_exc_nmi)", "/* " + "x" * 150 + " */\nSYM_CODE_START(asm_exc_nmi)")
    sessions = Sessions()
    for edited in (text, replace_once(text, "\tcall\texc_nmi", "\tnop\n\tcall\texc_nmi"),
                   replace_once(text, "\tpopq\t%rcx\n\tiretq", "\tpopq\t%rdx\n\tiretq")):
        inc = api.check(path, opts, text=edited, incremental=sessions)
        full = api.check(path, opts, text=edited)
        assert incremental.outcome(inc) == incremental.outcome(full)
        assert any(f.id.startswith("EL9") and "line" in f.message for f in full.findings)
        assert sessions.session(path, opts)[0].state is None


def test_the_profiles_of_a_check_share_the_budgets_when_read_incrementally(tmp_path):
    """The language server with ``profile: all`` checks every profile with
    the incremental reading.  Its profiles read on what the earlier ones
    left of the work limits, as a run from the start does (each had a whole
    budget: up to three times the bound); after an edit that changes what
    they spent, too."""
    from dataclasses import replace as dc_replace

    from entrylint.source.limits import DEFAULT

    head = "#ifdef CONFIG_PAGE_TABLE_ISOLATION\n\tnop\n#endif\n"
    path = tmp_path / "lines.S"
    text = head + "\tnop\n" * 297  # 300 lines
    path.write_text(text)
    # max reads 300 lines and 298 instructions, defconfig the same lines (one
    # expansion: its instructions count once), pti-off what is left
    for name, lim in (("cpp-lines", DEFAULT.with_(cpp_lines=700)),
                      ("program-instructions", DEFAULT.with_(program_instructions=500))):
        opts = api.Options(profile=None, assemble=False, limits=lim)
        sessions = Sessions()
        for t in (text, text + "\tnop\n" * 20, text.replace("\tnop\n", "\tint3\n", 1)):
            inc = api.check(path, opts, text=t, incremental=sessions)
            full = api.check(path, opts, text=t)
            assert inc.findings == full.findings
            over = [f.profiles for f in inc.findings if f.slug == "limit-hit"]
            assert over == [("pti-off",)] and name in inc.findings[0].message, (name, inc.findings)
            alone = api.check(path, dc_replace(opts, profile="pti-off"), text=t, incremental=sessions)
            assert not [f for f in alone.findings if f.slug == "limit-hit"]


def test_the_main_files_lines_are_counted_with_its_length_when_rejoining(tmp_path, monkeypatch):
    """The cpp-lines figure counts the main file's logical lines.  A comment
    left open to the next line's (one logical line fewer, as many physical
    ones), then a line continuation removed above it (one more): the run
    rejoins at a snapshot of the first run, when the file had as many
    logical lines as now, while the last run had one fewer; the figure is
    still a run from the start's (found by tools/incremental_check.py on
    5.10's entry_64.S)."""
    monkeypatch.setattr(incremental, "STEP", 1)
    path = tmp_path / "entry.S"
    text = ("/* SPDX-License-Identifier: GPL-2.0 */\n.globl entry_SYSCALL_64\nentry_SYSCALL_64:\n\tswapgs\n"
            + "\tnop\n" * 6 + "#define ONE 1 \\\n\n" + "\tnop\n" * 6
            + "\tmovq\t$ONE, %rax\t/* a */\n\tnop\t\t/* b */\n" + "\tnop\n" * 6 + "\tswapgs\n\tsysretq\n")
    path.write_text(text)
    sessions = Sessions()
    _same_as_scratch(path, text, sessions)
    for old, new in (("/* a */", "/* a *"), ("#define ONE 1 \\\n", "#define ONE 1\n")):
        text = replace_once(text, old, new)
        got = _same_as_scratch(path, text, sessions)
    assert "cpp rejoined" in sessions.session(path, OPTS)[0].last
    assert got.analysis.expansion.pp.peak["cpp-lines"] == api.check(path, OPTS, text=text).analysis.expansion.pp.peak["cpp-lines"]


def _edited(monkeypatch, *edits) -> tuple:
    """(the session, the text) after the fixture's ``edits`` (old, new) one
    after another, snapshots at every line, each as a run from the start."""
    monkeypatch.setattr(incremental, "STEP", 1)
    path = FIX / "entry_incr.S"
    text = path.read_text()
    sessions = Sessions()
    _same_as_scratch(path, text, sessions)
    for old, new in edits:
        text = replace_once(text, old, new)
        _same_as_scratch(path, text, sessions)
    return sessions.session(path, OPTS)[0], text


def test_the_snapshots_inside_a_macro_body_are_moved_with_the_lines(monkeypatch):
    """A snapshot taken while a ``.macro`` body is being collected holds the
    body's lines so far: after a line added above, it is kept with their
    places moved, so an edit inside the body resumes inside it."""
    from bisect import bisect_right

    from entrylint.cpp.lexer import lex_file

    session, text = _edited(monkeypatch, ("#define STACK_OFF\t8\n", "#define STACK_OFF\t8\n\n"),
                            ("\tpushq\t%rcx\n.endm", "\tpushq\t%rdx\n.endm"))
    macro = bisect_right(lex_file(text, str(FIX / "entry_incr.S")).starts, text.index(".macro SAVE_RCX")) - 1
    assert _resumed(session) > macro, session.last  # (the .macro line's logical line)


def test_a_snapshot_kept_from_an_older_run_is_rejoined_after_lines_added(monkeypatch):
    """The snapshots above an edit are kept from the run that made them,
    which counted the main file's lines as it had them then: a line added
    at the end and then one at the top, the preprocessor rejoins the last
    run just below the top one (not past the first edit)."""
    session, text = _edited(monkeypatch, ("\tcall\texc_nmi\n", "\tcall\texc_nmi\n\tnop\n"),
                            ("\tcall\tdo_syscall_64\n", "\tnop\n\tcall\tdo_syscall_64\n"))
    rejoined = int(session.last.split("cpp rejoined at logical line ", 1)[1].split(",")[0])
    assert rejoined < text.splitlines().index("SYM_CODE_END(entry_SYSCALL_64)"), session.last


def test_statements_moved_keep_each_trace():
    # the statements of one expansion share its head (the invocation's
    # frame): its frames are moved once for all of them; a head met again
    # after other first frames (not a trace GNU as makes) is moved with them
    from types import SimpleNamespace

    from entrylint.gas.types import Frame, Stmt
    from entrylint.relocate import Relocate
    from entrylint.source import Location

    main = "/t/entry.S"
    moved = Relocate(main, 10, -2, 2, [], SimpleNamespace(macros={}, purged=[]))  # line 10 on: 2 lines down
    head, first, other = Frame(Location(main, 12), "macro", "M"), Frame(Location(main, 11)), Frame(Location("/t/h.h", 3))
    one, two = Frame(Location(main, 30)), Frame(Location(main, 9))
    stmts = [Stmt("insn", "nop", "", ".text", tr) for tr in
             [(first, head, one), (first, head, two), (other, head, one), (two,)]]
    got = moved.statements(stmts)
    assert [[(f.location.file, f.location.line, f.kind) for f in s.trace] for s in got] == [
        [(main, 13, "source"), (main, 14, "macro"), (main, 32, "source")],
        [(main, 13, "source"), (main, 14, "macro"), (main, 9, "source")],
        [("/t/h.h", 3, "source"), (main, 14, "macro"), (main, 32, "source")],
        [(main, 9, "source")]]
    # one object per frame moved, one per frame that stays
    assert got[0].trace[1] is got[1].trace[1] is got[2].trace[1] and got[1].trace[2] is two


def test_what_a_check_replaces_stays_alive_until_released():
    """A check of an edited text keeps what the session held before it (the
    last state, program and walk) alive until ``release()`` -- the language
    server frees it after publishing (faces/lsp/engine.py) -- or until the
    next check; the result is the same either way."""
    import gc
    import weakref

    path = FIX / "entry_incr.S"
    text = path.read_text()
    sessions = Sessions()
    api.check(path, OPTS, text=text, incremental=sessions)
    session = sessions.session(path, OPTS)[0]
    old = [weakref.ref(session.state), weakref.ref(session.steps.last[0])]
    edited = replace_once(text, "\tcall\texc_nmi\n", "\tnop\n\tcall\texc_nmi\n")
    got = api.check(path, OPTS, text=edited, incremental=sessions)
    assert session.state is not old[0]() and session.steps.last[0] is not old[1]()
    gc.collect()
    assert all(r() is not None for r in old)  # (held)
    sessions.release()
    gc.collect()
    assert all(r() is None for r in old)
    assert got.findings == api.check(path, OPTS, text=edited).findings
    # not released: the next check frees them
    old = [weakref.ref(session.state)]
    api.check(path, OPTS, text=text, incremental=sessions)
    api.check(path, OPTS, text=edited, incremental=sessions)
    gc.collect()
    assert old[0]() is None
