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


def _with_empty_alternatives(tmp_path) -> Path:
    """contract_mismatch_quiet.S with an ALTERNATIVE empty on both sides in
    the middle of SWITCH_TO_USER_CR3_NOSTACK (as one whose instructions come
    from a macro argument left empty gives), and a SWITCH_TO_USER_CR3_STACK around
    it that starts with another (5.15's drop-gate mutant ``ALTERNATIVE "",
    "", X86_FEATURE_PTI`` as its NOSTACK's first line)."""
    text = (FIXTURES / "contract_mismatch_quiet.S").read_text()
    nostack = ".macro SWITCH_TO_USER_CR3_NOSTACK scratch_reg:req scratch_reg2:req\n"
    body = nostack + '\tALTERNATIVE "jmp .Lend_\\@", "", X86_FEATURE_PTI\n\tmov\t%cr3, \\scratch_reg\n'
    stack = (".macro SWITCH_TO_USER_CR3_STACK scratch_reg:req\n\tpushq\t%rax\n"
             '\tALTERNATIVE "", "", X86_FEATURE_PTI\n'
             "\tSWITCH_TO_USER_CR3_NOSTACK scratch_reg=\\scratch_reg scratch_reg2=%rax\n\tpopq\t%rax\n.endm\n")
    call = "\tSWITCH_TO_USER_CR3_NOSTACK scratch_reg=%rdi scratch_reg2=%rax\n"
    assert text.count(body) == 1 and text.count(nostack) == 2 and text.count(call) == 1
    text = text.replace(body, body + '\tALTERNATIVE "", "", X86_FEATURE_PTI\n')
    text = text.replace("#else /* !CONFIG_PAGE_TABLE_ISOLATION */", stack + "\n#else /* !CONFIG_PAGE_TABLE_ISOLATION */")
    text = text.replace("#endif\n", ".macro SWITCH_TO_USER_CR3_STACK scratch_reg:req\n.endm\n#endif\n", 1)
    f = tmp_path / "empty_alternatives.S"
    f.write_text(text.replace(call, "\tSWITCH_TO_USER_CR3_STACK scratch_reg=%rdi\n"))
    return f


@pytest.mark.parametrize("profile", ["max", "defconfig"])
def test_quiet_with_an_empty_alternative_inside(tmp_path, profile):
    # the walk's forks at such alternatives are inside the invocations: control
    # does not leave them there (before, the fork left SWITCH_TO_USER_CR3_STACK
    # with the kernel CR3: a mismatch, and the user CR3 forced onto the exit)
    assert not run_rule("EL502", _with_empty_alternatives(tmp_path), profile=profile)


def test_an_empty_fork_belongs_where_its_site_is_written(tmp_path):
    from entrylint.analysis.contracts import contract_instances

    an = api.analyze(_with_empty_alternatives(tmp_path), api.Options(profile="max"))
    empty = [f for f in an.program.forks if not f.orig and not any(r.insns for r in f.replacements)]
    assert len(empty) == 2  # one in the NOSTACK body, one in the STACK body
    inst = contract_instances(an.program, an.cfg)
    names = sorted(tuple(c.macro for _, c in inst.get(an.cfg.fork_node(f), ())) for f in empty)
    assert names == [("SWITCH_TO_USER_CR3_NOSTACK", "SWITCH_TO_USER_CR3_STACK"), ("SWITCH_TO_USER_CR3_STACK",)]
