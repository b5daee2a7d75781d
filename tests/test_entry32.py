"""32-bit entry code (entry_32.S and the IDT-entry macros it expands) is read
with 32-bit semantics (issue 8, MODEL 4 and 6.1):

- the i386 kernel ABI for C calls (regparm(3): %eax, %edx, %ecx carry the
  arguments and are the only caller-saved registers), registers named as
  32-bit code writes them, no %r8-%r15 at a return to user;
- a switch gated at run time on a feature that the tree's DISABLED_MASK
  compiles out without the PTI option is compile-time guarded.

Fixtures written here: fixtures/rules/call_clobbered_read_*_32.S and the
small tree fixtures/versions/pti32-4.19; the released trees where present.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kernels import shared_tree
from rulecheck import FIXTURES, assert_fires_at_marks, assert_quiet, lines_of, run_rule

from entrylint import api
from entrylint.analysis import regs
from entrylint.analysis.cfg import CFG
from entrylint.analysis.gates import Gates
from entrylint.analysis.liveness import compute_liveness

PTI32 = Path(__file__).resolve().parents[1] / "fixtures" / "versions" / "pti32-4.19"
ENTRY32 = PTI32 / "arch" / "x86" / "entry" / "entry_32.S"


# -- the i386 ABI -------------------------------------------------------------

def test_abi_by_code_mode():
    assert regs.abi(64) is regs.SYSV64 and regs.abi(32) is regs.I386
    assert regs.I386.args == ("rax", "rdx", "rcx")
    assert regs.I386.caller_saved == {"rax", "rcx", "rdx"}
    assert regs.I386.callee_saved == {"rbx", "rsi", "rdi", "rbp"}
    assert regs.names(regs.I386.user_mask) == {"rax", "rcx", "rdx", "rbx", "rbp", "rsi", "rdi"}
    assert regs.spelled("rdi", 32) == "edi" and regs.spelled("rdi", 64) == "rdi"


@pytest.mark.parametrize("profile", ["max", "defconfig", "pti-off"])
def test_call_clobbered_read_32_fires_at_marks(profile):
    assert_fires_at_marks("EL103", "call_clobbered_read_fires_32.S", profile=profile)


def test_call_clobbered_read_32_names_32_bit_registers():
    got = {f.location.line: f.message for f in run_rule("EL103", "call_clobbered_read_fires_32.S")}
    assert all("%r" not in m for m in got.values()), got
    msgs = sorted(got.values())
    assert any(m.startswith("%ecx is clobbered by the call to do_int80_syscall_32()") for m in msgs), msgs
    assert any(m.startswith("%edx is clobbered by the call to do_notify_32()")
               and m.endswith("read later by the exit to user mode") for m in msgs), msgs


@pytest.mark.parametrize("profile", ["max", "defconfig", "pti-off"])
def test_call_clobbered_read_32_quiet(profile):
    assert_quiet("EL103", "call_clobbered_read_quiet_32.S", profile=profile)


def test_liveness_at_iret_reads_only_the_32_bit_registers():
    exp = api.expand(FIXTURES / "call_clobbered_read_quiet_32.S")
    prog = exp.program
    assert {i.mode for i in prog.instructions} == {32}
    lv = compute_liveness(prog, CFG(prog))
    iret = next(i.index for i in prog.instructions if i.mnemonic.startswith("iret"))
    assert lv.before(iret) == regs.names(regs.I386.user_mask)
    call = next(i.index for i in prog.instructions if i.mnemonic.startswith("call"))
    # a C call reads its three register arguments and keeps %ebx/%esi/%edi/%ebp
    assert {"rax", "rdx", "rcx"} <= lv.before(call)
    assert not {"r8", "r9", "r10", "r11"} & lv.after(call)


# -- EL401: a gate on a feature DISABLED_MASK compiles out ---------------------

def _el401(**options):
    """Lines of EL401 errors; the gated switches are checks (info), not errors."""
    res = api.check(ENTRY32, api.Options(root=PTI32, **options), select=["EL401"])
    return sorted({f.location.line for f in res.findings if f.id == "EL401" and f.severity.value == "error"})


def _el401_checks(**options):
    res = api.check(ENTRY32, api.Options(root=PTI32, **options), select=["EL401"])
    return sorted({f.location.line for f in res.findings if f.id == "EL401" and f.severity.value == "info"})


@pytest.mark.parametrize("profile", ["max", "defconfig", "pti-off"])
def test_gated_32_bit_switches_are_guarded(profile):
    # the built-in profiles read entry_32.S as a 32-bit build: no PTI option,
    # so DISABLED_MASK7 holds X86_FEATURE_PTI
    assert _el401(profile=profile) == lines_of(ENTRY32, "<- fires")
    # still shown to a reviewer: compiled in without the option, never run there
    assert _el401_checks(profile=profile)
    assert not set(_el401_checks(profile=profile)) & set(lines_of(ENTRY32, "<- fires"))


def test_with_the_option_on_the_header_is_read_again_without_it(tmp_path):
    # a 32-bit PAE configuration with PTI: the masks as read compile nothing
    # out; the same header read with the option off does
    cfg = tmp_path / "pae-pti.config"
    cfg.write_text("CONFIG_X86_32=y\nCONFIG_X86_PAE=y\nCONFIG_PAGE_TABLE_ISOLATION=y\n")
    assert _el401(config=cfg) == lines_of(ENTRY32, "<- fires")
    exp = api.expand(ENTRY32, api.Options(root=PTI32, config=cfg))
    assert "X86_FEATURE_PTI" not in exp.program.disabled
    assert exp.compiled_out(("CONFIG_PAGE_TABLE_ISOLATION",)) == {"X86_FEATURE_PTI"}


def _tree_7x(tmp_path) -> Path:
    """pti32-4.19 as a 6.15+ tree lays it out: the masks come from a
    generated header (asm/cpufeaturemasks.h, absent without a build) that
    the build writes from arch/x86/Kconfig.cpufeatures, and the option is
    CONFIG_MITIGATION_PAGE_TABLE_ISOLATION (6.9+)."""
    import shutil

    root = tmp_path / "tree"
    shutil.copytree(PTI32, root)
    opt = "MITIGATION_PAGE_TABLE_ISOLATION"
    (root / "arch/x86/include/asm/disabled-features.h").write_text("#include <asm/cpufeaturemasks.h>\n")
    for f in (root / "Kconfig", root / "arch/x86/entry/entry_32.S"):
        f.write_text(f.read_text().replace("PAGE_TABLE_ISOLATION", opt))
    (root / "arch/x86/Kconfig.cpufeatures").write_text(
        "config X86_DISABLED_FEATURE_PCID\n\tdef_bool y\n\tdepends on !X86_64\n\tdepends on X86_64\n\n"
        f"config X86_DISABLED_FEATURE_PTI\n\tdef_bool y\n\tdepends on !{opt}\n")
    return root


@pytest.mark.parametrize("profile", ["max", "defconfig", "pti-off"])
def test_a_7x_tree_s_masks_come_from_its_kconfig_cpufeatures(tmp_path, profile):
    """The gate's feature is compiled out as the build's generated masks
    would have it: X86_DISABLED_FEATURE_PTI of Kconfig.cpufeatures, its
    ``depends on`` read with the option off.  On the code before, with no
    DISABLED_MASK read, every gated switch of Debian's 7.2 was an error."""
    root = _tree_7x(tmp_path)
    entry = root / "arch/x86/entry/entry_32.S"
    res = api.check(entry, api.Options(root=root, profile=profile), select=["EL401"])
    found = [f for f in res.findings if f.id == "EL401"]
    errors = sorted({f.location.line for f in found if f.severity.value == "error"})
    checks = [f for f in found if f.severity.value == "info"]
    assert errors == lines_of(entry, "<- fires")
    assert checks and not {f.location.line for f in checks} & set(errors)
    # the message names the option as the tree does
    assert all("outside #ifdef CONFIG_MITIGATION_PAGE_TABLE_ISOLATION" in f.message for f in found)
    exp = api.expand(entry, api.Options(root=root, profile=profile))
    assert "X86_FEATURE_PCID" not in exp.program.disabled  # (both of its conditions never hold)
    assert exp.compiled_out(("CONFIG_MITIGATION_PAGE_TABLE_ISOLATION",)) >= {"X86_FEATURE_PTI"}


