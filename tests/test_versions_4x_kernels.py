"""The CLI on all of arch/x86/entry of released 4.x trees (../shared/kernels):
4.4.178 (the KAISER backport, paravirt patch sites) and 4.14.5 (no PTI at
all).  Released kernels are reviewed code: what is left must be a documented
true positive (TP-NOTES-C.md).  Rules owned elsewhere (EL103: 32-bit ABI and
asm thunks; EL301: judged by hazard) are not asserted here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from entrylint.analysis.state import Feature
from kernels import shared_tree

REPO = Path(__file__).resolve().parents[1]
TREES = ("linux-4.4.178", "linux-4.14.5")
PROFILES = ("max", "defconfig", "pti-off")
# the classes of issue 8 this work answers for: none may remain in 64-bit entry code
MODEL_RULES = {"EL101", "EL102", "EL201", "EL202", "EL203", "EL204", "EL302", "EL403"}


def tree_or_skip(name: str) -> Path:
    tree = shared_tree(name)
    if tree is None:
        pytest.skip(f"{name} not in ../shared/kernels")
    return tree


def run(tree: Path, profile: str) -> list[dict]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-m", "entrylint", "--format", "json", "--profile", profile,
                           "--root", str(tree), str(tree / "arch/x86/entry")],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=600)
    assert proc.returncode in (0, 1), proc.stderr
    return [f for f in json.loads(proc.stdout)["findings"] if f["severity"] in ("error", "warning")]


@pytest.mark.kernel
@pytest.mark.parametrize("name", TREES)
@pytest.mark.parametrize("profile", PROFILES)
def test_entry_of_4x_trees(name, profile):
    tree = tree_or_skip(name)
    found = run(tree, profile)
    assert not [f for f in found if f["id"].startswith("EL9")]
    entry64 = [f for f in found if f["file"].endswith(("entry_64.S", "entry_64_compat.S"))]
    left = [f"{f['file']}:{f['line']}: {f['id']} {f['message']}" for f in entry64 if f["id"] in MODEL_RULES]
    assert not left, "\n".join(left)
    # EL303: these kernels predate the swapgs speculation fix (CVE-2019-1125,
    # FENCE_SWAPGS_*_ENTRY): a true positive class, documented in TP-NOTES-C.md
    if any(f["id"] == "EL303" for f in entry64):
        assert "FENCE_SWAPGS" not in (tree / "arch/x86/entry/calling.h").read_text()


@pytest.mark.kernel
def test_4145_has_one_page_table_and_irqs_never_at_exit_sites():
    from entrylint import api

    tree = tree_or_skip("linux-4.14.5")
    an = api.analyze(tree / "arch/x86/entry/entry_64.S", api.Options(root=tree, profile="max"))
    assert {"X86_FEATURE_PTI", "X86_FEATURE_KAISER"} <= an.program.disabled
    kinds = {e.symbol: e.kind for e in an.entries}
    assert kinds["apic_timer_interrupt"].name == kinds["irq_entries_start"].name == "irq"
    assert kinds["general_protection"].name == "idt"
    # an interrupt cannot land on the iret or load_gs_index (interrupts are off there)
    assert not any(t.site for t in kinds["apic_timer_interrupt"].tuples)
    assert any(t.site for t in kinds["general_protection"].tuples)
    # the native side of every paravirt patch site is there
    assert an.program.paravirt and all(an.program.forks[fi].replacements[0].insns for fi, _ in an.program.paravirt)


@pytest.mark.kernel
def test_44178_kaiser_facts_from_the_tree():
    from entrylint import api

    tree = tree_or_skip("linux-4.4.178")
    an = api.analyze(tree / "arch/x86/entry/entry_64.S", api.Options(root=tree, profile="defconfig"))
    assert "X86_FEATURE_KAISER" not in an.program.disabled  # CONFIG_PAGE_TABLE_ISOLATION, declared
    assert {"unsafe_stack_register_backup", "cpu_tss"} <= an.user_mapped
    assert api.transfer_config(an.program, an.expansion).user_bit_vars == {"x86_cr3_pcid_user"}
    assert {e.symbol: e.kind.name for e in an.entries}["ignore_sysret"] == "syscall"
    # Xen PV is 4.4's CONFIG_XEN (no CONFIG_XEN_PV yet): with it, the pv side of
    # the patch sites is a path too, without KAISER (turned off under Xen PV)
    mx = api.analyze(tree / "arch/x86/entry/entry_64.S", api.Options(root=tree, profile="max"))
    assert "X86_FEATURE_XENPV" not in mx.program.disabled
    xen = [t for n, ts in mx.forward.before.items() for t in ts if t.feature("X86_FEATURE_XENPV") is Feature.ON]
    assert xen and all(t.feature("X86_FEATURE_KAISER") is not Feature.ON for t in xen)
