"""The memory model (analysis/memory.py): %rsp loads and user-mapped symbols."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from entrylint.analysis.memory import FAMILIES, MemoryModel, StackKind, model_for

PTI = FAMILIES["pti"]


@pytest.mark.parametrize("disp, kind", [
    ("cpu_tss_rw + TSS_sp0", StackKind.ENTRY),  # 6.1, symbolic
    ("(cpu_tss_rw + TSS_sp0)", StackKind.ENTRY),  # 6.12, symbolic
    ("(cpu_tss_rw + 4)", StackKind.ENTRY),  # 6.12 with a build's asm-offsets
    ("cpu_tss_rw+TSS_sp2", StackKind.USER),
    ("(cpu_tss_rw + 20)", StackKind.USER),
    ("(pcpu_hot + X86_top_of_stack)", StackKind.TASK),
    ("(pcpu_hot + 24)", StackKind.TASK),
    ("cpu_current_top_of_stack", StackKind.TASK),
    ("%gs:(cpu_tss_rw + 4)(%rip)", StackKind.ENTRY),
])
def test_pti_stack_loads(disp, kind):
    assert PTI.stack_for_load(disp) is kind


@pytest.mark.parametrize("disp", ["TASK_threadsp", "152 -120", "(cpu_tss_rw + 36)", "(pcpu_hot + X86_current_task)"])
def test_unknown_stack_loads(disp):
    assert PTI.stack_for_load(disp) is None


def test_user_mapped():
    assert PTI.is_user_mapped("cpu_tss_rw + TSS_sp2")
    assert PTI.is_user_mapped("(cpu_tss_rw + 20)")
    assert not PTI.is_user_mapped("(pcpu_hot + X86_top_of_stack)")
    assert not PTI.is_user_mapped("cpu_tlbstate + TLB_STATE_user_pcid_flush_mask")
    assert PTI.stack_user_mapped(StackKind.ENTRY) and not PTI.stack_user_mapped(StackKind.TASK)
    assert FAMILIES["kaiser-4.4"].is_user_mapped("unsafe_stack_register_backup")
    assert {"sync_regs", "fixup_bad_iret", "vc_switch_off_ist"} <= PTI.task_stack_returning


def test_with_overrides():
    m = PTI.with_overrides(user_mapped=["my_var"], stack_loads={"my_stack": "ist"}, user_mapped_stacks=["task"])
    assert m.is_user_mapped("my_var") and not m.is_user_mapped("cpu_tss_rw")
    assert m.stack_for_load("my_stack") is StackKind.IST and m.stack_for_load("cpu_tss_rw+TSS_sp0") is None
    assert m.stack_user_mapped(StackKind.TASK)
    assert PTI.is_user_mapped("cpu_tss_rw")  # the original is unchanged
    with pytest.raises(TypeError):
        PTI.with_overrides(nope=1)
    assert isinstance(m, MemoryModel) and StackKind.TASK == "task"


def test_model_for():
    assert model_for(["SWITCH_TO_KERNEL_CR3", "cpu_tss_rw"]).family == "pti"
    assert model_for(["SWITCH_TO_USER_CR3_NOSTACK"]).family == "pti"
    assert model_for(["SWITCH_KERNEL_CR3", "SWAPGS"]).family == "kaiser-4.4"
    assert model_for(["unsafe_stack_register_backup"]).family == "kaiser-4.4"
    assert model_for(["ADJUST_USER_CR3", "SWITCH_TO_USER_CR3"]).family == "kaiser-v1"
    assert model_for([]).family == "pti"


def _rsp_loads(tree: Path, extra: list[str]) -> set[str]:
    """Displacement texts of `mov MEM, %rsp` in the expanded entry_64.S."""
    out = subprocess.run([sys.executable, "-m", "entrylint", "expand", "--format", "json", "--profile", "max",
                          "--no-assemble", *extra, str(tree / "arch/x86/entry/entry_64.S")],
                         capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent)
    data = json.loads(out.stdout)
    disps = set()
    for ins in data["instructions"]:
        if ins["mnemonic"].startswith("mov") and ins["text"].endswith("%rsp") and "(%rsp)" not in ins["text"]:
            src = ins["text"].split(None, 1)[1].rsplit(",", 1)[0].strip()
            if "%gs:" in src:
                disps.add(src.replace("%gs:", "").replace("(%rip)", ""))
    return disps


def test_kernel_entry_rsp_loads(kernel_tree):
    """Every %gs-relative %rsp load of the real entry_64.S is understood."""
    disps = _rsp_loads(kernel_tree, [])
    assert disps
    kinds = {d: PTI.stack_for_load(d) for d in disps}
    assert None not in kinds.values(), kinds
    assert StackKind.ENTRY in kinds.values() and StackKind.TASK in kinds.values()
