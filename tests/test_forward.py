"""The forward state (MODEL 3): transfer functions, refinements, summaries,
alternative forks, entry points -- on fixtures written for them."""

from __future__ import annotations

from pathlib import Path

import pytest

from entrylint import api
from entrylint.analysis.state import Feature, Origin, Space, Stack

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "analysis"
U, K = Space.USER, Space.KERNEL


@pytest.fixture(scope="module")
def analyses():
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = api.analyze(FIX / name)
        return cache[name]
    return get


def line_of(name: str, needle: str, nth: int = 0) -> int:
    hits = [i for i, line in enumerate((FIX / name).read_text().splitlines(), 1)
            if needle in line and not line.lstrip().startswith(("/*", "*"))]
    return hits[nth]


def at(an, name, needle, nth=0, when="before"):
    """The (origin, gs, cr3, stack) tuples before/after the instruction on that line."""
    line = line_of(name, needle, nth)
    (ins,) = [i for i in an.program.instructions if i.location.line == line]
    ts = getattr(an.forward, when).get(ins.index, set())
    return {(t.origin, t.gs, t.cr3, t.stack) for t in ts}


def test_syscall_entry_swapgs_then_cr3_then_task_stack(analyses):
    an = analyses("forward_syscall.S")
    name = "forward_syscall.S"
    assert [(e.symbol, e.kind.name) for e in an.entries] == [("entry_SYSCALL_64", "syscall")]
    assert at(an, name, "swapgs") == {(Origin.USER, U, U, Stack.USER)}
    assert at(an, name, "swapgs", when="after") == {(Origin.USER, K, U, Stack.USER)}
    # the user %rsp is the CR3 scratch: the stack is unknown until the task stack is loaded
    assert at(an, name, "movq\t%rsp, %cr3", when="after") == {(Origin.USER, K, K, Stack.UNKNOWN)}
    assert at(an, name, "pcpu_hot+24, %rsp", when="after") == {(Origin.USER, K, K, Stack.TASK)}
    assert at(an, name, "call\tdo_syscall_64") == {(Origin.USER, K, K, Stack.TASK)}
    assert at(an, name, "sysretq") == {(Origin.USER, U, U, Stack.TASK)}
    (exit_,) = an.forward.event_list("exit-user")
    assert exit_.before.gs is U and exit_.before.cr3 is U


def test_cr3_write_events_say_what_was_written(analyses):
    an = analyses("forward_syscall.S")
    details = sorted(e.detail for e in an.forward.event_list("cr3-write"))
    assert details == ["pti:kernel", "pti:user"]


def test_cr3_written_back_unchanged_is_no_switch(tmp_path):
    """MODEL 3.1: a switch moves between the page tables; the kernel one
    written back while CR3 holds it (a TLB flush, a saved CR3 restored where
    it never left) is not.  A write of the user page table is a switch."""
    src = tmp_path / "flush.S"
    src.write_text("\t.text\n\t.globl f\n\t.type f, @function\nf:\n"
                   "\tmovq %cr3, %rcx\n\tmovq %rcx, %cr3\n"   # flush: same
                   "\tmovq %rdi, %cr3\n"                        # another table: not PTI
                   "\tmovq %rcx, %cr3\n"                        # the saved one back: same
                   "\torq $0x1000, %rcx\n\tmovq %rcx, %cr3\n"  # the user table: a switch
                   "\tret\n")
    an = api.analyze(src)
    got = [(an.program.instructions[e.node].location.line, e.detail) for e in an.forward.event_list("cr3-write")]
    assert sorted(set(got)) == [(6, "same:kernel"), (7, "not-pti"), (8, "same:kernel"), (10, "pti:user")]