def test_gates_are_the_features_whose_on_side_alone_reaches():
    exp = api.expand(ENTRY32, api.Options(root=PTI32, profile="pti-off"))
    prog = exp.program
    gates = Gates(CFG(prog))
    writes = {i.location.line: i.index for i in prog.instructions if i.info is not None and i.info.cr3_write}
    plain, pcid = lines_of(ENTRY32, "<- fires")
    assert gates.gates(writes[plain]) is None
    assert gates.gates(writes[pcid]) == {"X86_FEATURE_PCID"}
    by_macro = [i.index for i in prog.instructions
                if i.info is not None and i.info.cr3_write
                and any((f.name or "").startswith("SWITCH_TO") for f in i.trace)]
    assert by_macro and all(gates.gates(n) == {"X86_FEATURE_PTI"} for n in by_macro)


def test_a_tree_without_masks_gives_no_such_guard():
    # missing_config_guard_fires.S gates its switches on X86_FEATURE_PTI too,
    # but defines no DISABLED_MASK: the gate alone is no compile-time guard
    exp = api.expand(FIXTURES / "missing_config_guard_fires.S", api.Options(profile="pti-off"))
    assert exp.compiled_out(("CONFIG_PAGE_TABLE_ISOLATION",)) == frozenset()
    assert run_rule("EL401", "missing_config_guard_fires.S", profile="pti-off")


