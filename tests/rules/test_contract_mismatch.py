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


@pytest.mark.parametrize("profile", ["max", "defconfig"])
def test_quiet_with_an_empty_alternative_inside(profile):
    # an ALTERNATIVE with nothing on either side, in the middle of a contracted
    # macro and at the start of one invoked inside another: the walk's fork
    # there is inside the invocations, so control does not leave them at it
    # (5.15's drop-gate mutant "ALTERNATIVE "", "", X86_FEATURE_PTI" made
    # the fork leave SWITCH_TO_USER_CR3_STACK with the kernel CR3: a
    # mismatch, and the user CR3 forced onto the rest of the exit)
    assert_quiet("EL502", "contract_mismatch_empty_alt_quiet.S", profile=profile)


def test_an_empty_fork_belongs_where_its_site_is_written():
    from entrylint.analysis.contracts import contract_instances

    an = api.analyze(FIXTURES / "contract_mismatch_empty_alt_quiet.S", api.Options(profile="max"))
    empty = [f for f in an.program.forks if not f.orig and not any(r.insns for r in f.replacements)]
    assert len(empty) == 2  # one in the NOSTACK body (its flush= left empty), one in the STACK body
    inst = contract_instances(an.program, an.cfg)
    for f in empty:
        names = [c.macro for _, c in inst.get(an.cfg.fork_node(f), ())]
        assert names and names[0] in ("SWITCH_TO_USER_CR3_NOSTACK", "SWITCH_TO_USER_CR3_STACK"), names
    assert any(len(inst[an.cfg.fork_node(f)]) == 2 for f in empty)  # NOSTACK inside STACK
