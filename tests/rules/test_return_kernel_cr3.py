from rulecheck import assert_fires_at_marks, assert_quiet


def test_fires():
    assert_fires_at_marks("EL203", "return_kernel_cr3_fires.S")


def test_quiet():
    assert_quiet("return-kernel-cr3", "return_kernel_cr3_quiet.S")
