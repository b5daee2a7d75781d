"""The last walk moved over an instruction added (analysis/shifted.py):
after a line of code is added in straight-line code where it changes no
tuple, the re-analysis takes the last walk with its nodes moved; after any
other line added it walks.  Either way what comes out is what a check from
the start gives, the walk's records in their order too (test_rewalk's
``_edited`` compares ``incremental.outcome`` after every edit)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from test_rewalk import OPTS, SRC, _edited

from entrylint.program.lineup import edits, inserted, renumbering, script
from entrylint.analysis.shifted import _tuples_moved
from entrylint.analysis.state import Origin, Space, Stack, Tuple


def test_a_quiet_instruction_added_takes_the_last_walk_moved(tmp_path):
    # a nop; the first key of a new line where no register holds a small
    # integer (an instruction the assembler refuses: read as one that
    # falls through and reads every register); a register the tuples hold
    # nothing of moved to another (%rsi is live longer: the tuples before
    # hold nothing of it either)
    assert _edited(tmp_path, [("\tmovq\t%rdi, %rsi\n", "\tmovq\t%rdi, %rsi\n\tnop\n"),
                              ("\tswapgs\n\tmovl", "\tswapgs\n\tm\n\tmovl"),
                              ("\tmovq\t%rdi, %rsi\n", "\tmovq\t%rdi, %rsi\n\tmovq\t%rsi, %rdx\n")]) \
        == [True, True, True]


def test_a_quiet_instruction_removed_takes_the_last_walk_moved(tmp_path):
    # each edit, then back: the line taken away again (a line deleted, the
    # last backspace of a new line); a walked one's way back is walked too
    assert _edited(tmp_path, [("\tmovq\t%rdi, %rsi\n", "\tmovq\t%rdi, %rsi\n\tnop\n"),
                              ("\tswapgs\n\tmovl", "\tswapgs\n\tm\n\tmovl"),
                              ("\tpopq\t%r9\n", "\tpopq\t%r9\n\tm\n")], back=True) \
        == [(True, True), (True, True), (False, False)]
    # a line of SRC deleted: a move the tuples hold nothing of; a swapgs
    assert _edited(tmp_path, [("\tmovq\t%rdi, %rsi\n", ""), ("\tswapgs\n\tsysretq\n2:", "\tsysretq\n2:")],
                   back=True) == [(True, True), (False, False)]


def test_an_instruction_nothing_leads_to_takes_the_last_walk_moved(tmp_path):
    # after a jump; and the sysretq after the first exit's deleted: two
    # alike in a row, the second (at 2:, where nothing jumps) is the one
    # gone, the label now on the first
    assert _edited(tmp_path, [("\tjmp\t1f\n1:", "\tjmp\t1f\n\tnop\n1:"), ("\tsysretq\n2:", "2:")], back=True) \
        == [(True, True), (True, True)]


def test_an_instruction_that_changes_a_tuple_is_walked(tmp_path):
    # %r9 holds 1 on the path: a pop into it, a move of another value; and
    # an instruction that may read it (refused by the assembler: it reads
    # every register) keeps its integer past the pop, where it was dead
    assert _edited(tmp_path, [("\tpushq\t%r9\n", "\tpushq\t%r9\n\tpopq\t%r9\n\tpushq\t%r9\n"),
                              ("\tmovq\t%rdi, %rsi\n", "\tmovq\t%rdi, %rsi\n\tmovl\t$3, %r9d\n"),
                              ("\tpopq\t%r9\n", "\tpopq\t%r9\n\tm\n")]) == [False, False, False]


JOIN = """.globl entry_SYSCALL_64
entry_SYSCALL_64:
\tswapgs
\tmovl\t$1, %r9d
\ttestl\t%r9d, %r9d
\tjz\t1f
\tmovq\t%rdi, %rsi
\taddq\t%rdi, %rsi
1:\txorl\t%r8d, %r8d
\tswapgs
\tsysretq
"""


def test_an_instruction_added_at_a_join(tmp_path):
    # at the label the jz goes to: the new instruction has the two ways in
    # the xorl had, and pops where it popped, the xorl just after -- taken,
    # each way (the arrival at the xorl from it is put just before the
    # first link the xorl's visit made); before the label: the xorl has
    # another way in than the new one, whose visit comes between -- walked;
    # in the straight-line code before: taken
    assert _edited(tmp_path, [("1:\txorl", "1:\tnop\n\txorl"),
                              ("\taddq\t%rdi, %rsi\n", "\taddq\t%rdi, %rsi\n\tnop\n"),
                              ("\tmovq\t%rdi, %rsi\n", "\tmovq\t%rdi, %rsi\n\tnop\n")], back=True, src=JOIN) \
        == [(True, True), (False, False), (True, True)]


EXIT = """.globl entry_SYSCALL_64
entry_SYSCALL_64:
\tswapgs
\tmovl\t$1, %r9d
\ttestl\t%r9d, %r9d
\tswapgs
\tjz\t1f
\tmovq\t%rdi, %rsi
1:\tsysretq
"""


def test_an_instruction_added_at_a_join_before_an_exit_is_walked(tmp_path):
    # the sysretq's visits make no link (an exit): where the new
    # instruction's arrival at it goes among the links is not known --
    # walked; the line deleted again: the sysretq's arrivals are where the
    # new instruction's were -- taken
    assert _edited(tmp_path, [("1:\tsysretq", "1:\tnop\n\tsysretq")], back=True, src=EXIT) == [(False, True)]


CALLED = """.globl entry_SYSCALL_64
entry_SYSCALL_64:
\tswapgs
\tcall\thelper
\tmovq\t%rdi, %rsi
helper:
\txorl\t%r8d, %r8d
\tret
"""


def test_an_instruction_added_before_a_callee_is_walked_and_after_its_label_moved(tmp_path):
    # the movq falls into helper, which the call enters too: a way in that
    # is no edge (its arrivals come when the call is walked, not after the
    # new nop's; an entry point's label is another such)
    assert _edited(tmp_path, [("\tmovq\t%rdi, %rsi\n", "\tmovq\t%rdi, %rsi\n\tnop\n")], back=True, src=CALLED) \
        == [(False, False)]
    # the nop after helper's label: the movq falls into it and the call goes
    # there, both ways in of the xorl before; the xorl is walked on at once
    assert _edited(tmp_path, [("helper:\n", "helper:\n\tnop\n")], back=True, src=CALLED) == [(True, True)]


# helper called twice, nothing falling into it
HELPER = CALLED.replace("helper:\n", "\tcall\thelper\n\tswapgs\n\tsysretq\nhelper:\n", 1)


def test_an_instruction_added_at_a_callees_start_takes_the_last_walk_moved(tmp_path):
    # nothing falls into helper: the calls are its only ways in, and the
    # nop after its label is where they go now (its context starts there,
    # the xorl is walked on at once); deleted again, the calls go to the
    # xorl
    assert _edited(tmp_path, [("helper:\n", "helper:\n\tnop\n")], back=True, src=HELPER) == [(True, True)]
    # the nop before the label, after the sysretq: nothing leads to it and
    # the calls still go to the xorl -- walked (a label there may be on the
    # nop: the records are not taken where a context starts after one);
    # deleted again, no walk had met it: taken
    assert _edited(tmp_path, [("\tsysretq\nhelper:", "\tsysretq\n\tnop\nhelper:")], back=True, src=HELPER) \
        == [(False, True)]


LOADED = """.globl entry_SYSCALL_64
entry_SYSCALL_64:
\tswapgs
\tmovq\t$1f, %r10
\tmovl\t$1, %r8d
\tjmp\t*%r10
\tnop
1:\tswapgs
\tsysretq
"""


def test_a_code_label_held_past_the_line_added_is_moved(tmp_path):
    # %r10 holds the position of 1f (the jump through it goes there): a nop
    # added before it moves it, in the tuples and in what the movq steps to
    assert _edited(tmp_path, [("\tmovl\t$1, %r8d\n", "\tmovl\t$1, %r8d\n\tnop\n")], src=LOADED) == [True]


def test_the_tuples_holding_a_position_are_moved_with_the_walk(tmp_path):
    """A walk moved from another keeps the last one's list of the tuples
    that hold a code position, moved (shifted.py reads it at the next
    edit): two nops added one after the other before the label %r10 holds,
    each walk moved, the list the one a look at every tuple of it gives."""
    from dataclasses import replace

    from entrylint import api
    from entrylint.analysis.shifted import _held_positions
    from entrylint.incremental import Sessions

    path = tmp_path / "entry.S"
    sessions = Sessions()
    for n in range(3):
        text = LOADED.replace("\tmovl\t$1, %r8d\n", "\tmovl\t$1, %r8d\n" + "\tnop\n" * n)
        fw = api.check(path, OPTS, text=text, incremental=sessions).analysis.forward
        assert fw.reused == (n > 0)
        if n == 1:
            _held_positions(fw)  # (made once: the next walk moved from this one takes it)
    assert fw.held_positions is not None
    holding, groups = fw.held_positions
    again = _held_positions(replace(fw, held_positions=None))
    assert set(holding) == set(again[0]) and any(v == "insn:7" for t in holding for _, v in t.held)
    assert {k: set(v) for k, v in groups.items()} == {k: set(v) for k, v in again[1].items()}


JUMPED = """.globl entry_SYSCALL_64
entry_SYSCALL_64:
\tswapgs
\tmovq\t$1f, %r10
\tjmp\t*%r10
1:\tswapgs
\tsysretq
"""


def test_an_instruction_added_where_a_jump_through_a_register_goes_is_walked(tmp_path):
    # no edge leads to 1: (the jump's target is the position %r10 holds),
    # and the label is on the new nop: the position held is the nop's,
    # not the swapgs' moved
    assert _edited(tmp_path, [("1:\tswapgs", "1:\tnop\n\tswapgs")], back=True, src=JUMPED) == [(False, False)]


def test_an_instruction_added_before_an_alternative(tmp_path):
    # the node after the new nop is the alternative's fork, which has no
    # entry in the walk's ``after`` (a fork steps nothing): the nop's goes
    # where its first visit made it, in ``before``'s order
    fixture = (Path(__file__).resolve().parents[1] / "fixtures" / "program" / "alternative_6x.S").read_text()
    macros = fixture[:fixture.index(".macro ALTERNATIVE_2")]
    src = (macros + '\t.section .entry.text, "ax"\n.globl entry_SYSCALL_64\n'
           'entry_SYSCALL_64:\n\tswapgs\n\tmovq\t%rdi, %rsi\n'
           '\tALTERNATIVE "pause", "", X86_FEATURE_PTI\n\tswapgs\n\tsysretq\n')
    assert _edited(tmp_path, [("\tmovq\t%rdi, %rsi\n", "\tmovq\t%rdi, %rsi\n\tnop\n")], back=True, src=src) \
        == [(True, True)]


MACRO = """.macro EXIT_PATH
\tmovq\t%rdi, %rsi
\tswapgs
\tsysretq
.endm
.globl entry_SYSCALL_64
entry_SYSCALL_64:
\tswapgs
\tmovl\t$1, %r9d
\ttestl\t%edi, %edi
\tjz\t1f
\tEXIT_PATH
1:\tmovl\t$2, %r9d
\tEXIT_PATH
"""


def test_a_line_added_to_a_macro_body_takes_the_last_walk_moved(tmp_path):
    # one nop per expansion: each quiet, each on a path of its own (the two
    # sides of the jz, %r9 holding 1 on one and 2 on the other); the line
    # deleted again takes both out
    assert _edited(tmp_path, [("\tmovq\t%rdi, %rsi\n\tswapgs", "\tmovq\t%rdi, %rsi\n\tnop\n\tswapgs"),
                              (".macro EXIT_PATH\n", ".macro EXIT_PATH\n\tnop\n")], back=True, src=MACRO) \
        == [(True, True), (True, True)]
    # a pop into %r9 in the body: it changes the tuples of both paths -- walked
    assert _edited(tmp_path, [("\tswapgs\n\tsysretq\n.endm", "\tswapgs\n\tpopq\t%r9\n\tsysretq\n.endm")],
                   back=True, src=MACRO) == [(False, False)]


def test_a_line_moved_out_of_a_macro_body_takes_the_last_walk_moved(tmp_path):
    # a nop cut from the body of a macro expanded twice and pasted in the
    # code before it, in one change: taken out twice, put in once (and
    # back: put in twice, taken out once); edits() finds no plain insertion,
    # deletion or one-line move there -- the edit script does
    src = MACRO.replace(".macro EXIT_PATH\n", ".macro EXIT_PATH\n\tnop\n")
    cut = src[src.index(".macro EXIT_PATH\n"):src.index("\tmovl\t$1, %r9d\n") + len("\tmovl\t$1, %r9d\n")]
    pasted = cut.replace(".macro EXIT_PATH\n\tnop\n", ".macro EXIT_PATH\n") + "\tnop\n"
    assert _edited(tmp_path, [(cut, pasted)], back=True, src=src) == [(True, True)]


def test_an_instruction_added_at_an_entry_point(tmp_path):
    # the entry's label is on the new nop: the walk starts there, and the
    # swapgs after it is walked on at once, where it was walked; deleted
    # again, the swapgs is the entry point again
    assert _edited(tmp_path, [("entry_SYSCALL_64:\n\tswapgs", "entry_SYSCALL_64:\n\tnop\n\tswapgs")], back=True) \
        == [(True, True)]
    # an entry that code before it falls into: a join of the entry's
    # arrivals and the fall-through's
    src = ".globl entry_SYSCALL_64\nentry_SYSCALL_64:\n\tswapgs\n\tmovl\t$1, %r8d\n" \
          ".globl entry_INT80_compat\nentry_INT80_compat:\n\tmovq\t%rdi, %rsi\n\tswapgs\n\tsysretq\n"
    assert _edited(tmp_path, [("entry_INT80_compat:\n", "entry_INT80_compat:\n\tnop\n")], back=True, src=src) \
        == [(True, True)]
    # two entry points on one instruction, the nop between their labels:
    # the first starts at the nop, the second still at the movq -- walked
    two = src.replace("entry_INT80_compat:\n", "entry_INT80_compat:\n.globl entry_SYSENTER_compat\n"
                      "entry_SYSENTER_compat:\n")
    assert _edited(tmp_path, [("entry_INT80_compat:\n", "entry_INT80_compat:\n\tnop\n")], back=True, src=two) \
        == [(False, False)]


SWITCHED = """.macro SWITCH_TO_KERNEL_CR3 scratch_reg:req
\tmovq\t%cr3, \\scratch_reg
\tandq\t$(~0x1000), \\scratch_reg
\tmovq\t\\scratch_reg, %cr3
.endm
.macro NOTHING
.endm
.globl entry_SYSCALL_64
entry_SYSCALL_64:
\tswapgs
\tmovq\t%rdi, %rsi
\tSWITCH_TO_KERNEL_CR3 scratch_reg=%rdi
\tswapgs
\tsysretq
"""


def test_lines_moved_over_a_contracted_macro_take_the_last_walk(tmp_path):
    # a line that makes no instruction: every instruction is where it was,
    # but the switch macro's instance is a line further down (its place is
    # its invocation's): the instances moved with the lines; and a nop
    # added before it: both moved
    assert _edited(tmp_path, [("\tmovq\t%rdi, %rsi\n", "\tmovq\t%rdi, %rsi\n\tNOTHING\n"),
                              ("\tmovq\t%rdi, %rsi\n", "\tmovq\t%rdi, %rsi\n\tnop\n")], back=True, src=SWITCHED) \
        == [(True, True), (True, True)]
    # a nop at the end of the macro's body: the edge from it leaves the
    # instance (its contract applied there, not before it) -- walked
    assert _edited(tmp_path, [("\tmovq\t\\scratch_reg, %cr3\n", "\tmovq\t\\scratch_reg, %cr3\n\tnop\n")],
                   back=True, src=SWITCHED) == [(False, False)]


def test_a_line_moved_takes_the_last_walk_moved(tmp_path):
    # a nop cut from after the swapgs and pasted after the addq, in one
    # change (an editor's "move line", the language server benchmark's
    # code edits): taken out at one place, put in at the other; and back
    src = SRC.replace("\tswapgs\n\tmovl", "\tswapgs\n\tnop\n\tmovl", 1)
    assert _edited(tmp_path, [("\tnop\n\tmovl\t$1, %r8d\n\tmovq\t%rdi, %rsi\n\taddq\t%r8, %rsi\n",
                               "\tmovl\t$1, %r8d\n\tmovq\t%rdi, %rsi\n\taddq\t%r8, %rsi\n\tnop\n")],
                   back=True, src=src) == [(True, True)]
    # moved past the branch and the pop into %r9 onto the join at 1: (the
    # xorl's arrivals, each way, come from it now): taken
    cut = src[src.index("\tnop\n\tmovl"):src.index("1:\txorl") + len("1:\txorl")]
    pasted = cut.replace("\tnop\n", "", 1).replace("1:\txorl", "1:\tnop\n\txorl")
    assert _edited(tmp_path, [(cut, pasted)], back=True, src=src) == [(True, True)]


def _held(value: str) -> Tuple:
    return Tuple(Origin.USER, Space.USER, Space.USER, Stack.USER, held=(("rax", value),))


def test_positions_moved_that_would_sort_otherwise_are_not_taken():
    # the walk sorts tuples (a call's returns, a fault's resumed states):
    # insn:9 sorts after insn:10, but moved past insn:10 it becomes insn:10,
    # before insn:11
    nine, ten = _held("insn:9"), _held("insn:10")
    walk = _walk({0: {nine, ten}})
    assert _tuples_moved(walk, _added(5)) is None
    # only insn:10 moved: insn:11 still sorts before insn:9
    assert _tuples_moved(walk, _added(10)) == ({ten: _held("insn:11")}, {9, 10})
    # an address with its position (a lea of a code label) too
    lea = _held("addr:foo(%rip)#12")
    assert _tuples_moved(_walk({0: {lea}}), _added(3)) == (
        {lea: _held("addr:foo(%rip)#13")}, {12})
    # two added before it (a line of a macro's body expanded twice)
    assert _tuples_moved(_walk({0: {lea}}), renumbering([], [3, 9], 20).__getitem__) \
        == ({lea: _held("addr:foo(%rip)#14")}, {12})
    # deleted: a position past it one nearer; the deleted one's own cannot be
    assert _tuples_moved(_walk({0: {lea}}), renumbering([3], [], 20).__getitem__) \
        == ({lea: _held("addr:foo(%rip)#11")}, {12})
    assert _tuples_moved(_walk({0: {lea}}), renumbering([12], [], 20).__getitem__) \
        is None


def _walk(before: dict):
    """A walk's records as _tuples_moved reads them (its tuples before each node)."""
    return SimpleNamespace(before=before, after={}, held_positions=None)


