from rulecheck import assert_fires_at_marks, assert_quiet, run_rule


def test_fires():
    assert_fires_at_marks("EL102", "save_reg_clobbered_fires.S")


def test_quiet():
    assert_quiet("save-reg-clobbered", "save_reg_clobbered_quiet.S")


def test_names_the_clobbering_instruction():
    msgs = sorted(f.message for f in run_rule("EL102", "save_reg_clobbered_fires.S"))
    assert any("%r11" in m and "call exc_nmi" in m for m in msgs)
    assert any("%r11" in m and "call exc_int3" in m for m in msgs)
    assert any("%r14" in m and "xorl %r14d, %r14d" in m for m in msgs)