# -- the released trees ----------------------------------------------------------

@pytest.mark.parametrize("name", ["linux-4.19.48", "linux-5.4.273", "linux-5.10.89", "linux-6.8.1"])
@pytest.mark.parametrize("profile", ["max", "pti-off"])
def test_released_32_bit_entry_has_no_abi_or_guard_finding(name, profile):
    tree = shared_tree(name)
    if tree is None:
        pytest.skip(f"{name} is not in ../shared/kernels")
    res = api.check(tree / "arch/x86/entry/entry_32.S", api.Options(root=tree, profile=profile),
                    select=["EL103", "EL401"])
    found = [f for f in res.findings if f.id in ("EL103", "EL401") and f.severity.value != "info"
             and "xen_iret_crit_fixup" not in f.message]  # an asm callee of another file (helper D)
    assert not found, "\n".join(str(f) for f in found)


# -- per-cpu data through %fs -----------------------------------------------------

def test_percpu_segment_by_code_mode():
    assert regs.abi(64).percpu_segment == "gs" and regs.abi(32).percpu_segment == "fs"


def test_fs_per_cpu_access_before_the_selector_load_and_after_its_pop_fires():
    assert_fires_at_marks("EL302", "gs_access_user_gs_fires_32.S")
    msgs = {f.message for f in run_rule("EL302", "gs_access_user_gs_fires_32.S")}
    assert msgs == {"%fs access with the user FS"}, msgs


def test_fs_per_cpu_access_inside_and_gs_canary_are_quiet():
    assert_quiet("EL302", "gs_access_user_gs_quiet_32.S")


def test_the_selector_load_sets_and_the_pop_restores_the_per_cpu_base():
    from entrylint.analysis.state import Space

    an = api.analyze(FIXTURES / "gs_access_user_gs_fires_32.S")
    P = an.program.instructions
    load = next(i.index for i in P if i.text.replace(" ", "") == "movl%edx,%fs")
    pop = next(i.index for i in P if i.text.replace(" ", "") == "popl%fs")
    assert {t.gs for t in an.forward.before[load]} == {Space.USER, Space.KERNEL}  # from user, from kernel
    after_load = {t.gs for t in an.forward.before[load + 1]}
    assert after_load == {Space.KERNEL}
    after_pop = {(t.origin.value, t.gs) for t in an.forward.before[pop + 1]}
    assert after_pop == {("user", Space.USER), ("kernel", Space.KERNEL)}