def test_saved_cs_test_splits_on_origin(analyses):
    an = analyses("forward_idt.S")
    name = "forward_idt.S"
    assert at(an, name, "testb\t$3, CS(%rsp)") == {(Origin.USER, U, U, Stack.ENTRY), (Origin.KERNEL, K, K, Stack.TASK)}
    # only the tuple from user mode reaches the SWAPGS and the switch
    assert at(an, name, "swapgs") == {(Origin.USER, U, U, Stack.ENTRY)}
    assert at(an, name, "call\texc_page_fault") == {(Origin.USER, K, K, Stack.ENTRY),
                                                     (Origin.KERNEL, K, K, Stack.TASK)}
    exits = {(e.kind, e.before.gs, e.before.cr3) for e in an.forward.event_list()
             if e.kind in ("exit-user", "return-kernel")}
    assert exits == {("exit-user", U, U), ("return-kernel", K, K)}


def test_paranoid_cr3_bit_and_gs_sign_refinements(analyses):
    an = analyses("forward_paranoid.S")
    name = "forward_paranoid.S"
    # the CR3 write happens only on tuples that held the user page table
    assert {t[2] for t in at(an, name, "movq\t%rax, %cr3")} == {U}
    # swapgs only where the GS-base MSR was not the kernel's (sign test)
    assert {t[1] for t in at(an, name, "swapgs", 0)} == {U}
    # the exit swapgs only where the entry swapped (a flag kept in %ebx)
    assert {t[1] for t in at(an, name, "swapgs", 1)} == {K}
    # the restore from %r14 gives every path back the CR3 it came with
    before_restore = at(an, name, "movq\t%r14, %cr3")
    assert {t[2] for t in before_restore} == {K}
    iret = {(t.origin, t.gs, t.cr3) for t in an.forward.before[
        next(i.index for i in an.program.instructions if i.mnemonic == "iretq")]}
    starts = {(t.origin, t.gs, t.cr3) for e in an.entries for t in e.kind.tuples}
    assert iret == starts


def test_summary_per_caller_tuple(analyses):
    an = analyses("forward_summary.S")
    name = "forward_summary.S"
    assert {e.symbol for e in an.entries} == {"asm_exc_divide_error", "asm_exc_overflow"}
    after_call = at(an, name, "call\texc_divide_error")
    assert after_call == {(Origin.USER, K, K, Stack.ENTRY), (Origin.KERNEL, K, K, Stack.TASK)}
    # the helper is analysed once per input tuple and shared by both callers
    calls = [c for c in an.forward.contexts if c.kind == "call"]
    assert {(c.name, c.start.origin) for c in calls} == {("switch_in", Origin.USER), ("switch_in", Origin.KERNEL)}


def test_alternative_gate_pti_off_keeps_one_page_table(analyses):
    an = analyses("forward_alternative.S")
    (write,) = [e for e in an.forward.event_list("cr3-write")]
    assert write.before.feature("X86_FEATURE_PTI") is Feature.ON
    at_call = {(t.cr3, t.feature("X86_FEATURE_PTI")) for t in an.forward.before[
        next(i.index for i in an.program.instructions if i.text.startswith("call"))]}
    assert at_call == {(K, Feature.ON), (U, Feature.OFF)}
    assert all(t.feature("X86_FEATURE_PTI") is not Feature.OFF or t.cr3 is U
               for ts in an.forward.before.values() for t in ts)


def test_gs_base_save_and_restore(analyses):
    an = analyses("forward_gsbase.S")
    name = "forward_gsbase.S"
    assert {t[1] for t in at(an, name, "call\texc_machine_check")} == {K}
    back = at(an, name, "iretq")
    assert back == {(t.origin, t.gs, t.cr3, t.stack) for e in an.entries for t in e.kind.tuples}


def test_paths_lead_back_to_the_entry(analyses):
    an = analyses("forward_idt.S")
    fw = an.forward
    (ev,) = [e for e in fw.event_list("exit-user")]
    path = list(fw.back(fw.key_of("exit-user", ev.node, ev.before, ev.detail)))[::-1]
    assert path[0][2].startswith("entry asm_exc_page_fault")
    lines = [an.program.instructions[n].location.line for n, _, _ in path if n < len(an.program.instructions)]
    assert lines == sorted(lines) and lines[-1] == line_of("forward_idt.S", "iretq")


