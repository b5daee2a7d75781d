import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from rulecheck import FIXTURES, assert_fires_at_marks, assert_quiet, run_rule

from entrylint import api
from entrylint.analysis.forward import analyze as walk
from entrylint.analysis.state import Space


@pytest.mark.parametrize("profile", ["max", "defconfig"])
def test_fires(profile):
    assert_fires_at_marks("EL502", "contract_mismatch_fires.S", profile=profile)


def test_not_judged_without_pti():
    # the placeholder bodies are built in every profile (no #ifdef), but with
    # PTI off there is one page table: contracts are neither judged nor applied
    assert_quiet("EL502", "contract_mismatch_fires.S", profile="pti-off")


def test_one_info_per_invocation():
    found = run_rule("EL502", "contract_mismatch_fires.S")
    assert len(found) == 3
    assert {f.args["macro"] for f in found} == {"SWITCH_TO_KERNEL_CR3", "SWITCH_TO_USER_CR3",
                                                "SAVE_AND_SWITCH_TO_KERNEL_CR3"}


@pytest.mark.parametrize("profile", ["max", "defconfig", "pti-off"])
def test_quiet(profile):
    assert_quiet("contract-mismatch", "contract_mismatch_quiet.S", profile=profile)


def _cr3_at_calls(forward, program):
    return {program.instructions[e.node].target_name: {t.cr3 for t in forward.before[e.node]}
            for e in forward.event_list("c-call")}


def test_the_contract_drives_the_state():
    an = api.analyze(FIXTURES / "contract_mismatch_fires.S", api.Options(profile="max"))
    # with contracts: the C calls run on the kernel page table, as the author meant
    assert _cr3_at_calls(an.forward, an.program) == {"do_syscall_64": {Space.KERNEL}, "do_nmi": {Space.KERNEL}}
    # without: the placeholder body leaves the user CR3 (what c-call-user-cr3 would report)
    bare = walk(an.program, an.cfg, an.entries, api.transfer_config(an.program), contracts={})
    assert Space.USER in _cr3_at_calls(bare, an.program)["do_syscall_64"]
    assert not bare.event_list("contract-mismatch")
