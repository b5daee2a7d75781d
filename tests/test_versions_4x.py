"""4.x entry machinery read from the tree (issue 8, MODEL 6.1): paravirt patch
sites as forks, no PTI option means one page table, the 4.4/4.9 KAISER
backport's facts from its C code, and the exit state kept in %ebx and on the
stack.  Fixtures: fixtures/versions/ (small trees written here in each
version's style); the released trees in test_versions_4x_kernels.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from entrylint import api
from entrylint.analysis.state import Feature, Origin, Space, Stack

REPO = Path(__file__).resolve().parents[1]
PV = REPO / "fixtures" / "versions" / "pv-4x"
KAISER = REPO / "fixtures" / "versions" / "kaiser-4x"
PROFILES = ("max", "defconfig", "pti-off")


def cli(tree: Path, profile: str) -> list[dict]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-m", "entrylint", "--format", "json", "--profile", profile, str(tree)],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert proc.returncode in (0, 1), proc.stderr
    return [f for f in json.loads(proc.stdout)["findings"] if f["severity"] in ("error", "warning")]


def analyze(tree: Path, name: str = "entry_64.S", profile: str = "max"):
    return api.analyze(tree / "arch/x86/entry" / name, api.Options(root=tree, profile=profile))


def line_of(path: Path, needle: str, nth: int = 0) -> int:
    lines = [i for i, s in enumerate(path.read_text().splitlines(), 1) if needle in s]
    return lines[nth]


def tuples_at(an, line: int, text: str):
    P = an.program.instructions
    return {t for i in P if i.location.line == line and i.text.startswith(text) and
            os.path.basename(i.location.file) == os.path.basename(str(an.expansion.path))
            for t in an.forward.before.get(i.index, ())}


# -- paravirt patch sites --------------------------------------------------------

def test_paravirt_sites_are_forks_with_the_native_side_of_the_tree():
    an = analyze(PV)
    P = an.program
    native = {}
    for fi, op in P.paravirt:
        fork = P.forks[fi]
        (repl,) = fork.replacements
        assert repl.feature == "X86_FEATURE_XENPV" and repl.negated  # native: without Xen PV
        native.setdefault(op, set()).add(tuple(P.instructions[i].text for i in repl.insns))
    # irqflags.h's #else of CONFIG_PARAVIRT, not a table of names
    assert native == {"swapgs": {("swapgs",)}, "usergs_sysret64": {("swapgs", "sysretq")},
                      "iret": {("jmp native_iret",)}, "irq_disable": {("cli",)},
                      "read_cr2": {("movq %cr2, %r12",)}}
    # the pv side keeps what it saves around the call (DISABLE_INTERRUPTS(CLBR_NONE))
    (pv,) = [P.forks[fi] for fi, op in P.paravirt if op == "irq_disable"]
    assert [P.instructions[i].text for i in pv.orig][0] == "push %rax"


def test_a_native_side_the_file_itself_defines():
    """4.4's head_64.S: ``#else #define INTERRUPT_RETURN iretq`` in the file,
    not in a header it includes (read as the macro's own name, an unknown
    instruction, before)."""
    an = api.analyze(PV / "arch/x86/kernel/head_64.S", api.Options(root=PV, profile="max"))
    P = an.program
    assert [(op, tuple(P.instructions[i].text for i in P.forks[fi].replacements[0].insns))
            for fi, op in P.paravirt] == [("iret", ("iretq",))]
    assert not [f for f in an.expansion.findings if f.id == "EL902"]


def test_the_native_side_of_an_edited_buffer_is_read_in_the_buffer():
    """An editor's buffer is not the disk: with a line added above them,
    the sites' invocations are on other lines than the disk's (they were
    read from the disk: no native side, the pv calls alone, and the swapgs
    of the native side missing from every path)."""
    path = PV / "arch/x86/entry/entry_64.S"
    disk = analyze(PV)
    edited = api.analyze(path, api.Options(root=PV, profile="max"), text="\tnop\n" + path.read_text())

    def native(an):
        P = an.program
        return sorted((op, tuple(P.instructions[i].text for i in P.forks[fi].replacements[0].insns))
                      for fi, op in P.paravirt)

    assert native(edited) == native(disk) and len(native(disk)) > 1


def test_the_native_side_stands_for_the_whole_invocation():
    # GET_CR2_INTO(%r12): the site is the pv call, the invocation also moves
    # its result; compiled without paravirt it is one movq %cr2, %r12, so the
    # pv side of the fork is both instructions (else the native path would
    # read a stale %rax after movq %cr2, %r12)
    an = analyze(PV)
    P = an.program
    (fi,) = [fi for fi, op in P.paravirt if op == "read_cr2"]
    fork = P.forks[fi]
    assert [P.instructions[i].text for i in fork.orig] == ["call *pv_mmu_ops+PV_MMU_read_cr2(%rip)",
                                                           "movq %rax, %r12"]
    assert fork.orig_end == fork.orig[-1] + 1
    # the native side goes on after the move, not into it
    (repl,) = fork.replacements
    after = an.cfg.after(repl.insns[-1])
    assert after is not None and P.instructions[after].index > fork.orig[-1]


def test_the_native_side_runs_on_bare_metal():
    an = analyze(PV)
    P = an.program.instructions
    exits = [e for e in an.forward.event_list("exit-user") if e.before.feature("X86_FEATURE_XENPV") is Feature.OFF]
    # the SYSCALL return reaches its sysretq (the pv jump used to end the path),
    # after the native swapgs: user mode resumes with the user GS
    sysret = [e for e in exits if P[e.node].symbol == "entry_SYSCALL_64"]
    assert sysret and all(an.forward.resumed(e.node, e.before).gs is Space.USER for e in sysret)
    # INTERRUPT_RETURN's native side jumps to native_iret, whose iretq returns to user
    iret = [e for e in exits if P[e.node].symbol == "native_iret"]
    assert iret and {e.before.gs for e in iret} == {Space.USER}


def test_native_pv_ops_are_not_functions_called_from_c():
    names = {e.symbol: e.kind.name for e in analyze(PV).entries}
    assert "native_iret" not in names and "native_usergs_sysret64" not in names
    assert names["entry_SYSCALL_64"] == "syscall" and names["page_fault"] == "idt"


@pytest.mark.parametrize("profile", PROFILES)
def test_pv_tree_is_quiet(profile):
    assert cli(PV, profile) == []


# -- no PTI option: one page table -------------------------------------------------

def test_no_pti_option_in_the_tree_means_one_page_table():
    # `max` sets CONFIG_PAGE_TABLE_ISOLATION, but this tree has no such option
    # and writes no CR3: every path starts with PTI off
    an = analyze(PV, profile="max")
    assert {"X86_FEATURE_PTI", "X86_FEATURE_KAISER"} <= an.program.disabled
    for e in an.entries:
        assert all(t.feature("X86_FEATURE_PTI") is Feature.OFF for t in e.kind.tuples), e.symbol
    # so the C call of the IDT entry, made before any CR3 write, is not judged
    assert not [f for f in cli(PV, "max") if f["id"] in ("EL201", "EL202")]


def test_a_first_pti_patch_without_an_option_is_judged_pti_on():
    # the 2017-style tree with its bundled series applied (in memory)
    from entrylint.patch.apply import TreeState
    from entrylint.patch.parse import parse
    from entrylint.patch.run import bundled, bundled_series_text
    from entrylint.source import overlay

    tree, series = bundled()
    state = TreeState(tree)
    for p in parse(bundled_series_text(series)):
        state.apply(p)
    with overlay.using(state.overlay()):
        an = analyze(tree, profile="max")
    assert not {"X86_FEATURE_PTI", "X86_FEATURE_KAISER"} & an.program.disabled


# -- exit state kept in %ebx and on the IRQ stack -----------------------------------

def test_popq_rsp_gets_back_the_stack_pointer_pushed():
    src = PV / "arch/x86/entry/exit_state.S"
    an = analyze(PV, "exit_state.S")
    at = tuples_at(an, line_of(src, "\tLEAVE_IRQ_STACK", 0), "decl")
    assert at and all(t.stack is not Stack.USER for t in at)


def test_exit_flags_in_ebx_decide_the_swapgs():
    src = PV / "arch/x86/entry/exit_state.S"
    an = analyze(PV, "exit_state.S")
    for needle in ("native_irq_return_iret:", "5:"):  # error_exit's iretq, paranoid_exit's
        at = tuples_at(an, line_of(src, needle) + 1, "iretq")
        assert at, needle
        # from user mode: the exit swapped back to the user GS (never the kernel's)
        assert {t.gs for t in at if t.origin is Origin.USER} == {Space.USER}, needle
    # a fault on the iret to user: error_entry swapped to the kernel GS
    # (incl, then decl: %ebx = 0), so error_exit swaps back before the iret
    at = tuples_at(an, line_of(src, "native_irq_return_iret:") + 1, "iretq")
    assert {t.gs for t in at if t.site == "native_irq_return_iret"} == {Space.USER}


# -- the 4.4/4.9 KAISER backport -------------------------------------------------------

def test_kaiser_facts_come_from_the_tree():
    from entrylint.analysis.msr_entries import msr_entries
    from entrylint.analysis.treefacts import user_bit_vars, user_mapped_percpu
    from entrylint.program.constants import macro_int

    an = analyze(KAISER)
    macros = an.expansion.pp.macros
    # every C store of user_cr3_bits carries KAISER_SHADOW_PGD_OFFSET (bit 12);
    # user_pcid_bits only PCID bits
    assert user_bit_vars(KAISER, ["user_cr3_bits", "user_pcid_bits"],
                         lambda n: macro_int(n, macros)) == {"user_cr3_bits"}
    assert "entry_spill" in user_mapped_percpu(KAISER)
    assert {n: msr_entries(KAISER).kind(n) for n in ("entry_SYSCALL_64", "ignore_sysret")} == {
        "entry_SYSCALL_64": "syscall", "ignore_sysret": "syscall"}
    assert {e.symbol: e.kind.name for e in an.entries}["ignore_sysret"] == "syscall"


def test_the_stores_of_a_per_cpu_variable_are_found_once_per_read_of_the_tree():
    """An editor's re-analysis asks for them at every edit: the C texts are
    scanned again only when the tree reads otherwise (a patch in memory)."""
    from entrylint.analysis import treefacts
    from entrylint.source import overlay

    first = treefacts.stores(str(KAISER), "user_cr3_bits")
    assert [e.strip() for e, _ in first] == ["bits", "0x40 | KAISER_SHADOW_PGD_OFFSET"]
    assert treefacts.stores(str(KAISER), "user_cr3_bits") is first
    c = (KAISER / "arch/x86/mm/kaiser.c").read_text()
    with overlay.using(overlay.Overlay(KAISER, {"arch/x86/mm/kaiser.c": c.replace("KAISER_SHADOW_PGD_OFFSET", "0")})):
        patched = treefacts.stores(str(KAISER), "user_cr3_bits")
        assert [e.strip() for e, _ in patched] == ["bits", "0x40 | 0"]
    assert treefacts.stores(str(KAISER), "user_cr3_bits") is first


def test_a_locals_first_assignment_is_the_one_a_line_anchored_search_finds():
    """_locals finds ``NAME = VALUE;`` from the name's letters (textscan):
    the same first assignment ``re.search(r"\\bNAME\\s*=...")`` finds."""
    import random
    import re

    from entrylint.analysis import treefacts

    rnd = random.Random(9)
    atoms = ["A", "B", "xA", "A_", "_A", " ", "\n", "=", "==", ";", "A = 1;", "A == 2;", "B = A | 4;", "A=B;",
             "A\t=\n3;", "A = ;", "x.A = 5;", "A =;", "0x10", "|"]
    for _ in range(3000):
        text = "".join(rnd.choice(atoms) for _ in range(rnd.randint(1, 25)))
        got = treefacts._locals("A | B", text)
        for name, value in got.items():
            m = re.search(rf"\b{re.escape(name)}\s*=\s*([^=;][^;]*);", text)
            assert value == (m.group(1) if m else None), (text, name)


def test_kaiser_user_switch_by_per_cpu_bits():
    from entrylint.analysis.forward import analyze as walk

    an = analyze(KAISER)
    P = an.program.instructions
    sysret = [e for e in an.forward.event_list("exit-user") if P[e.node].symbol == "entry_SYSCALL_64"]
    assert sysret and {e.before.cr3 for e in sysret if e.before.feature("X86_FEATURE_KAISER") is not Feature.OFF} \
        == {Space.USER}
    # the body does what the family's contract says: no contract-mismatch
    assert not an.forward.event_list("contract-mismatch")
    # without the fact the OR says nothing: the body would leave the kernel CR3
    # (only the contract would make it user, with an EL502 saying they disagree)
    cfg = api.transfer_config(an.program, an.expansion)
    bare = walk(an.program, an.cfg, an.entries, type(cfg)(**{**cfg.__dict__, "user_bit_vars": frozenset()}))
    assert any(e.detail == "_SWITCH_TO_USER_CR3:user:kernel" for e in bare.event_list("contract-mismatch"))
    assert any(e.detail == "not-pti" for e in bare.event_list("cr3-write"))
    assert not any(e.detail == "not-pti" for e in an.forward.event_list("cr3-write"))


def test_kaiser_user_mapped_per_cpu_from_the_declarations():
    from entrylint.analysis.memory import FAMILIES

    # not in any built-in list: only the tree's DEFINE_PER_CPU_USER_MAPPED says so
    assert all("entry_spill" not in m.user_mapped for m in FAMILIES.values())
    an = analyze(KAISER)
    assert "entry_spill" in an.user_mapped
    from entrylint.plugins.info import RuleConfig

    rs = api.rules()
    an.user_mapped = frozenset()
    found = rs.check(an, RuleConfig(enabled=frozenset({"EL202"}), options={}, profile="max"))
    assert [f for f in found if f.id == "EL202" and "entry_spill" in f.message]


@pytest.mark.parametrize("var, fires", [("rsp_scratch", True), ("cpu_tss", True), ("entry_spill", False)])
def test_kaiser_declarations_are_the_whole_list(tmp_path, var, fires):
    """A tree that declares per-cpu variables user-mapped says which are: one
    it does not declare is not mapped for user, though the family's list
    (made for a file read without its tree) names it (cpu_tss; the fixture
    tree declares only entry_spill).  4.4/4.9 define rsp_scratch with plain
    DEFINE_PER_CPU: read before the switch, it faults, and the family's
    list does not name it."""
    import shutil

    from entrylint.analysis.memory import FAMILIES

    assert FAMILIES["kaiser-4.4"].is_user_mapped("cpu_tss")
    assert not FAMILIES["kaiser-4.4"].is_user_mapped("rsp_scratch")
    tree = tmp_path / "t"
    shutil.copytree(KAISER, tree)
    f = tree / "arch/x86/entry/entry_64.S"
    text = f.read_text()
    head = "ENTRY(entry_SYSCALL_64)\n\tswapgs\n"
    assert head in text
    f.write_text(text.replace(head, head + f"\tcmpq\t$0, PER_CPU_VAR({var})\n", 1))
    res = api.check(f, api.Options(root=tree, profile="max"), select=["EL202"])
    got = [(x.location.line, x.message) for x in res.findings if x.id == "EL202"]
    want = line_of(f, f"PER_CPU_VAR({var})")
    assert got == ([(want, f"access to per-cpu {var} with the user CR3")] if fires else [])


@pytest.mark.parametrize("profile", PROFILES)
def test_kaiser_tree_is_quiet(profile):
    assert cli(KAISER, profile) == []


def test_feature_options_are_the_trees_own():
    from entrylint.program.constants import features_without_config

    on = {"CONFIG_XEN", "CONFIG_XEN_PV", "CONFIG_PAGE_TABLE_ISOLATION"}.__contains__
    # 4.4-like: Xen PV comes with CONFIG_XEN, PTI (KAISER) with CONFIG_PAGE_TABLE_ISOLATION
    decl44 = {"CONFIG_XEN", "CONFIG_PAGE_TABLE_ISOLATION"}.__contains__
    assert not {"X86_FEATURE_XENPV", "X86_FEATURE_KAISER"} & features_without_config(on, decl44)
    # 4.14.5-like: Xen PV has its own option (off here: an HVM-only Xen), no PTI option, no CR3 write
    decl145 = {"CONFIG_XEN", "CONFIG_XEN_PV"}.__contains__
    off = features_without_config({"CONFIG_XEN", "CONFIG_PAGE_TABLE_ISOLATION"}.__contains__, decl145)
    assert {"X86_FEATURE_XENPV", "X86_FEATURE_PTI", "X86_FEATURE_KAISER"} <= off
    # a first PTI patch: CR3 writes without an option are PTI on
    assert not {"X86_FEATURE_PTI", "X86_FEATURE_KAISER"} & features_without_config(on, decl145, cr3_writes=True)


def test_xen_pv_runs_without_kaiser():
    from entrylint.analysis.state import Tuple

    t = Tuple(Origin.USER, Space.USER, Space.USER, Stack.USER)
    assert t.assume("X86_FEATURE_KAISER", Feature.ON).assume("X86_FEATURE_XENPV", Feature.ON) is None
    assert t.assume("X86_FEATURE_XENPV", Feature.ON).feature("X86_FEATURE_KAISER") is Feature.OFF