# -- EL101 with 32-bit PTI on ------------------------------------------------------

def _pae_pti(tmp_path) -> Path:
    cfg = tmp_path / "pae-pti.config"
    cfg.write_text("CONFIG_X86_32=y\nCONFIG_X86_PAE=y\nCONFIG_PAGE_TABLE_ISOLATION=y\n")
    return cfg


def test_live_scratch_32_result_register_and_nested_switch(tmp_path):
    # SWITCH_TO_KERNEL_CR3 returns the CR3 it found in its scratch register
    # (read again inside the macro, then by the NMI's restore): a result, not
    # a clobbered scratch; the stack switch of the macro around a nested
    # switch is not part of the switch.  A scratch that holds the user's
    # restored %edx still is reported, named as 32-bit code writes it; and
    # so is the CR3 a switch leaves in a register whose user value was not
    # saved first (SAVE_REGS pushes the CR3 for it: not a use of the result).
    res = api.check(ENTRY32, api.Options(root=PTI32, config=_pae_pti(tmp_path)), select=["EL101"])
    got = {f.location.line: f.message for f in res.findings if f.id == "EL101"}
    assert sorted(got) == lines_of(ENTRY32, "<- live-scratch"), got
    assert sorted(m.split()[0] for m in got.values()) == ["%ebx", "%edx"], got


def test_a_32_bit_pti_configuration_is_read_as_given(tmp_path):
    # a .config that is already 32-bit keeps its options (PTI with PAE)
    exp = api.expand(ENTRY32, api.Options(root=PTI32, config=_pae_pti(tmp_path)))
    assert exp.cpp.kconfig.enabled("CONFIG_PAGE_TABLE_ISOLATION")
    assert "X86_FEATURE_PTI" not in exp.program.disabled


# -- the 32-bit syscall entries -------------------------------------------------------

def test_32_bit_syscall_entries_are_entries_from_user():
    from entrylint.analysis.entries import find_entries

    exp = api.expand(FIXTURES / "user_stack_access_32.S")
    kinds = {e.symbol: e.kind.name for e in find_entries(exp.program, CFG(exp.program))}
    assert kinds == {"entry_SYSENTER_32": "sysenter", "entry_INT80_32": "int80"}


def test_sysenter_32_task_stack_load_and_a_user_stack_push():
    # the TSS's task stack top is no user stack; a slot of the hardware frame
    # (the user's %esp) is, and the message names %esp
    assert_fires_at_marks("EL204", "user_stack_access_32.S")
    msgs = {f.message for f in run_rule("EL204", "user_stack_access_32.S")}
    assert msgs == {"stack access with the user %esp"}, msgs


@pytest.mark.parametrize("name", ["linux-4.4.178", "linux-4.14.98", "linux-4.19.48", "linux-6.8.1"])
def test_released_32_bit_syscall_entries_are_quiet(name):
    tree = shared_tree(name)
    if tree is None:
        pytest.skip(f"{name} is not in ../shared/kernels")
    res = api.check(tree / "arch/x86/entry/entry_32.S", api.Options(root=tree, profile="max"),
                    select=["EL204", "EL302", "EL202"])
    kinds = {e.symbol: e.kind.name for e in res.analysis.entries}
    assert kinds["entry_SYSENTER_32"] == "sysenter" and kinds["entry_INT80_32"] == "int80"
    assert not [f for f in res.findings if f.id in ("EL204", "EL302", "EL202")]


# -- branch refinement as 32-bit code writes its tests ----------------------------------

