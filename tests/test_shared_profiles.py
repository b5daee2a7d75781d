"""The profiles of one check share the program (and what is made of its
instructions alone) when the configuration cannot reach it (entrylint/shared.py):
the findings are those of a check that builds everything per profile."""

from __future__ import annotations

from pathlib import Path

import pytest

from entrylint import api
from entrylint.shared import Shared

REPO = Path(__file__).resolve().parents[1]
FILES = sorted([*(REPO / "fixtures" / "rules").glob("*.S"), *(REPO / "fixtures" / "profiles").glob("*.S"),
                REPO / "fixtures" / "kaiser-2017" / "arch" / "x86" / "entry" / "entry_64.S"])


def _findings(path, monkeypatch, share: bool):
    import entrylint.program.build as build

    built = []
    real = build.build_program

    def counted(*a, **kw):
        built.append(1)
        return real(*a, **kw)

    with monkeypatch.context() as m:
        m.setattr(build, "build_program", counted)
        if not share:
            m.setattr(Shared, "program_for", lambda self, *a, **kw: None)
        res = api.check(path, api.Options())
    return [repr(f) for f in res.findings], len(built)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_shared_profiles_find_what_separate_ones_find(path, monkeypatch):
    shared, n_shared = _findings(path, monkeypatch, True)
    alone, n_alone = _findings(path, monkeypatch, False)
    assert shared == alone
    assert n_alone == 3 and 1 <= n_shared <= 3


def _walks(path, monkeypatch, carry: bool):
    """What each profile's walk records, and the nodes planned (forward.plan)."""
    from entrylint.analysis import forward, walking

    planned, walks = [], []
    real_plan, real_walk = forward.plan, walking.walk

    def walked(*a, **kw):
        got = real_walk(*a, **kw)
        fw = got[0]
        walks.append((list(fw.before.items()), list(fw.after.items()), list(fw.events.items()),
                      list(fw.pred.items()), list(fw.exit_state.items()), list(fw.kernel_returns.items()),
                      fw.contexts, fw.steps))
        return got

    with monkeypatch.context() as m:
        m.setattr(forward, "plan", lambda *a: planned.append(a[0]) or real_plan(*a))
        m.setattr(walking, "walk", walked)
        if not carry:
            m.setattr(walking.StepMemo, "plans_for", lambda self, *a: None)
        api.check(path, api.Options())
    return walks, len(planned)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_a_profile_s_walk_takes_the_plans_of_the_last_one_on_its_cfg(path, monkeypatch):
    """The profiles that share the CFG plan each node once (StepMemo.plans_for):
    every walk records what a walk that plans every node itself records, in
    the same order."""
    carried, n_carried = _walks(path, monkeypatch, True)
    alone, n_alone = _walks(path, monkeypatch, False)
    assert carried == alone
    assert n_carried <= n_alone


def test_the_plans_are_made_once_for_a_program_every_profile_shares(monkeypatch):
    fewer = [p.name for p in FILES if _walks(p, monkeypatch, True)[1] < _walks(p, monkeypatch, False)[1]]
    assert len(fewer) >= 5, fewer


def test_a_call_out_of_the_program_is_planned_again_under_another_configuration():
    """A plan of a call or jump out of the program reads what the callee
    clobbers or whether another file defines it: it is not taken; the rest
    are, by a walk of the same CFG under a configuration of the same key and
    the same contracted instances -- and none by a walk of another."""
    from dataclasses import replace

    from entrylint.analysis.contracts import contract_instances
    from entrylint.analysis.forward import analyze
    from entrylint.analysis.walking import StepMemo, transfer_config

    path = REPO / "fixtures" / "kaiser-2017" / "arch" / "x86" / "entry" / "entry_64.S"
    an = api.analyze(path, api.Options(profile="defconfig"))
    program, cfg = an.program, an.cfg
    config = replace(transfer_config(program), clobbers=lambda name: frozenset({"rax"}))
    inst = contract_instances(program, cfg)
    memo = StepMemo()
    fw = analyze(program, cfg, an.entries, config, live_out=an.liveness.live_out, memo=memo, instances=inst)
    visited = {n for n in fw.before if n < cfg.n}
    out = {n for n in visited if program.instructions[n].target is None and program.instructions[n].target_name}
    assert out and visited - out
    plans = memo.plans_for(cfg, config, inst)
    assert set(plans) == visited - out
    assert memo.plans_for(cfg.rebased(program), config, inst) is None  # another CFG object
    assert memo.plans_for(cfg, replace(config, key=("another",)), inst) is None
    assert memo.plans_for(cfg, replace(config, external=lambda name, t: None), inst) is None
    assert memo.plans_for(cfg, config, {**inst, 0: ("somewhere",)}) is None


def test_a_file_the_configuration_cannot_reach_is_built_once(monkeypatch):
    # no #if: every profile reads the same lines; only the features compiled out differ
    built = sum(_findings(p, monkeypatch, True)[1] == 1 for p in FILES)
    assert built >= 5, built


