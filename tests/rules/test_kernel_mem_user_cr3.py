from rulecheck import assert_fires_at_marks, assert_quiet


def test_fires():
    assert_fires_at_marks("EL202", "kernel_mem_user_cr3_fires.S")


def test_quiet():
    assert_quiet("kernel-mem-user-cr3", "kernel_mem_user_cr3_quiet.S")


def test_option_user_mapped_adds_symbols():
    from entrylint import api
    from rulecheck import FIXTURES

    res = api.check(FIXTURES / "kernel_mem_user_cr3_fires.S", api.Options(), select=["EL202"],
                    rule_options={"kernel-mem-user-cr3": {"user-mapped": ["syscall_count", "pcpu_hot"]}})
    lines = sorted(f.location.line for f in res.findings if f.id == "EL202")
    assert lines == [13]  # only the task stack is left
