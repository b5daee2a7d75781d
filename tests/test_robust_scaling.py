"""Costs that grow with the size of a file grow linearly (issue 9): found by
tools/fuzz.py on limit-sized macro expansions (macro:5 of seed 1: 312,480
statements, 62,496 labels), where entry classification read every statement
once per symbol and took minutes."""

from __future__ import annotations

from pathlib import Path

import pytest

from entrylint import api
from entrylint.analysis import entries


class CountingList(list):
    passes = 0

    def __iter__(self):
        CountingList.passes += 1
        return super().__iter__()


def test_entry_classification_is_one_pass_over_the_statements():
    text = "".join(f"f{i}:\n nop\n" for i in range(500))
    an = api.analyze(Path("/nonexistent/scale/f.S"), api.Options(assemble=False, profile="max"), text=text)
    program = an.program
    assert len(program.symbols) >= 500
    program.statements = CountingList(program.statements)
    CountingList.passes = 0
    again = entries.find_entries(program, an.cfg)
    assert CountingList.passes <= 2  # not one per symbol
    assert [e.symbol for e in again] == [e.symbol for e in an.entries]
    labels = entries.label_macros(program)
    assert labels["f0"] == () and len(labels) >= 500


# a function called from C that counts a loop down from 200: the walk knows
# the counter (small integers are tracked for flag words), so without
# widening it walks the loop once per value, and each caller's count again
COUNTING = """\
	.text
	.globl count_down
	.type count_down, @function
count_down:
	movl	$200, %ecx
1:	nop
	subl	$1, %ecx
	jnz	1b
	ret
"""


def _walk(text: str, widen: int | None = None, monkeypatch=None):
    from entrylint.analysis import forward

    if widen is not None:
        monkeypatch.setattr(forward, "WIDEN", widen)
    from entrylint.program.decode import find_assembler

    if find_assembler() is None:  # without GNU as no instruction has effects: nothing is counted
        pytest.skip("no GNU as")
    return api.analyze(Path("/nonexistent/scale/count.S"), api.Options(assemble=True, profile="max"),
                       text=text).forward


def test_a_counting_loop_is_widened_not_walked_once_per_value(monkeypatch):
    from entrylint.analysis.forward import WIDEN

    fw = _walk(COUNTING)
    loop = max(fw.before, key=lambda n: len(fw.before[n]))
    assert fw.widened > 0
    assert len(fw.before[loop]) <= WIDEN + 4  # WIDEN counts, then the widened ones (known flags apart)
    assert fw.visits < 6 * (WIDEN + 2)
    # the loop's exit is still reached: the widened counter may be zero
    assert any(e.kind == "ret" for e in fw.event_list()) or fw.event_list("ret")
    # without widening (a bound above the loop's count) the walk unrolls it
    full = _walk(COUNTING, widen=1000, monkeypatch=monkeypatch)
    assert full.widened == 0 and full.visits > 200 * 3


def test_widening_only_forgets_integers(monkeypatch):
    """Widened at the second integer variant (WIDEN=1), the walk of a released entry_64.S
    still reaches every (origin, gs, cr3, stack, features) it reached with the
    integers known: widening over-approximates, it loses no path."""
    from entrylint.analysis import forward
    from entrylint.program.decode import find_assembler
    from kernels import shared_tree

    tree = shared_tree("linux-4.19.48")
    if tree is None or find_assembler() is None:
        pytest.skip("needs the 4.19.48 survey tree and GNU as")
    opts = api.Options(root=tree, assemble=True, profile="max")
    full = api.analyze(tree / "arch/x86/entry/entry_64.S", opts).forward
    monkeypatch.setattr(forward, "WIDEN", 1)
    wide = api.analyze(tree / "arch/x86/entry/entry_64.S", opts).forward
    assert wide.widened > full.widened
    for node, ts in full.before.items():
        assert {t.core() for t in ts} <= {t.core() for t in wide.before.get(node, ())}, node


class CountingTrace(tuple):
    """A trace that counts the frames read out of it."""
    read = 0

    def __iter__(self):
        for f in super().__iter__():
            CountingTrace.read += 1
            yield f

    def __getitem__(self, k):
        got = super().__getitem__(k)
        CountingTrace.read += len(got) if isinstance(k, slice) else 1
        return got


RECURSION = """\
\t.macro DOWN n
\t.if \\n
\tnop
\tDOWN \\n-1
\t.else
\tret
\t.endif
\t.endm
\t.macro SWITCH_TO_KERNEL_CR3 scratch_reg:req
\tmovq %cr3, \\scratch_reg
\t.endm
\t.text
f:
\tDOWN 60
\t.rept 3
\tSWITCH_TO_KERNEL_CR3 scratch_reg=%rax
\t.endr
\tret
"""


