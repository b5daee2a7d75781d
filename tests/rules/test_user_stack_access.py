from rulecheck import assert_fires_at_marks, assert_quiet


def test_fires():
    assert_fires_at_marks("EL204", "user_stack_access_fires.S")


def test_quiet():
    assert_quiet("user-stack-access", "user_stack_access_quiet.S")