def _added(k: int):
    return renumbering([], [k], 20).__getitem__


def test_renumbering():
    # old nodes 0..5; new instructions put in before old 1 and old 3
    assert renumbering([], [1, 4], 6) == [0, 2, 3, 5, 6, 7]
    # and taken out again: the reverse, None for them
    assert renumbering([1, 4], [], 8) == [0, None, 1, 2, None, 3, 4, 5]
    # one at the end (before a fork numbered after the instructions)
    assert renumbering([], [3], 4) == [0, 1, 2, 4]
    # one moved: taken out at 1, put in at new 3 (before old 4)
    assert renumbering([1], [3], 6) == [0, None, 1, 2, 4, 5]


def test_where_instructions_were_added():
    def ins(text: str):
        mnemonic, _, args = text.partition(" ")
        return SimpleNamespace(mnemonic=mnemonic, args=args, prefixes=(), mode=64, section=".text")

    old = [ins(t) for t in ("swapgs", "nop", "sysretq")]
    assert inserted(old, [ins(t) for t in ("swapgs", "movq %rax, %rbx", "nop", "sysretq")]) == [1]
    assert inserted(old, [ins(t) for t in ("swapgs", "nop", "nop", "sysretq")]) == [2]
    assert inserted(old, [ins(t) for t in ("swapgs", "nop", "sysretq", "ud2")]) == [3]
    assert inserted(old, [ins(t) for t in ("pause", "swapgs", "nop", "pause", "sysretq")]) == [0, 3]
    assert inserted(old, [ins(t) for t in ("swapgs", "pause", "sysretq", "ud2")]) is None
    assert inserted(old, [ins(t) for t in ("swapgs", "nop", "sysretq")]) == []
    assert inserted(old, [ins(t) for t in ("swapgs", "sysretq")]) is None
    # a line moved (taken out at one place, put in at another): both places
    assert edits(old + [ins("ud2")], [ins(t) for t in ("swapgs", "sysretq", "nop", "ud2")]) == ([1], [2])
    assert edits(old + [ins("ud2")], [ins(t) for t in ("pause", "swapgs", "nop", "ud2")]) == ([2], [0])
    assert edits(old, [ins(t) for t in ("swapgs", "pause", "sysretq")]) is None
    assert edits(old, [ins(t) for t in ("swapgs", "sysretq")]) == ([1], [])
    # taken out at two places, put in at one (a line of a body expanded
    # twice moved out of it): the fewest instructions that make the one of
    # the other; past the limit, none
    body = [ins(t) for t in ("swapgs", "nop", "sysretq", "ud2", "swapgs", "nop", "sysretq")]
    moved = [ins(t) for t in ("swapgs", "sysretq", "pause", "ud2", "swapgs", "sysretq")]
    assert edits(body, moved) == ([1, 5], [2])
    assert edits(moved, body) == ([2], [1, 5])
    assert script(body, moved, limit=2) is None
    # the same instructions as the last (the common head and tail): none
    assert script(body, list(body)) == ([], [])
