from rulecheck import assert_fires_at_marks, assert_quiet


def test_fires():
    assert_fires_at_marks("EL201", "c_call_user_cr3_fires.S")


def test_quiet():
    assert_quiet("c-call-user-cr3", "c_call_user_cr3_quiet.S")


def test_message_names_the_callee():
    from rulecheck import run_rule

    got = {f.message for f in run_rule("EL201", "c_call_user_cr3_fires.S")}
    assert got == {"call to trace_hardirqs_off() with the user CR3",
                   "call to syscall_exit_work() with the user CR3"}
