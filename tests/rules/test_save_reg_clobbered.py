from rulecheck import assert_fires_at_marks, assert_quiet, run_rule


def test_fires():
    assert_fires_at_marks("EL102", "save_reg_clobbered_fires.S")


def test_quiet():
    assert_quiet("save-reg-clobbered", "save_reg_clobbered_quiet.S")


def test_names_the_clobbering_instruction():
    msgs = sorted(f.message for f in run_rule("EL102", "save_reg_clobbered_fires.S"))
    assert "%r11" in msgs[0] and "call exc_nmi" in msgs[0]
    assert "%r14" in msgs[1] and "xorl %r14d, %r14d" in msgs[1]