def test_a_different_callee_answer_makes_liveness_anew():
    from entrylint.shared import LoggedCallees

    class Answer:
        def __init__(self, reads):
            self.reads, self.clobbers = reads, frozenset({"rax"})

    log = LoggedCallees(lambda name: Answer(frozenset({"rdi"})))
    log("do_work")
    s = Shared()
    prog = type("P", (), {"instructions": []})()
    s.program = prog
    s.keep_analysis(prog, "cfg", "procs", "live", "flags", log.log)
    assert s.analysis_for(prog, lambda name: Answer(frozenset({"rdi"}))) == ("cfg", "procs", "live", "flags")
    assert s.analysis_for(prog, lambda name: Answer(frozenset({"rsi"}))) == ("cfg", "procs", None, "flags")
    other = type("P", (), {"instructions": []})()
    assert s.analysis_for(other, lambda name: Answer(frozenset({"rdi"}))) is None


@pytest.mark.parametrize("order", [("pti-off", "max"), ("max", "pti-off")])
def test_a_shared_program_has_the_profile_s_own_compiled_out_features(order):
    # whichever profile builds first, the next one's program lists the features
    # its own configuration compiles out (not the first profile's, nor both)
    path = REPO / "fixtures" / "rules" / "c_call_user_cr3_fires.S"
    s = Shared()
    first = api.expand(path, api.Options(profile=order[0]), shared=s)
    second = api.expand(path, api.Options(profile=order[1]), shared=s)
    alone = [api.expand(path, api.Options(profile=p)) for p in order]
    assert second.program.instructions is first.program.instructions  # shared
    assert first.program.disabled == alone[0].program.disabled
    assert second.program.disabled == alone[1].program.disabled
    assert alone[0].program.disabled != alone[1].program.disabled  # the fixture tells them apart


def test_what_entries_read_of_a_shared_program_is_made_once(monkeypatch):
    # classifying entry points reads, for every label, the macros that wrote
    # it: a walk over every statement's trace, the same for every profile
    # that shares the statements (macro:73601 of tools/fuzz.py: 1.7 s of 13)
    import entrylint.analysis.entries as entries

    calls = []
    real = entries.label_macros

    def counted(program):
        calls.append(program.statements)
        return real(program)

    monkeypatch.setattr(entries, "label_macros", counted)
    path = REPO / "fixtures" / "rules" / "c_call_user_cr3_fires.S"
    s = Shared()
    runs = [api.analyze(path, api.Options(profile=p), shared=s) for p in ("max", "defconfig", "pti-off")]
    assert runs[1].program.statements is runs[0].program.statements  # shared
    assert len(calls) == 1
    assert s.kinds and all(k is None or k.name for k in s.kinds.values())  # classified once, kept
    alone = api.analyze(path, api.Options(profile="pti-off"))
    assert len(calls) == 2
    assert [(e.symbol, e.node, e.kind) for e in runs[2].entries] == [(e.symbol, e.node, e.kind) for e in alone.entries]


@pytest.mark.parametrize("name", ["entry_64.S", "macro_program"])
def test_a_check_leaves_no_reference_cycles_behind(name, tmp_path):
    """api.check drops each profile's analysis before the next one is made and
    the CLI runs with the cyclic collector off: what a check made must go by
    reference counts alone.  After a check with the collector paused, a
    collection finds no object of entrylint's (a cycle through an analysis
    would keep all of it: hundreds of MB on a large file)."""
    import gc

    if name == "entry_64.S":
        path = REPO / "fixtures" / "kaiser-2017" / "arch" / "x86" / "entry" / "entry_64.S"
    else:  # a recursive macro program with labels, forks of conditions and .set
        path = tmp_path / "m.S"
        path.write_text(".set cnt, 0\n.macro M n\n\tswapgs\nlabel\\@: jmp label\\@\n\t.set cnt, cnt+1\n"
                        "\t.if cnt < 300\n\tM \\n\n\t.endif\n.endm\n\tM 1\n\tmovq %rax, %cr3\n")
    gc.collect()
    was = gc.isenabled()
    gc.disable()
    try:
        res = api.check(path, api.Options(), keep_analysis=False)
        assert res.text is not None
        del res
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        ours = sorted({type(o).__qualname__ for o in gc.garbage
                       if (getattr(type(o), "__module__", "") or "").startswith(("entrylint", "rules"))})
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        if was:
            gc.enable()
    assert ours == []


def test_the_check_keeps_the_plans_of_the_last_walk_not_the_walk(monkeypatch):
    """Between two profiles the check's StepMemo holds the last walk's plans
    (what the next walk on the same CFG takes), not the walk: its records
    would be held while the next profile's program is made (a file at the
    limits: tens of MB)."""
    from entrylint.analysis import walking

    kept = []
    real = walking.walk

    def walked(program, cfg, entries, config, live_out, limits, shared=None, memo=None):
        got = real(program, cfg, entries, config, live_out, limits, shared, memo)
        kept.append((memo.last, memo.planned is not None and memo.planned[0] is cfg))
        return got

    monkeypatch.setattr(walking, "walk", walked)
    api.check(REPO / "fixtures" / "kaiser-2017" / "arch" / "x86" / "entry" / "entry_64.S", api.Options())
    assert kept == [(None, True)] * 3
