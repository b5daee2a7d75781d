from rulecheck import assert_fires_at_marks, assert_quiet


def test_fires():
    assert_fires_at_marks("EL301", "swapgs_cr3_order_fires.S")


def test_quiet():
    assert_quiet("swapgs-cr3-order", "swapgs_cr3_order_quiet.S")
