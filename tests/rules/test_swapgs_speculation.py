from rulecheck import FIXTURES, assert_fires_at_marks, assert_quiet

from entrylint import api


def test_fires():
    assert_fires_at_marks("EL303", "swapgs_speculation_fires.S")


def test_quiet():
    assert_quiet("swapgs-speculation", "swapgs_speculation_quiet.S")


def test_which_paths_are_named():
    res = api.check(FIXTURES / "swapgs_speculation_fires.S", api.Options(), select=["EL303"])
    hows = [f.message.split("on the path where it ")[1] for f in res.findings if f.id == "EL303"]
    assert hows == ["runs and where it is skipped", "is skipped", "runs", "runs and where it is skipped",
                    "runs and where it is skipped", "runs"]


def test_c_call_and_return_to_c_are_gs_accesses():
    # MODEL 4: a C callee may read per-cpu data through GS (CVE-2019-1125's
    # gadgets are as often in C): a tail call, a call after an asm helper's
    # ret, and a ret of a function C calls
    res = api.check(FIXTURES / "swapgs_speculation_fires.S", api.Options(), select=["EL303"])
    whats = [f.message.split("before the ")[1].split(" at ")[0] for f in res.findings if f.id == "EL303"]
    assert whats[3:] == ["call to exc_invalid_op()", "call to exc_coproc()", "return to C"]


def test_a_fence_alternative_without_lfence_is_no_decision_point(tmp_path):
    # the fence macro's replacement lost its lfence: the fork no longer fences
    src = (FIXTURES / "swapgs_speculation_quiet.S").read_text().replace('"lfence", X86_FEATURE_FENCE', '"", X86_FEATURE_FENCE')
    path = tmp_path / "nofence.S"
    path.write_text(src)
    res = api.check(path, api.Options(), select=["EL303"])
    assert {f.location.line for f in res.findings if f.id == "EL303"} == {43, 78}


def test_fence_feature_fork_is_the_decision_point():
    # without the fence features, the empty side of FENCE_SWAPGS_*_ENTRY is an unfenced path
    res = api.check(FIXTURES / "swapgs_speculation_quiet.S", api.Options(), select=["EL303"],
                    rule_options={"swapgs-speculation": {"fence-features": []}})
    assert [f.location.line for f in res.findings if f.id == "EL303"] == [43, 78]