def test_saved_cs_rpl_in_a_register_and_cr3_bit_test_refine_the_state():
    from entrylint.analysis.state import Origin, Space

    path = Path(__file__).resolve().parents[1] / "fixtures" / "analysis" / "forward_refine_32.S"
    an = api.analyze(path)
    P = an.program.instructions
    lines = path.read_text().splitlines()

    def at(comment):
        (n,) = [i + 1 for i, text in enumerate(lines) if comment in text]
        (x,) = [x.index for x in P if x.location.line == n]
        return an.forward.before[x]

    assert {t.origin for t in at("from kernel only")} == {Origin.KERNEL}
    assert {t.origin for t in at("from user only")} == {Origin.USER}
    assert {t.cr3 for t in at("user CR3 only")} == {Space.USER}
    assert {t.cr3 for t in at("kernel CR3 only")} == {Space.KERNEL}


# -- 32-bit PTI: no IST, the entry stack, the marks in the saved CS, task gates ---------

MARKS_QUIET = "return_kernel_cr3_paranoid_quiet_32.S"
TASKGATE = Path(__file__).resolve().parents[1] / "fixtures" / "versions" / "taskgate32"


def test_paranoid_entries_of_32_bit_code_take_the_stack_they_interrupt(tmp_path):
    # no IST: from user on the entry stack; from kernel on the task stack, or
    # on the entry stack -- the only one the kernel runs on with the user CR3
    from entrylint.analysis.state import Origin, Space, Stack

    an = api.analyze(FIXTURES / MARKS_QUIET, api.Options(config=_pae_pti(tmp_path)))
    (entry,) = [e for e in an.entries if e.symbol == "asm_exc_machine_check"]
    got = {(t.origin, t.cr3, t.stack) for t in entry.kind.tuples}
    assert Stack.IST not in {s for _, _, s in got}
    assert (Origin.USER, Space.USER, Stack.ENTRY) in got
    assert {s for o, c, s in got if o is Origin.KERNEL and c is Space.USER} == {Stack.ENTRY}
    assert {s for o, c, s in got if o is Origin.KERNEL and c is Space.KERNEL} == {Stack.ENTRY, Stack.TASK}


def test_the_entry_stack_test_and_the_marks_refine_the_paths(tmp_path):
    # (end of the entry stack) - %esp below its size <=> on the entry stack;
    # a mark set on the way in is known on the way out, one cleared too
    from entrylint.analysis.state import Space, Stack

    an = api.analyze(FIXTURES / MARKS_QUIET, api.Options(config=_pae_pti(tmp_path)))
    P = an.program.instructions
    header = FIXTURES / "paranoid_32.h"
    lines = header.read_text().splitlines()

    def before(text):
        (n,) = [i + 1 for i, line in enumerate(lines) if line.strip().startswith(text)]
        here = (str(header), n)  # the macro body's line: the last frame of the expansion trace
        (x,) = [x.index for x in P if (x.trace[-1].location.file, x.trace[-1].location.line) == here]
        return an.forward.before[x]

    assert {t.stack for t in before("orl\t$CS_FROM_ENTRY_STACK")} == {Stack.ENTRY}
    assert {t.cr3 for t in before("orl\t$CS_FROM_USER_CR3")} == {Space.KERNEL}  # (switched by then)
    # on the way out: only arrivals on the entry stack copy back, and only
    # those that found the user CR3 (bit 30 of the saved CS dword) switch back
    assert {t.stack for t in before("andl\t$(~CS_FROM_ENTRY_STACK)")} == {Stack.ENTRY}
    clear = before("andl\t$(~CS_FROM_USER_CR3)")
    assert clear and all(int(t.holds("marks:52").split(":")[0], 16) & (1 << 30) for t in clear)


def test_32_bit_paranoid_return_gives_back_the_user_cr3_it_found(tmp_path):
    assert_quiet("return-kernel-cr3", MARKS_QUIET, config=_pae_pti(tmp_path))


def test_32_bit_paranoid_return_without_the_note_or_the_switch_fires(tmp_path):
    assert_fires_at_marks("EL203", "return_kernel_cr3_paranoid_fires_32.S", config=_pae_pti(tmp_path))
    msgs = {f.message for f in run_rule("EL203", "return_kernel_cr3_paranoid_fires_32.S",
                                        config=_pae_pti(tmp_path))}
    assert msgs == {"iretd back to the interrupted context with the kernel CR3 it did not have"}, msgs


