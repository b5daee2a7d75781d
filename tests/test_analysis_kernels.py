"""Acceptance of the analysis on real kernels (issue 3): every 64-bit .S of
arch/x86/entry in Debian's 6.1 and 6.12, every built-in profile: the entry
points are found, no PTI CR3 write happens with the user GS (except the
documented ones), every return to user mode has cr3=user and gs=user, and
the walk terminates.  The table (entries, visits, tuples, time) is printed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

import analysis_survey  # noqa: E402


@pytest.mark.kernel
@pytest.mark.slow
def test_invariants_hold_on_released_kernels(kernel_tree_61, kernel_tree_612, capsys):
    rc = analysis_survey.main(["--entries"])
    out = capsys.readouterr().out
    with capsys.disabled():
        print("\n" + out)
    assert rc == 0, out
    assert "VIOLATION" not in out and "TRUNCATED" not in out


@pytest.mark.kernel
def test_entry_points_of_612(kernel_tree_612):
    from entrylint import api

    an = api.analyze(kernel_tree_612 / "arch/x86/entry/entry_64.S", api.Options(root=kernel_tree_612))
    kinds = {e.symbol: e.kind.name for e in an.entries}
    assert kinds["entry_SYSCALL_64"] == "syscall"
    assert kinds["asm_exc_nmi"] == kinds["asm_exc_machine_check"] == kinds["asm_exc_double_fault"] == "paranoid"
    assert kinds["asm_exc_page_fault"] == "idt"
    # an external interrupt cannot arrive where interrupts are off (the exit sites)
    assert kinds["asm_sysvec_apic_timer_interrupt"] == kinds["asm_common_interrupt"] == "irq"
    assert kinds["ret_from_fork_asm"] == "ret-from-fork"
    # helpers are reached by calls, not entered
    assert "error_entry" not in kinds and "paranoid_entry" not in kinds