def test_config_compiles_features_out():
    exp_on = api.analyze(FIX / "forward_alternative.S", api.Options(defines={"CONFIG_PAGE_TABLE_ISOLATION": "1"}))
    # without a kernel tree the fixture's own feature table is all there is: PTI stays possible
    assert any(t.feature("X86_FEATURE_PTI") is Feature.ON for ts in exp_on.forward.before.values() for t in ts)
    off = api.analyze(FIX / "forward_alternative.S", api.Options(profile="pti-off"))
    assert not any(t.feature("X86_FEATURE_PTI") is Feature.ON for ts in off.forward.before.values() for t in ts)


def test_explain_cli_json():
    import json
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    line = line_of("forward_syscall.S", "movq\t%rsp, %cr3")
    proc = subprocess.run([sys.executable, "-m", "entrylint", "explain", "--format", "json",
                           f"{FIX / 'forward_syscall.S'}:{line}"], capture_output=True, text=True,
                          cwd=repo, env={"PYTHONPATH": str(repo), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    (item,) = data["instructions"]
    (before,) = item["before"]
    assert {k: before[k] for k in ("origin", "gs", "cr3", "stack")} == \
        {"origin": "user", "gs": "kernel", "cr3": "user", "stack": "unknown"}
    # defconfig compiles Xen PV and FRED out: every path knows it
    assert before["features"] == {"X86_FEATURE_FRED": "off", "X86_FEATURE_XENPV": "off"}
    assert item["after"][0]["cr3"] == "kernel"
    assert "rax" in item["live_before"]


SHARED_TAIL = """\
#define SYM_CODE_START(x) .globl x; x:
#define SYM_CODE_END(x)
.macro idtentry name
SYM_CODE_START(\\name)
	testb	$3, 8(%rsp)
	jz	1f
	swapgs
1:	call	do_\\name
	jmp	error_return
SYM_CODE_END(\\name)
.endm
	idtentry asm_exc_one
	idtentry asm_exc_two
	idtentry asm_exc_three
error_return:
	testb	$3, 8(%rsp)
	jz	2f
	swapgs
	movq	%rax, %rbx
	movq	%rbx, %rcx
	iretq
2:	iretq
"""


def test_entries_of_one_kind_walk_the_code_they_share_once():
    # three IDT entries jump to one exit path: it is walked once per (node,
    # tuple), not once more for each entry that reaches it with that tuple
    an = api.analyze("shared_tail.S", api.Options(root=None), text=SHARED_TAIL)
    kinds = {e.symbol: e.kind.name for e in an.entries}
    assert set(kinds) == {"asm_exc_one", "asm_exc_two", "asm_exc_three"} and len(set(kinds.values())) == 1
    tail = an.program.labels["error_return"]
    visits: dict[int, list] = {}
    for node, t, _ in an.forward.pred:
        visits.setdefault(node, []).append(t)
    for node in range(tail, len(an.program.instructions)):
        assert visits[node] and len(visits[node]) == len(set(visits[node])), node
    # and it knows what each entry alone finds there
    alone = [api.analyze("one.S", api.Options(root=None), text=SHARED_TAIL.replace(
        "\tidtentry asm_exc_two\n", "").replace("\tidtentry asm_exc_three\n", "").replace("asm_exc_one", name))
        for name in ("asm_exc_one", "asm_exc_two")]
    for a in alone:
        assert len(a.entries) == 1
        t0 = a.program.labels["error_return"]
        for k in range(len(a.program.instructions) - t0):
            assert a.forward.before[t0 + k] == an.forward.before[tail + k]


def test_instructions_alike_step_a_tuple_once(tmp_path, monkeypatch):
    # 30 copies of one move on the two tuples a 0/1 word makes: step() works
    # each tuple out once for all of them, and the walk still counts (and
    # records) every (instruction, tuple) pair as its own step
    import entrylint.analysis.forward as forward

    calls = []
    real = forward.step
    monkeypatch.setattr(forward, "step", lambda ins, t, cfg: calls.append(ins.index) or real(ins, t, cfg))
    def walk(copies):
        src = tmp_path / f"alike{copies}.S"
        src.write_text(".globl entry_SYSCALL_64\nentry_SYSCALL_64:\n\tswapgs\n\ttestq %rax, %rax\n\tjz 1f\n"
                       f"\tmovl $1, %r8d\n1:\n.rept {copies}\n\tmovq %r8, %rdx\n.endr\n\tpushq %r8\n"
                       "\tswapgs\n\tsysretq\n")
        return api.analyze(src)

    one = walk(1)
    calls.clear()
    an = walk(30)
    moves = [i.index for i in an.program.instructions if i.mnemonic == "movq"]
    assert len(moves) == 30
    for n in moves:
        before = an.forward.before[n]
        assert {t.holds("r8") for t in before} == {None, "int:1"}  # the two tuples, at every copy
        if n != moves[-1]:
            assert an.forward.after[n] == before  # %rdx is dead after the copy: forgotten again
    # the last copy's %rdx goes back to user space (live): kept, its own node's doing
    assert {(t.holds("r8"), t.holds("rdx")) for t in an.forward.after[moves[-1]]} == {(None, None), ("int:1", "int:1")}
    stepped_moves = [n for n in calls if n in moves]
    # the tuple without a value in %r8 passes quietly (transfer.quiet); the
    # other is stepped once, at the first copy, for all 30
    assert stepped_moves == [moves[0]]
    # the analysis-steps budget counts every (instruction, tuple) pair: 29
    # more copies are 29 more steps, as before the copies shared them
    assert an.forward.steps - one.forward.steps == 29


def test_a_step_memo_serves_the_next_walk_of_the_same_configuration_only(tmp_path, monkeypatch):
    # walking.StepMemo keeps step()'s results from one walk to the next (the
    # language server's re-analyses): a second walk looks every step up, and
    # what a call out of the program clobbers is part of what is looked up,
    # so a callee that changed (its file edited on disk) is stepped again
    from dataclasses import replace

    import entrylint.analysis.forward as forward
    from entrylint.analysis import walking
    from entrylint.analysis.walking import transfer_config

    src = tmp_path / "memo.S"
    src.write_text(".globl entry_SYSCALL_64\nentry_SYSCALL_64:\n\tswapgs\n\tmovl $1, %r8d\n\tcall do_thing\n"
                   "\tpushq %r8\n\tswapgs\n\tsysretq\n")
    an = api.analyze(src)
    base = transfer_config(an.program, an.expansion, an.callees)
    keeps = replace(base, clobbers=lambda name: frozenset({"rax"}))
    loses = replace(base, clobbers=lambda name: frozenset({"rax", "r8"}))
    push = next(i.index for i in an.program.instructions if i.mnemonic == "pushq")
    calls = []
    real = forward.step
    monkeypatch.setattr(forward, "step", lambda ins, t, cfg: calls.append(ins.index) or real(ins, t, cfg))

    def walk(config, memo=None):
        calls.clear()
        return forward.analyze(an.program, an.cfg, an.entries, config, live_out=an.liveness.live_out, memo=memo)

    def r8(fw):
        return {t.holds("r8") for t in fw.before[push]}

    fresh = {name: walk(c) for name, c in (("keeps", keeps), ("loses", loses))}
    n_fresh = len(calls)  # the steps of a walk from nothing (under ``loses``)
    assert r8(fresh["keeps"]) == {"int:1"} and r8(fresh["loses"]) == {None}
    memo = walking.StepMemo()
    walk(keeps, memo)
    assert calls
    # the signatures name decoder records by id: the memo keeps each alive,
    # so no later record can take an id the tables use
    walked = {i.info for i in an.program.instructions if i.info is not None}
    assert all(memo.held[id(info)] is info for info in walked)
    again = walk(keeps, memo)
    assert calls == [] and again.before == fresh["keeps"].before and again.steps == fresh["keeps"].steps
    other = walk(loses, memo)  # the same key, another callee: the call is stepped again
    call = next(i.index for i in an.program.instructions if i.mnemonic == "call")
    assert call in calls and other.before == fresh["loses"].before
    # another transfer configuration empties the tables
    moved = replace(keeps, key=(*keeps.key[:-1], frozenset({"some_var"})))
    walk(moved, memo)
    assert memo.key == moved.key and len(calls) == n_fresh
    # a walk that left more than the limit keeps nothing
    small = walking.StepMemo(limit=2)
    walk(keeps, small)
    assert small.by_sig == {} and small.key is None
    walk(keeps, small)
    assert len(calls) == n_fresh
    # no key: nothing kept
    assert walking.StepMemo().tables(replace(base, key=None)) == ({}, {})


def test_event_lists_by_kind_follow_the_events():
    """``event_list(kind)``: the events of that kind in the order the walk
    met them, from lists made once -- and made again if events were added."""
    from entrylint.analysis.transfer import Event
    from entrylint.analysis.walked import Forward

    fw = Forward(cfg=None, entries=[])
    for k, n in (("exit-user", 3), ("cr3-write", 1), ("exit-user", 2)):
        fw.events[(k, n, None, "")] = (n, None, 0)
    assert fw.event_list("exit-user") == [Event("exit-user", 3, None, ""), Event("exit-user", 2, None, "")]
    assert fw.event_list("c-call") == []
    got = fw.event_list("cr3-write")
    got.clear()  # (a caller's list is its own)
    fw.events[("cr3-write", 7, None, "pti")] = (7, None, 0)
    assert fw.event_list("cr3-write") == [Event("cr3-write", 1, None, ""), Event("cr3-write", 7, None, "pti")]
    assert [e.kind for e in fw.event_list()] == ["exit-user", "cr3-write", "exit-user", "cr3-write"]


def test_a_work_flags_test_is_no_rpl_test(tmp_path):
    # forward_syscall.S with a 4.4-style exit: a fast path taken unless a word
    # of work flags beside the frame has a bit set.  testl $0xfeff, 8(%rsp)
    # has the RPL's two bits in its mask but tests no saved CS: both ways are
    # walked (4.4's SYSCALL fast path never was: its _TIF_ALLWORK_MASK test
    # was taken for "from user")
    text = (FIX / "forward_syscall.S").read_text()
    call, exit_ = "\tcall\tdo_syscall_64\n", text[text.index("\tpopq\t%rax\n"):]
    assert text.count(call) == 1 and text.endswith("sysretq\n")
    f = tmp_path / "work_flags.S"
    f.write_text(text.replace(call, call + "\ttestl\t$0xfeff, 8(%rsp)\n\tjnz\t.Lslow\n")
                 + ".Lslow:\n\tcall\tdo_work\n" + exit_)
    an = api.analyze(f)
    fast, slow = (a for a in an.program.instructions if a.text == "popq %rax")
    assert {(t.origin, t.cr3, t.stack) for t in an.forward.before[fast.index]} \
        == {(t.origin, t.cr3, t.stack) for t in an.forward.before[slow.index]} == {(Origin.USER, K, Stack.TASK)}
    assert len(an.forward.event_list("exit-user")) == 2


# Two paths from a branch to a join, one of one instruction, one of three,
# the same tuple on both: which reaches the join first is the path a finding
# there shows.  Instructions added to the short one (an editor's keystrokes)
# must not change it: the walk takes straight-line code whole (forward.py).
JOIN = """.globl entry_SYSCALL_64
entry_SYSCALL_64:
\tswapgs
\ttestl\t%eax, %eax
\tjz\t1f
\tmovq\t%rdi, %rsi
\tmovq\t%rsi, %rdx
\tmovq\t%rdx, %rcx
2:\tswapgs
\tsysretq
1:{added}\tmovq\t%rdi, %r10
\tjmp\t2b
"""


def _walk_mapped(tmp_path, added: int):
    """The walk of JOIN with ``added`` nops at the head of the short path:
    its records with every node numbered as in the text without them, and
    the source line before which the join was first reached."""
    text = JOIN.format(added="\tnop\n" * added)
    path = tmp_path / f"join{added}.S"
    path.write_text(text)
    an = api.analyze(path, api.Options(profile="defconfig"), text=text)
    lines = text.splitlines()
    ins = an.program.instructions
    nops = {i.index for i in ins if lines[i.location.line - 1].endswith("\tnop")}
    start = min(nops, default=len(ins))

    def mapped(n):  # the node's number in the text without the nops
        return n if n < start else n - len(nops)

    def key(k):
        return None if k is None else (mapped(k[0]), k[1], k[2])

    def before_nops(k):  # the pred of a key, past the added nops
        while k is not None and k[0] in nops:
            k = an.forward.pred[k][0]
        return k
    raw = {k: before_nops(p) for k, (p, _) in an.forward.pred.items() if k[0] not in nops}
    pred = {key(k): key(p) for k, p in raw.items()}
    events = sorted((kind, mapped(n), t, d) for kind, n, t, d in an.forward.events)
    (join,) = [i.index for i in ins if "2:" in lines[i.location.line - 1]]
    first = {lines[ins[p[0]].location.line - 1].strip() for k, p in raw.items() if k[0] == join}
    return pred, events, first


def test_straight_line_code_added_leaves_the_walk_as_it_was(tmp_path):
    pred, events, first = _walk_mapped(tmp_path, 0)
    assert first == {"jmp\t2b"}  # (the short path's, with or without the added code)
    for added in (1, 3, 6):
        got = _walk_mapped(tmp_path, added)
        assert got == (pred, events, first), added


def test_key_at_is_the_first_context_along_the_links_however_it_is_asked(monkeypatch):
    """``key_at(node, tuple)``: the first key of the pair in the walk's
    order (not the lowest context), whether the contexts are tried alone (one
    reached the pair), the pairs at its node are indexed (several did), or,
    past ``_SCANS`` such nodes, every node's pairs; ``keys_at(nodes)`` gives
    the same keys for the pairs at those nodes.  The answers are kept, and
    a walk taken again (the same links) shares them."""
    from dataclasses import replace

    from entrylint.analysis import walked
    from entrylint.analysis.walked import Context, Forward

    a, b = object(), object()  # two tuples (compared by identity, as the walk's are)
    links = [(1, a, 0), (5, b, 2), (5, a, 1), (5, b, 0), (7, a, 2), (5, a, 2), (9, b, 1)]
    pred = {k: (None, "entry") for k in links}
    contexts = [Context("entry", 0, None, f"e{c}") for c in range(3)]
    want = {(5, b): (5, b, 2), (5, a): (5, a, 1), (1, a): (1, a, 0), (7, a): (7, a, 2), (9, b): (9, b, 1),
            (1, b): None, (8, a): None}
    monkeypatch.setattr(walked, "_SCANS", 1)
    fw = Forward(cfg=None, entries=[], pred=pred, contexts=contexts)
    assert fw.key_at(5, b) == (5, b, 2) and fw._keyed == {5}  # (node 5's pairs indexed)
    assert fw.key_at(5, a) == (5, a, 1) and fw._scans == 1  # (answered from that index)
    assert {p: fw.key_at(*p) for p in want} == want
    fw2 = Forward(cfg=None, entries=[], pred=dict(reversed(list(pred.items()))), contexts=contexts)
    fw2.key_at(5, b)
    assert fw2._keyed == {5} and fw2._keys[(5, b)] == (5, b, 0)  # (another walk order, another first)
    fw3 = Forward(cfg=None, entries=[], pred={**pred, (7, b, 0): (None, ""), (7, b, 1): (None, "")},
                  contexts=contexts)
    fw3.key_at(5, b)
    assert fw3.key_at(7, b) == (7, b, 0) and fw3._keyed == {1, 5, 7, 9}  # (the second such node: every node)
    assert {p: fw.key_at(*p) for p in want} == want
    fresh = Forward(cfg=None, entries=[], pred=pred, contexts=contexts)
    got = fresh.keys_at([5, 9])
    assert {p: got.get(p) for p in want if p[0] in (5, 9)} == {p: k for p, k in want.items() if p[0] in (5, 9)}
    assert fresh._keyed == {5, 9}
    again = replace(fresh, memo={})  # (a walk taken again: rewalk.py)
    assert again._keys is fresh._keys and again.key_at(9, b) == (9, b, 1)
    assert {p: again.key_at(*p) for p in want} == want
