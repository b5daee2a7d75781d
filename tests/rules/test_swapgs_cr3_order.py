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
