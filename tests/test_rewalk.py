"""The last walk taken again (analysis/rewalk.py): after an edit that
changes nothing the walk reads, the re-analysis takes the last walk instead
of walking; after any other edit it walks.  Either way what comes out is
what a check from the start gives, the walk's records in their order too."""

from __future__ import annotations

from pathlib import Path

import pytest

from entrylint import api, incremental
from entrylint.incremental import Sessions

OPTS = api.Options(profile="defconfig")
SRC = """.globl entry_SYSCALL_64
entry_SYSCALL_64:
\tswapgs
\tmovl\t$1, %r8d
\tmovq\t%rdi, %rsi
\taddq\t%r8, %rsi
\tmovl\t$1, %r9d
\ttestl\t%r9d, %r9d
\tjz\t1f
\tpushq\t%r9
\tpopq\t%r9
\tjmp\t1f
1:\txorl\t%r8d, %r8d
\tswapgs
\tsysretq
2:\tsysretq
3:\txorl\t%r8d, %r8d
\tswapgs
\tsysretq
"""


def _edited(tmp_path: Path, edits: list[tuple[str, str]], back: bool = False, src: str = SRC) -> list:
    """Check ``src``, then each edit of it in turn (back to ``src`` between
    two), incrementally; every check must equal one from the start.  Whether
    each edit's walk was the last one taken again (``back``: and the walk of
    the edit back, a pair per edit)."""
    path = tmp_path / "entry.S"
    path.write_text(src)
    sessions = Sessions()
    first = api.check(path, OPTS, text=src, incremental=sessions)
    assert not first.analysis.forward.reused
    reused = []
    for old, new in edits:
        assert src.count(old) == 1, old
        for text in (src.replace(old, new), src):
            inc = api.check(path, OPTS, text=text, incremental=sessions)
            full = api.check(path, OPTS, text=text)
            assert incremental.outcome(inc) == incremental.outcome(full), (old, new, text == src)
            if text != src:
                reused.append(inc.analysis.forward.reused)
            elif back:
                reused[-1] = (reused[-1], inc.analysis.forward.reused)
    return reused


def test_an_edit_that_changes_nothing_the_walk_reads_takes_the_last_walk(tmp_path):
    # a register the tuples hold nothing of, retyped; a comment
    assert _edited(tmp_path, [("movq\t%rdi, %rsi", "movq\t%rdx, %rsi"),
                              ("2:\tsysretq\n", "2:\tsysretq\t/* back */\n")]) == [True, True]


def test_a_branch_retyped_is_walked(tmp_path):
    # the path knows ZF (the test of a known 1): jz and jnz go different ways
    assert _edited(tmp_path, [("jz\t1f", "jnz\t1f")]) == [False]


def test_a_register_no_longer_read_is_walked(tmp_path):
    # the addq reads %r10 now: the tuple reaching it (%r8 holds 1) leaves it
    # as before (%r8 dead after it either way: cleared before the exit), but
    # %r8 is not read after the movl any more: its integer is forgotten
    # there, and the tuples up to the addq differ -- the movl is unchanged
    assert _edited(tmp_path, [("addq\t%r8", "addq\t%r10")]) == [False]


def test_a_step_that_differs_is_walked(tmp_path):
    # the pushed register retyped (%r9 holds 1, %r10 nothing); the movl
    # retyped to another value: the tuples after it hold another one
    assert _edited(tmp_path, [("pushq\t%r9\n\tpopq\t%r9", "pushq\t%r10\n\tpopq\t%r10"),
                              ("movl\t$1, %r9d", "movl\t$0, %r9d")]) == [False, False]


def test_a_jump_retargeted_is_walked(tmp_path):
    # the same step, another edge: to code alike (the same registers live
    # after the jump), and to an exit with the kernel's GS
    assert _edited(tmp_path, [("jmp\t1f", "jmp\t3f"), ("jmp\t1f", "jmp\t2f")]) == [False, False]


def test_a_line_added_that_changes_a_tuple_is_walked(tmp_path):
    # (one that changes none: the last walk moved, tests/test_shifted.py)
    assert _edited(tmp_path, [("\tswapgs\n\tmovl", "\tswapgs\n\tmovl\t$2, %r9d\n\tmovl")]) == [False]


def test_a_walk_cut_short_is_not_kept(tmp_path):
    from entrylint.analysis.forward import analyze
    from entrylint.analysis.walking import StepMemo, transfer_config

    path = tmp_path / "entry.S"
    path.write_text(SRC)
    an = api.analyze(path, OPTS)
    config = transfer_config(an.program, an.expansion, an.callees)
    memo = StepMemo()
    analyze(an.program, an.cfg, an.entries, config, live_out=an.liveness.live_out, memo=memo)
    assert memo.last is not None and memo.last[0].visits == an.forward.visits
    cut = analyze(an.program, an.cfg, an.entries, config, live_out=an.liveness.live_out, memo=memo, max_visits=3)
    assert cut.truncated and memo.last is None