def test_task_gates_are_read_from_the_tss_initializers():
    from entrylint.analysis.state import Origin, Space, Stack
    from entrylint.analysis.task_gates import parse, task_gates

    got = task_gates(TASKGATE)
    assert set(got) == {"asm_exc_double_fault"}  # (regs.ip = TSS(ip) is no initializer)
    assert {(t.origin, t.gs, t.cr3, t.stack) for t in got["asm_exc_double_fault"]} == {
        (o, Space.KERNEL, Space.KERNEL, Stack.IST) for o in (Origin.USER, Origin.KERNEL)}
    # a TSS that says nothing of CR3 or %fs: either
    (tuples,) = parse("static struct tss t = { .ip = (unsigned long) handler, .sp = 0 };").values()
    assert {(t.gs, t.cr3) for t in tuples} == {(g, c) for g in Space for c in Space}


def test_a_task_gate_entry_calls_c_with_the_cr3_its_tss_loads(tmp_path):
    # with the tree's TSS, the C call runs on the kernel CR3; without it the
    # double fault is a paranoid entry that may find the user CR3 (EL201)
    import shutil

    cfg = _pae_pti(tmp_path)
    entry = TASKGATE / "arch/x86/entry/entry_32.S"
    res = api.check(entry, api.Options(root=TASKGATE, config=cfg), select=["EL201"])
    assert {e.kind.name for e in res.analysis.entries} == {"task-gate"}
    assert not [f for f in res.findings if f.id == "EL201"]
    bare = tmp_path / "tree"
    shutil.copytree(TASKGATE, bare)
    (bare / "arch/x86/kernel/doublefault_32.c").unlink()
    res = api.check(bare / "arch/x86/entry/entry_32.S", api.Options(root=bare, config=cfg), select=["EL201"])
    assert [f.message for f in res.findings if f.id == "EL201"] == ["call to doublefault_shim() with the user CR3"]


@pytest.mark.parametrize("name", ["linux-4.19.48", "linux-5.10.89", "linux-6.8.1"])
def test_released_32_bit_pti_entry_is_judged_under_max_and_quiet(name):
    # ``max`` builds 32-bit files with PAE, so with PTI (4.19+): the switches
    # are compiled in and judged, and the released code has no error or warning
    tree = shared_tree(name)
    if tree is None:
        pytest.skip(f"{name} is not in ../shared/kernels")
    res = api.check(tree / "arch/x86/entry/entry_32.S", api.Options(root=tree, profile="max"))
    assert res.analysis.expansion.cpp.kconfig.enabled("CONFIG_X86_PAE")
    assert any(ev.detail == "pti:kernel" for ev in res.analysis.forward.event_list("cr3-write"))
    bad = [f for f in res.findings if f.severity.value in ("error", "warning")]
    assert not bad, "\n".join(str(f) for f in bad)


def test_xen_pv_entries_start_knowing_pti_is_off():
    # state.IMPLIES, as a PTI gate on the way would find it: a switch left
    # without its gate is no CR3 question on a Xen PV path
    from entrylint.analysis.entries import K_XENPV
    from entrylint.analysis.state import Feature

    assert all(t.feature("X86_FEATURE_PTI") is Feature.OFF and t.pti_off() for t in K_XENPV.tuples)


def test_task_gates_are_read_for_32_bit_code_only(monkeypatch):
    # the TSS initializers are read from every C file of arch/x86/kernel
    # (16 ms on 6.12, cold): a 64-bit file, which takes no task gate, does not
    import entrylint.analysis.task_gates as tg

    asked = []
    real = tg.task_gates
    monkeypatch.setattr(tg, "task_gates", lambda root: asked.append(root) or real(root))
    api.analyze(TASKGATE / "arch/x86/entry/entry_32.S", api.Options(root=TASKGATE))
    assert asked == [TASKGATE]
    api.analyze(FIXTURES / "live_scratch_fires.S", api.Options(root=TASKGATE))
    assert asked == [TASKGATE]
