from rulecheck import FIXTURES, assert_fires_at_marks, assert_quiet, lines_of, run_rule

from entrylint.findings.model import Severity


def test_fires():
    assert_fires_at_marks("EL301", "swapgs_cr3_order_fires.S")
    assert {f.severity for f in run_rule("EL301", "swapgs_cr3_order_fires.S")} == {Severity.ERROR}


def test_quiet():
    assert_quiet("swapgs-cr3-order", "swapgs_cr3_order_quiet.S")


def test_no_hazard_is_a_check():
    """5.18+ paranoid entry: CR3 before GS, no per-cpu access between (MODEL 1)."""
    found = run_rule("EL301", "swapgs_cr3_order_nohazard.S")
    assert [f.location.line for f in found] == lines_of(FIXTURES / "swapgs_cr3_order_nohazard.S", "<- info")
    assert {f.severity for f in found} == {Severity.INFO}
    assert "no per-cpu access" in found[0].message


def test_an_entry_windows_hazard_read_backward_is_the_forward_search():
    """EL301's entry window (kernel CR3, user GS) touches per-cpu data when,
    walking forward from the write over the keys first reached from each,
    staying inside the window, a use is met.  The rule reads it backward,
    from the uses up the links (_Window._opening); on random walks the two
    agree at every key."""
    import random
    from collections import namedtuple

    from entrylint.analysis.state import Space
    from entrylint.analysis.walked import Forward
    from entrylint_rules.swapgs_cr3_order import _Window

    T = namedtuple("T", "gs cr3")
    tuples = [T(g, c) for g in (Space.USER, Space.KERNEL) for c in (Space.USER, Space.KERNEL)]

    def forward_search(pred, uses, key):  # the rule's definition, read forward
        children = {}
        for k, (prev, _) in pred.items():
            if prev is not None:
                children.setdefault(prev, []).append(k)
        todo, seen = list(children.get(key, ())), {key}
        while todo:
            k = todo.pop()
            if k in seen:
                continue
            seen.add(k)
            if k[1].gs is not Space.USER or k[1].cr3 is not Space.KERNEL:
                continue
            if k[0] in uses:
                return True
            todo += children.get(k, ())
        return False

    rnd = random.Random(47)
    hazards = 0
    for _ in range(60):
        keys = [(n, rnd.choice(tuples), rnd.randrange(3)) for n in range(rnd.randrange(5, 80))]
        pred = {}
        for i, k in enumerate(keys):  # a first-arrival tree: each link to an earlier key
            pred[k] = (keys[rnd.randrange(i)] if i and rnd.random() < 0.9 else None, "")
        before = {}
        for n, t, _c in pred:
            before.setdefault(n, set()).add(t)
        uses = {n for n in before if rnd.random() < 0.2}
        w = object.__new__(_Window)
        w.fw = Forward(cfg=None, entries=[], pred=pred, before=before, contexts=[None] * 3)
        w.uses, w._openers = uses, None
        for k in pred:
            want = forward_search(pred, uses, k)
            hazards += want
            assert w.hazard(k, "kernel") == want
    assert hazards > 20  # (the walks have windows that touch per-cpu data)