def test_an_alternative_added_where_only_a_jump_through_a_register_leads_is_walked(tmp_path):
    # The label 1f is reached only by `jmp *%rax` of the address loaded
    # before (the walk reads where from the tuple: cfg.entry of a position).
    # An ALTERNATIVE with an empty replacement put there adds no instruction:
    # every node the last walk visited has the same plan, but control now
    # reaches the alternative's fork first (PTI assumed on one side, off on
    # the other) -- the CFG's numbering tells.
    fixture = (Path(__file__).resolve().parents[1] / "fixtures" / "program" / "alternative_6x.S").read_text()
    macros = fixture[:fixture.index(".macro ALTERNATIVE_2")]
    code = ('\t.section .entry.text, "ax"\n.globl entry_SYSCALL_64\nentry_SYSCALL_64:\n\tswapgs\n'
            '\tmovq\t$1f, %rax\n\tjmp\t*%rax\n\tnop\n1:\tnop\n\tswapgs\n\tsysretq\n')
    path = tmp_path / "entry.S"
    before = macros + code
    after = macros + code.replace("1:\tnop\n", '1:\tALTERNATIVE "nop", "", X86_FEATURE_PTI\n')
    path.write_text(before)
    sessions = Sessions()
    first = api.check(path, OPTS, text=before, incremental=sessions)
    inc = api.check(path, OPTS, text=after, incremental=sessions)
    full = api.check(path, OPTS, text=after)
    assert len(full.analysis.program.instructions) == len(first.analysis.program.instructions)
    assert len(full.analysis.program.forks) == 1 and any(n >= full.analysis.cfg.n for n in full.analysis.forward.before)
    assert not inc.analysis.forward.reused
    assert incremental.outcome(inc) == incremental.outcome(full)


class _Stop(BaseException):
    """Stands for the language server's Cancelled (raised in the worker thread)."""


def test_a_run_stopped_after_the_walk_was_taken_leaves_a_usable_memo(tmp_path, monkeypatch):
    # A newer edit cancels the analysis in progress (faces/lsp/engine.py): a
    # run stopped after it took the last walk, before its session kept the
    # text, leaves the memo with that walk; the next edits still give what a
    # check from the start gives, and take the walk where they may
    from entrylint.analysis import flags

    path = tmp_path / "entry.S"
    path.write_text(SRC)
    sessions = Sessions()
    api.check(path, OPTS, text=SRC, incremental=sessions)
    real = flags.compute_flags

    def stopping(*a, **k):
        raise _Stop

    monkeypatch.setattr(flags, "compute_flags", stopping)
    with pytest.raises(_Stop):
        api.check(path, OPTS, text=SRC.replace("movq\t%rdi, %rsi", "movq\t%rdx, %rsi"), incremental=sessions)
    monkeypatch.setattr(flags, "compute_flags", real)
    taken = []
    for text in (SRC.replace("movq\t%rdi, %rsi", "movq\t%rcx, %rsi"), SRC.replace("jz\t1f", "jnz\t1f"), SRC):
        inc = api.check(path, OPTS, text=text, incremental=sessions)
        assert incremental.outcome(inc) == incremental.outcome(api.check(path, OPTS, text=text))
        taken.append(inc.analysis.forward.reused)
    assert taken == [True, False, False]


def test_a_label_moved_off_a_faulting_instruction_is_walked(tmp_path):
    # fixtures/analysis/forward_extable.S: a fault at load_gs_index's GS load
    # resumes, through error_entry's iret, with the state the exception
    # return gives where the IDT entry's tuple names that instruction's label
    # (.Lgs_change).  The exception table names it by another label here;
    # moving .Lgs_change to the next instruction leaves every plan, the
    # fixups and the entries as they were -- only the faulting
    # instruction's labels tell the walk changed.
    src = (Path(__file__).resolve().parents[1] / "fixtures" / "analysis" / "forward_extable.S").read_text()
    before = src.replace(".Lgs_change:\n\tmovl\t%edi, %gs\n", ".Lgs_change:\n.Lfault:\n\tmovl\t%edi, %gs\n") \
        .replace(".long .Lgs_change - .", ".long .Lfault - .")
    after = before.replace(".Lgs_change:\n.Lfault:\n\tmovl\t%edi, %gs\n2:\tmfence\n",
                           ".Lfault:\n\tmovl\t%edi, %gs\n.Lgs_change:\n2:\tmfence\n")
    assert before.count(".Lfault") == 2 and after != before
    path = tmp_path / "entry.S"
    path.write_text(before)
    sessions = Sessions()
    api.check(path, OPTS, text=before, incremental=sessions)
    inc = api.check(path, OPTS, text=after, incremental=sessions)
    full = api.check(path, OPTS, text=after)
    assert not inc.analysis.forward.reused
    assert incremental.outcome(inc) == incremental.outcome(full)
