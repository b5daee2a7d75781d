from rulecheck import assert_fires_at_marks, assert_quiet, run_rule


def test_fires():
    assert_fires_at_marks("EL501", "flag_misuse_fires.S")


def test_quiet():
    assert_quiet("flag-misuse", "flag_misuse_quiet.S")


def test_message_names_the_writer():
    msgs = [f.message for f in sorted(run_rule("EL501", "flag_misuse_fires.S"), key=lambda f: f.location.line)]
    assert msgs[0] == "jz tests ZF, but bt $12, %rax does not set it"
    assert msgs[1] == "js tests SF, but bt $12, %rax leaves it undefined"
