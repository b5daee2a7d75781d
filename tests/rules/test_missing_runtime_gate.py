import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from rulecheck import FIXTURES, assert_fires_at_marks, assert_quiet, run_rule


@pytest.mark.parametrize("profile", ["max", "defconfig"])
def test_fires(profile):
    assert_fires_at_marks("EL402", "missing_runtime_gate_fires.S", profile=profile)


def test_messages_say_why():
    got = {f.location.line: f.message for f in run_rule("EL402", "missing_runtime_gate_fires.S", profile="max")}
    assert [m.endswith("where it is off") for _, m in sorted(got.items())] == [True, False]


@pytest.mark.parametrize("profile", ["max", "defconfig", "pti-off"])
def test_quiet(profile):
    assert_quiet("missing-runtime-gate", "missing_runtime_gate_quiet.S", profile=profile)


def test_no_pti_configuration_is_left_to_the_config_guard():
    assert_quiet("EL402", "missing_runtime_gate_fires.S", profile="pti-off")


def test_a_switch_whose_value_is_unknown_on_the_ungated_path_still_counts(tmp_path):
    # a restore whose gate is gone: with PTI off the saved register holds no
    # CR3 value (the save was skipped), so that write is no PTI switch by its
    # value -- but it is the same instruction as the PTI one
    text = (FIXTURES / "contract_mismatch_quiet.S").read_text()
    gated = 'ALTERNATIVE "jmp .Lend_\\@", "", X86_FEATURE_PTI\n\tmovq\t\\save_reg, %cr3'
    assert gated in text
    (tmp_path / "f.S").write_text(text.replace(gated, "movq\t\\save_reg, %cr3"))
    found = run_rule("EL402", tmp_path / "f.S", profile="max")
    assert [f.args["how"] for f in found] == ["where it is off"]
    assert "RESTORE_CR3" in (tmp_path / "f.S").read_text().splitlines()[found[0].location.line - 1]