def test_the_names_in_deep_traces_are_read_once_per_frame():
    """A recursion 60 deep writes 60 statements with traces up to 60 frames:
    the names in them (the memory model, the contract family, the contracted
    instances: the walk and three rules ask) come from each frame once, and
    they are the names a frame-by-frame read of every trace finds."""
    an = api.analyze(Path("/nonexistent/scale/deep.S"), api.Options(assemble=False, profile="max"),
                     text=RECURSION)
    program = an.program
    depth = max(len(st.trace) for st in program.statements)
    assert depth >= 60
    for kind in (None, "macro"):
        for insns in (False, True):
            stmts = [i.stmt for i in program.instructions] if insns else program.statements
            naive = {f.name for st in stmts for f in st.trace if f.name and (kind is None or f.kind == kind)}
            program.memo.clear()
            assert program.trace_names(kind, insns) == naive
    assert {"DOWN", "SWITCH_TO_KERNEL_CR3"} <= program.trace_names("macro", True)
    all_frames = sum(len(st.trace) for st in program.statements)
    for st in program.statements:
        object.__setattr__(st, "trace", CountingTrace(st.trace))
    CountingTrace.read = 0
    program.memo.clear()
    program.trace_names()
    assert all_frames > 1500 and 0 < CountingTrace.read < all_frames / 5
    # the contracted instances (made by the walk, read by the rules from it):
    # the switch's movq is in one, once per repetition
    inst = an.forward.instances
    movs = [i.index for i in program.instructions if i.mnemonic == "movq"]
    assert len(movs) == 3 and all(len(inst[m]) == 1 for m in movs)


def test_a_tuple_is_widened_once_and_never_refers_to_itself():
    """The walk asks every pushed tuple for its widened form: made once and
    kept on the tuple; a tuple with nothing to forget answers itself without
    holding a reference to itself (the collector is paused during a check:
    a cycle per tuple would stay until the end)."""
    import gc

    from entrylint.analysis.state import Origin, Space, Stack, Tuple

    t = Tuple(Origin.USER, Space.USER, Space.USER, Stack.USER, held=(("rax", "int:3"), ("rbx", "percpu:x")),
              flags=(("zf", True),))
    w = t.widen()
    assert w.held == (("rbx", "percpu:x"),) and w.flags == () and t.widen() is w
    assert w.widen() is w and all(r is not w for r in gc.get_referents(w))
    assert hash(t) != hash(w) and t != w


def test_equal_tuples_are_one_object_wherever_they_are_made():
    """The walk hashes a tuple ~10 times a visit: a Python ``__hash__`` was a
    tenth of a walk.  Equal tuples are one object however they are made (the
    constructor, ``with_``, ``dataclasses.replace``, unpickling, threads
    making the same values at once), so the identity's hash serves; one no
    one uses is not kept."""
    import dataclasses
    import pickle
    import types
    import weakref
    from concurrent.futures import ThreadPoolExecutor

    from entrylint.analysis.state import Origin, Space, Stack, Tuple

    def make(k: int = 0) -> Tuple:
        return Tuple(Origin.KERNEL, Space.KERNEL, Space.USER, Stack.TASK, held=(("rax", f"int:{k}"),))

    t = make()
    assert not isinstance(type(t).__hash__, types.FunctionType)
    assert make() is t and make(1) is not t and make(1) != t
    assert t.with_(gs=Space.USER).with_(gs=Space.KERNEL) is t
    assert dataclasses.replace(t, held=()) is t.forget(("rax",)) and t.hold("rax", "int:0") is t
    assert pickle.loads(pickle.dumps([t, make(1)])) == [t, make(1)]
    assert pickle.loads(pickle.dumps(t)) is t
    with ThreadPoolExecutor(8) as ex:
        for k in range(2, 40):
            assert len({id(x) for x in ex.map(lambda _: make(k), range(64))}) == 1
    gone = weakref.ref(make(999))
    assert gone() is None  # no one held it: not kept either


