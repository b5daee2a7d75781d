from rulecheck import assert_fires_at_marks, assert_quiet


def test_fires():
    assert_fires_at_marks("EL302", "gs_access_user_gs_fires.S")


def test_quiet():
    assert_quiet("gs-access-user-gs", "gs_access_user_gs_quiet.S")
