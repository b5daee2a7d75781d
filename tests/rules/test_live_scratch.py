from rulecheck import assert_fires_at_marks, assert_quiet, run_rule


def test_fires():
    assert_fires_at_marks("EL101", "live_scratch_fires.S")


def test_quiet():
    assert_quiet("live-scratch", "live_scratch_quiet.S")


def test_names_the_register_and_reader():
    first = min(run_rule("EL101", "live_scratch_fires.S"), key=lambda f: f.location.line)
    assert first.message.startswith("%rdi is live here") and "pushq %rdi" in first.message
    assert first.path, "a state rule carries the path from the entry point"


def test_fires_past_a_jump_through_a_register():
    # the 4.15-4.19 SYSCALL trampoline: movq $stage2, %rdi; jmp *%rdi (JMP_NOSPEC)
    # -- the reader of the scratch is found where the walk followed the jump
    (f,) = [f for f in run_rule("EL101", "live_scratch_fires.S") if f.symbol == "entry_SYSCALL_64_trampoline"]
    assert f.message == "%rax is live here but the CR3 switch uses it as scratch (read later by pushq %rax)"
