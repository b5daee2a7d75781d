import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from rulecheck import FIXTURES, assert_fires_at_marks, assert_quiet, run_rule

from entrylint_rules.missing_config_guard import PTI_OPTIONS, implies


@pytest.mark.parametrize("profile", ["max", "defconfig"])
def test_fires(profile):
    assert_fires_at_marks("EL401", "missing_config_guard_fires.S", profile=profile)


@pytest.mark.parametrize("profile", ["max", "defconfig", "pti-off"])
def test_quiet(profile):
    assert_quiet("missing-config-guard", "missing_config_guard_quiet.S", profile=profile)


def test_seed_patch_is_unguarded_even_without_pti():
    # the first KAISER patch: no #ifdef and no gate, so the switches are built
    # and run even in a configuration without the option
    assert len({f.location.line for f in run_rule("EL401", "contract_mismatch_fires.S", profile="pti-off")}) == 4


@pytest.mark.parametrize("text,taken,want", [
    ("defined(CONFIG_PAGE_TABLE_ISOLATION)", True, True),
    ("defined(CONFIG_PAGE_TABLE_ISOLATION)", False, False),
    ("!defined(CONFIG_MITIGATION_PAGE_TABLE_ISOLATION)", False, True),
    ("IS_ENABLED(CONFIG_KAISER) && defined(CONFIG_X86_64)", True, True),
    ("defined CONFIG_KAISER", True, True),
    ("CONFIG_PAGE_TABLE_ISOLATION", True, True),
    ("defined(CONFIG_PAGE_TABLE_ISOLATION) || defined(CONFIG_X86_64)", True, False),
    ("!IS_ENABLED(CONFIG_PAGE_TABLE_ISOLATION)", True, False),
    ("defined(CONFIG_X86_64)", True, False),
])
def test_implies(text, taken, want):
    assert implies(text, taken, PTI_OPTIONS) is want


def test_without_pti_the_switch_macros_built_anyway_are_found():
    # pti-off: every path starts with X86_FEATURE_PTI off, so the gated
    # switches are never reached; the bodies of the contracted switch macros
    # are still built and reported (the inline switch, a bare alternative, is not)
    got = sorted({f.location.line for f in run_rule("EL401", "missing_config_guard_fires.S", profile="pti-off")})
    marked = [i for i, line in enumerate((FIXTURES / "missing_config_guard_fires.S").read_text().splitlines(), 1)
              if "<- fires" in line and "SWITCH_TO_" in line]
    assert got == marked and len(got) == 2