def test_deep_if_nesting_costs_no_work_per_enclosing_group(tmp_path, monkeypatch):
    """3000 nested ``#if`` took 30 s (the fuzzer's size class, session 12):
    each directive joined every open group's conditions in a Python loop,
    and each line's condition (3000 records) was compared record by record
    for every profile.  The condition is now made from the innermost group
    alone and the records are shared, so equal conditions compare by
    identity: the records' __eq__ is hardly called."""
    from entrylint.cpp import CppOptions, preprocess_text
    from entrylint.cpp.types import Cond, line_conditions

    n = 1500
    text = "#if 1\n\tnop\n" * n + "#if 0\n#elif X\n#else\n\tswapgs\n#endif\n" + "#endif\n" * n
    calls = [0]
    eq = Cond.__eq__

    def counting(a, b):
        calls[0] += 1
        return eq(a, b)

    monkeypatch.setattr(Cond, "__eq__", counting)
    from entrylint.source.limits import DEFAULT

    deep = DEFAULT.with_(if_depth=4000)  # (if-depth, 256, would leave the inner conditions off the lines)
    res = api.check(tmp_path / "deep.S", api.Options(assemble=False, limits=deep), text=text)
    assert res.analysis is not None and calls[0] < 10 * n, calls[0]
    # the two runs share the records; a line's condition holds each group's once
    a = preprocess_text(text, str(tmp_path / "deep.S"), CppOptions(limits=deep))
    b = preprocess_text(text, str(tmp_path / "deep.S"), CppOptions(defines={"Y": None}, limits=deep))
    assert all(x is y for x, y in zip(a.lines[-1].cond, b.lines[-1].cond))
    # (the #else line: 1500 groups outside, the #if 0 and the #elif X as false)
    assert len(a.lines[-1].cond) == n + 2 and len(line_conditions(a.lines)) == n + 2


def _needs_gas():
    from entrylint.program.decode import find_assembler

    if find_assembler() is None:
        pytest.skip("no GNU as: no instruction has effects")


def _count(monkeypatch, owner, name) -> list[int]:
    """Count the calls of ``owner.name`` (a one-element list, read after)."""
    calls = [0]
    inner = getattr(owner, name)

    def counted(*a):
        calls[0] += 1
        return inner(*a)

    monkeypatch.setattr(owner, name, counted)
    return calls


class CountingPred(dict):
    """A walk's predecessor table that counts the lookups."""
    gets = 0

    def get(self, *a):
        CountingPred.gets += 1
        return super().get(*a)


def _chain(n: int, tuple_of=lambda i: None) -> tuple[list, CountingPred]:
    """Keys of one path of n steps and their predecessor table."""
    keys = [(i, tuple_of(i), 0) for i in range(n)]
    CountingPred.gets = 0
    return keys, CountingPred({k: ((keys[i - 1] if i else None), "next") for i, k in enumerate(keys)})


def test_widening_work_per_tuple_does_not_grow_with_the_tuples_at_a_node(monkeypatch):
    """fixtures/limits/flagwords.S: 64 tuples at each node after six 0/1
    words.  Which integers to forget at a crowded node was computed from
    every variant already there, for every new one and every queued one
    popped (eight words on 2,000 lines: 515k visits, 229 s for one profile);
    what a variant adds is now kept as it comes."""
    from entrylint.analysis import state

    _needs_gas()
    calls = _count(monkeypatch, state.Tuple, "ints")
    an = api.analyze(Path(__file__).resolve().parents[1] / "fixtures/limits/flagwords.S",
                     api.Options(assemble=True, profile="max"))
    fw = an.forward
    assert max(len(ts) for ts in fw.before.values()) == 64  # every word kept: nothing forgotten
    assert fw.widened > 0 and fw.visits > 64 * 10
    assert calls[0] < 4 * fw.visits, (calls, fw.visits)  # 65 a visit before: every variant read again


def test_the_paths_of_a_run_of_findings_along_one_path_cost_its_length_once(monkeypatch):
    """`.rept 400` of pushes on the user stack: a finding at each, each with
    the path from the entry.  Each path was walked from the entry again
    (8,000 pushes: 132 s); it is now made from the one asked for before."""
    from entrylint.analysis import state

    _needs_gas()
    n = 400
    text = f".globl entry_SYSCALL_64\nentry_SYSCALL_64:\n.rept {n}\n\tpushq %rax\n.endr\n\tsysretq\n"
    calls = _count(monkeypatch, state.Tuple, "core")
    res = api.check_one(Path("/nonexistent/scale/pushes.S"), api.Options(assemble=True, profile="max"), text=text)
    assert [f.id for f in res.findings if f.slug == "user-stack-access"], res.findings
    assert calls[0] < 10 * n, calls  # n * n / 2 before


def test_which_reported_step_a_path_passes_is_found_once_per_path_step():
    """group_inherited asks, for each finding of a state fault, for the first
    reported step on its path: along one path of N findings, N lookups in
    the walk's predecessors, not N * N / 2."""
    from types import SimpleNamespace

    from entrylint.analysis.walked import Forward
    from entrylint.findings.group import _first_reported

    n = 2000
    keys, pred = _chain(n)
    reported = {("gs", 10): "first", ("gs", 500): "second"}
    first = _first_reported(Forward(cfg=None, entries=[], pred=pred), reported, "gs")
    got = [first(SimpleNamespace(key=k)) for k in keys]
    assert got[:10] == [None] * 10 and set(got[10:]) == {"first"}
    assert CountingPred.gets <= 2 * n


