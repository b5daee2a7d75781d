from rulecheck import assert_fires_at_marks, assert_quiet, run_rule


def test_fires():
    assert_fires_at_marks("EL103", "call_clobbered_read_fires.S")


def test_quiet():
    assert_quiet("call-clobbered-read", "call_clobbered_read_quiet.S")


def test_names_registers_and_reader():
    by_line = {f.location.line: f.message for f in run_rule("EL103", "call_clobbered_read_fires.S")}
    assert by_line[14].startswith("%rdx is clobbered by the call to do_syscall_64()")
    assert "%rax" not in by_line[19] and "the exit to user mode" in by_line[19]
    assert "syscall_exit_work" in by_line[19]


def test_preserving_option():
    found = run_rule("EL103", "call_clobbered_read_fires.S")
    assert found
    from entrylint import api
    from rulecheck import FIXTURES
    res = api.check(FIXTURES / "call_clobbered_read_fires.S", api.Options(), select=["EL103"],
                    rule_options={"call-clobbered-read": {"preserving": ["syscall_exit_work"]}})
    # syscall_exit_work declared as preserving: only do_syscall_64's clobber of %rdx remains
    assert sorted(f.location.line for f in res.findings if f.id == "EL103") == [14]
