"""Exception-table fixups are edges (MODEL 3): entries read from the
__ex_table data, CFG edges from the faulting instruction to the fixup, and
the state the fixup starts with.  Fixtures written here, then real trees."""

from __future__ import annotations

from pathlib import Path

import pytest

from entrylint import api
from entrylint.analysis.state import Space

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "analysis"


def _at(an, text: str, nth: int = 0) -> int:
    return [i.index for i in an.program.instructions if " ".join(i.text.split()) == text][nth]


def _fixup(an):
    (insn, fixup), = an.program.extable
    return insn, fixup


def test_entries_are_read_from_the_section_data():
    for name in ("forward_extable.S", "forward_extable_alone.S"):
        an = api.analyze(FIX / name)
        insn, fixup = _fixup(an)
        assert an.program.instructions[insn].text.split() == ["movl", "%edi,", "%gs"]
        assert fixup == an.program.labels[".Lbad_gs"]
        assert any(e.kind == "fault" and e.dst == fixup for e in an.cfg.succ(insn))


def test_fixup_starts_with_the_interrupted_state():
    an = api.analyze(FIX / "forward_extable_alone.S")
    _, fixup = _fixup(an)
    # without the edge the fixup is dead code: no state at all
    assert {t.gs for t in an.forward.before[fixup]} == {Space.USER}
    # and what the fixup reads is live where the fault can happen
    insn, _ = _fixup(an)
    assert "rdi" in an.liveness.before(insn)


def test_fixup_starts_with_the_state_the_exception_return_resumes():
    # error_entry swaps to the kernel GS for a fault at .Lgs_change, and its
    # iret resumes the kernel GS: that is what .Lbad_gs runs with
    an = api.analyze(FIX / "forward_extable.S")
    _, fixup = _fixup(an)
    assert {t.gs for t in an.forward.before[fixup]} == {Space.KERNEL}
    # so the fixup's swapgs goes back to the user GS for the null selector
    # load (without the #GP entry it would wrongly go to the kernel's), and
    # the function returns to C with the kernel GS on both paths
    assert {t.gs for t in an.forward.before[_at(an, "xorl %eax, %eax")]} == {Space.USER}
    assert {t.gs for t in an.forward.before[_at(an, "ret")]} == {Space.KERNEL}
    alone = api.analyze(FIX / "forward_extable_alone.S")
    assert {t.gs for t in alone.forward.before[_at(alone, "xorl %eax, %eax")]} == {Space.KERNEL}


@pytest.mark.parametrize("tree", ["6.12", "6.1"])
def test_load_gs_index_fixup_runs_with_the_kernel_gs(tree):
    import kernels

    root = kernels.tree_if_present(tree)
    if root is None:
        pytest.skip(kernels.tree_skip_reason(tree))
    an = api.analyze(root / "arch/x86/entry/entry_64.S", api.Options(root=root, profile="max"))
    (insn, fixup), = an.program.extable
    assert an.program.instructions[insn].info.writes_gs_base or "gs" in an.program.instructions[insn].text
    # the kernel's comment: "We'll fix up the exception and land in .Lgs_change's
    # error handler with kernel gsbase"
    assert {t.gs for t in an.forward.before[fixup]} == {Space.KERNEL}