def test_events_along_one_path_look_back_at_it_once(monkeypatch):
    """`.rept 400` of CR3 writes: save-reg-clobbered looks back from each
    for where the written register stopped holding a CR3 value.  Each looked
    at its whole path (20,000 writes: past 300 s); the search from a later
    write stops at the one before."""
    import entrylint_rules.save_reg_clobbered as rule

    _needs_gas()
    n = 400
    text = f".globl entry_SYSCALL_64\nentry_SYSCALL_64:\n\tswapgs\n.rept {n}\n\tmovq %rax, %cr3\n.endr\n\tsysretq\n"
    calls = _count(monkeypatch, rule, "_cr3")
    api.check_one(Path("/nonexistent/scale/writes.S"), api.Options(assemble=True, profile="max"), text=text)
    assert 0 < calls[0] < 10 * n, calls  # n * n / 2 before


def test_last_change_stops_at_the_key_asked_before():
    from types import SimpleNamespace

    from entrylint.analysis.walked import Forward
    from entrylint.plugins.support import last_change

    n = 2000
    keys, pred = _chain(n, lambda i: i == 5)  # the "tuple" holds only at node 5
    an = SimpleNamespace(forward=Forward(cfg=None, entries=[], pred=pred))
    got = [last_change(an, k, "held", lambda t, u: t and not u) for k in keys]
    assert got[:7] == [None] * 6 + [5] and set(got[6:]) == {5}
    assert CountingPred.gets <= 2 * n


def test_the_search_from_each_c_call_skips_what_reaches_no_reader(monkeypatch):
    """call-clobbered-read searches, from each C call and each register it
    clobbers that liveness calls live, for the first reader.  Liveness keeps
    a register alive across a partial write (``movb $1, %dil``), the search
    does not: here nothing reads %rdi's clobbered value, and each search
    crossed the 2,000 lines after the calls (400,400 nodes for 200 calls;
    the fuzzer's patch:42312 of seed 20 spent 33 s so).  The nodes from
    which no reader of the register can be reached are now not entered."""
    import entrylint_rules.call_clobbered_read as rule

    _needs_gas()
    made = []
    real = rule.Search.__init__

    def init(self, *a, **k):
        real(self, *a, **k)
        made.append(self)

    monkeypatch.setattr(rule.Search, "__init__", init)
    queries = _count(monkeypatch, rule.Search, "first")
    n, m = 200, 2000
    text = (".globl entry_SYSCALL_64\nentry_SYSCALL_64:\n\tswapgs\n"
            f".rept {n}\n\ttestq %rax, %rax\n\tjz 1f\n\tcall do_work\n\tjmp 2f\n1:\n.endr\n"
            f"2:\n.rept {m}\n\tnop\n.endr\n\tmovb $1, %dil\n\tshlq $56, %rdi\n\tud2\n")
    res = api.check_one(Path("/nonexistent/scale/calls.S"), api.Options(assemble=True, profile="max"), text=text)
    assert not [f for f in res.findings if f.slug == "call-clobbered-read"]
    assert queries[0] >= n  # %rdi after each call: live to liveness
    (search,) = [s for s in made if s.callee is not None]  # (the other: the table without one, unsearched)
    assert search.entered < 10 * n and sum(s.entered for s in made) == search.entered, search.entered  # n * m before


def test_the_walk_keeps_one_object_per_distinct_tuple():
    """Three 0/1 words, then 50 instructions that each change the tuple
    (``movq %r8, %rdx``: every visit steps).  Each step made a new object,
    so a walk whose every visit steps kept one per visit (a million objects
    for 640 tuples at analysis-visits, 885 MB); equal tuples are now one
    object (and what each works out once, its hash, widen(), ints(), is
    worked out once)."""
    _needs_gas()
    words = ("r8", "r9", "r10")
    text = (".globl entry_SYSCALL_64\nentry_SYSCALL_64:\n\tswapgs\n"
            + "".join(f"\ttestq %rax, %rax\n\tjz 1f\n\tmovl $1, %{r}d\n1:\n" for r in words)
            + ".rept 50\n\tmovq %r8, %rdx\n.endr\n" + "".join(f"\tpushq %{r}\n" for r in words)
            + "\tswapgs\n\tsysretq\n")
    fw = api.analyze(Path("/nonexistent/scale/moves.S"), api.Options(assemble=True, profile="max"), text=text).forward
    kept = [t for ts in (*fw.before.values(), *fw.after.values()) for t in ts] + [k[1] for k in fw.pred]
    assert fw.steps > 200 and len(kept) > 1000
    assert len({id(t) for t in kept}) == len(set(kept)), (len({id(t) for t in kept}), len(set(kept)))  # 217 vs 20
