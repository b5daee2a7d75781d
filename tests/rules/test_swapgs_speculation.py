from rulecheck import FIXTURES, assert_fires_at_marks, assert_quiet

from entrylint import api


def test_fires():
    assert_fires_at_marks("EL303", "swapgs_speculation_fires.S")


def test_quiet():
    assert_quiet("swapgs-speculation", "swapgs_speculation_quiet.S")


def test_which_paths_are_named():
    res = api.check(FIXTURES / "swapgs_speculation_fires.S", api.Options(), select=["EL303"])
    hows = [f.message.split("on the path where it ")[1] for f in res.findings if f.id == "EL303"]
    assert hows == ["runs and where it is skipped", "is skipped", "runs"]


def test_fence_feature_fork_is_the_decision_point():
    # without the fence features, the empty side of FENCE_SWAPGS_*_ENTRY is an unfenced path
    res = api.check(FIXTURES / "swapgs_speculation_quiet.S", api.Options(), select=["EL303"],
                    rule_options={"swapgs-speculation": {"fence-features": []}})
    assert [f.location.line for f in res.findings if f.id == "EL303"] == [43]
