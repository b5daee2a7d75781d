"""4.15-5.4 entry machinery (MODEL 6.1): asm helpers that switch stacks and
return there, maskable interrupts, the SYSCALL MSR targets a tree picks by
PTI, and a jump through a register to a code address -- on fixtures written
for them in the style of those versions."""

from __future__ import annotations

from pathlib import Path

import pytest

from entrylint import api
from entrylint.analysis.msr_entries import parse
from entrylint.analysis.state import Feature, Origin, Space, Stack

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "analysis"
TREE = FIX / "trampoline_tree"
STATE_RULES = ["EL201", "EL202", "EL203", "EL204", "EL301", "EL302"]
U, K = Space.USER, Space.KERNEL
PTI = "X86_FEATURE_PTI"


@pytest.fixture(scope="module")
def irq():
    return api.analyze(FIX / "forward_irq_helper.S")


@pytest.fixture(scope="module")
def tramp():
    return api.analyze(TREE / "arch/x86/entry/entry_64.S", api.Options(root=TREE))


def _insn(an, pred):
    (ins,) = [i for i in an.program.instructions if pred(i)]
    return ins


def _line(name: str, needle: str) -> int:
    return next(i for i, line in enumerate((FIX / name).read_text().splitlines(), 1) if needle in line)


# --- maskable interrupts ---------------------------------------------------------

def test_irq_vector_starts_without_exit_site_tuples(irq):
    """An external interrupt is never delivered in an exit window (the kernel
    runs them with IF=0): unlike an exception vector it cannot find the user
    GS/CR3 from kernel mode, even though the file has the exit's iret label."""
    assert "native_irq_return_iret" in irq.program.labels
    (e,) = irq.entries
    assert (e.symbol, e.kind.name) == ("apic_timer_interrupt", "irq")
    assert {(t.origin, t.gs, t.cr3, t.site) for t in e.kind.tuples} == {
        (Origin.USER, U, U, ""), (Origin.KERNEL, K, K, "")}


def test_stub_continues_with_the_helpers_exit_state(irq):
    """call interrupt_entry returns on another stack with the kernel GS and
    CR3: the C handler after it is called in that state on every path."""
    call = _insn(irq, lambda i: i.target_name == "smp_apic_timer_interrupt")
    before = irq.forward.before[call.index]
    assert before and {(t.gs, t.cr3) for t in before} == {(K, K)}


def test_stack_pointer_pushed_then_popped_restores_that_stack(irq):
    """ENTER_IRQ_STACK pushes the task-stack pointer on the IRQ stack and
    LEAVE_IRQ_STACK pops it back into %rsp: the task stack, not the user's."""
    line = _line("forward_irq_helper.S", "testb\t$3, CS(%rsp)")
    ins = _insn(irq, lambda i: i.location.line == line)
    assert {t.stack for t in irq.forward.before[ins.index]} == {Stack.TASK}


def test_irq_helper_fixture_is_quiet_for_the_state_rules():
    res = api.check(FIX / "forward_irq_helper.S", select=STATE_RULES)
    assert [f.render() if hasattr(f, "render") else str(f) for f in res.findings] == []


# --- SYSCALL MSR targets (4.15-4.19 trampoline) ------------------------------------

def test_msr_targets_read_from_the_trees_c_code():
    text = (TREE / "arch/x86/kernel/cpu/common.c").read_text()
    m = parse(text)
    assert m.gates["entry_SYSCALL_64"] == ((PTI, Feature.OFF),)
    # named through a local variable's initializer
    assert m.gates["entry_SYSCALL_64_trampoline"] == ((PTI, Feature.ON),)
    assert m.kind("ignore_sysret") == "syscall" and "ignore_sysret" not in m.gates


def test_msr_parse_negation_braces_and_unconditional():
    m = parse("""
        if (!boot_cpu_has(X86_FEATURE_FOO)) {
                wrmsrl(MSR_LSTAR, (unsigned long)a_entry);
        } else {
                wrmsrl(MSR_LSTAR, (unsigned long)b_entry);
        }
        wrmsr(MSR_IA32_SYSENTER_EIP, (unsigned long)c_entry, 0);
        wrmsrl_cstar((unsigned long)d_entry);
        /* wrmsrl(MSR_LSTAR, commented_out); */
    """)
    assert m.gates == {"a_entry": (("X86_FEATURE_FOO", Feature.OFF),),
                       "b_entry": (("X86_FEATURE_FOO", Feature.ON),)}
    assert m.kind("c_entry") == "sysenter" and m.kind("d_entry") == "syscall"
    assert m.kind("commented_out") is None


def test_msr_parse_reads_the_code_after_a_comment_opener_in_a_string():
    """The MSR reader blanks comments with the C index's scan (ctext): a
    "/*" or "//" inside a string opens no comment, so the write after it
    is read; a real comment still hides one."""
    m = parse("""
        pr_info("entry: see http://example.org/*.html");
        wrmsrl(MSR_LSTAR, (unsigned long)a_entry); // and "quoted" here
        /* wrmsrl(MSR_CSTAR, (unsigned long)commented_out); */
        wrmsrl(MSR_CSTAR, (unsigned long)b_entry);
    """)
    assert m.kind("a_entry") == "syscall" and m.kind("b_entry") == "syscall"
    assert m.kind("commented_out") is None


def test_syscall_targets_start_with_the_pti_value_the_msr_write_implies(tramp):
    kinds = {e.symbol: e for e in tramp.entries}
    assert {t.feature(PTI) for t in kinds["entry_SYSCALL_64"].kind.tuples} == {Feature.OFF}
    assert {t.feature(PTI) for t in kinds["entry_SYSCALL_64_trampoline"].kind.tuples} == {Feature.ON}
    # a plain global label, yet the compat SYSCALL target: user state, not called from C
    assert kinds["ignore_sysret"].kind.name == "syscall"


def test_jump_through_register_reaches_the_second_stage(tramp):
    """movq $entry_SYSCALL_64_stage2, %rdi; jmp *%rdi: the trampoline's path
    goes on at the second stage, with PTI on and the kernel CR3."""
    sym = tramp.program.symbols["entry_SYSCALL_64_stage2"]
    before = tramp.forward.before[tramp.cfg.entry(sym.start)]
    pti_on = {(t.origin, t.gs, t.cr3, t.stack) for t in before if t.feature(PTI) is Feature.ON}
    assert pti_on == {(Origin.USER, K, K, Stack.TASK)}


def test_trampoline_tree_is_quiet_for_the_state_rules():
    res = api.check(TREE / "arch/x86/entry/entry_64.S", api.Options(root=TREE), select=STATE_RULES)
    assert [str(f) for f in res.findings] == []


def test_sysret_exit_is_judged_with_pti_on(tramp):
    """The shared exit is reached with PTI on (from the trampoline) and off
    (from entry_SYSCALL_64); with PTI on it leaves with the user CR3."""
    exits = [e for e in tramp.forward.event_list("exit-user") if e.before.feature(PTI) is Feature.ON]
    assert exits and all(e.before.cr3 is U and e.before.gs is U for e in exits)


# --- a stack-switching helper of another file (4.14 compat) -------------------------

SIBLING = FIX / "sibling_tree"


def test_helper_of_another_file_is_followed_through():
    """entry_64_compat.S calls entry_64.S's switch_to_thread_stack, which does
    the CR3 switch and returns on the task stack: the C call after it runs
    with the kernel CR3 and no C call is recorded for the helper."""
    an = api.analyze(SIBLING / "arch/x86/entry/entry_64_compat.S", api.Options(root=SIBLING))
    call = _insn(an, lambda i: i.target_name == "do_int80_syscall_32")
    assert {(t.gs, t.cr3, t.stack) for t in an.forward.before[call.index]} == {(K, K, Stack.TASK)}
    assert {e.detail for e in an.forward.event_list("c-call")} == {"do_int80_syscall_32"}
    res = api.check(SIBLING / "arch/x86/entry/entry_64_compat.S", api.Options(root=SIBLING), select=STATE_RULES)
    assert [str(f) for f in res.findings] == []



def test_a_helper_of_another_file_is_walked_once_per_tree_with_facts_on(facts, monkeypatch):
    """With the tree's facts kept (the CLI), the walk through another file's
    helper is one of them: a later run has it from the disk and does not
    expand that file (entry.S for 6.12's entry_64.S, 27 ms and its walk);
    it gives what the walk gives with facts off, and is made again when
    that file changes."""
    import shutil

    from entrylint.analysis import callees, siblings

    tmp_path, forget_facts = facts
    tree = tmp_path / "tree"
    shutil.copytree(SIBLING, tree)
    compat, helper = tree / "arch/x86/entry/entry_64_compat.S", tree / "arch/x86/entry/entry_64.S"
    walked = []
    real = siblings._follow
    monkeypatch.setattr(siblings, "_follow", lambda *a: walked.append(a[2]) or real(*a))

    def call_state():
        an = api.analyze(compat, api.Options(root=tree))
        call = _insn(an, lambda i: i.target_name == "do_int80_syscall_32")
        return {(t.gs, t.cr3, t.stack) for t in an.forward.before[call.index]}

    def restart():  # a new process: nothing remembered but the disk
        forget_facts()
        callees._EXPANDED.clear()
        callees._SUMMARIES.clear()

    once = ["switch_to_thread_stack", "restore_regs_and_iret"]  # (the call, and the jump to the iret)
    assert call_state() == {(K, K, Stack.TASK)} and walked == once
    restart()
    assert call_state() == {(K, K, Stack.TASK)} and walked == once
    helper.write_text(helper.read_text().replace("ENTRY(switch_to_thread_stack)\n", "ENTRY(switch_to_thread_stack)\n\tnop\n"))
    restart()
    assert call_state() == {(K, K, Stack.TASK)} and walked == once * 2


def test_c_call_inside_another_files_helper_is_judged_at_the_call():
    """A helper of another file that calls C before its CR3 switch: the C call
    is reported at the caller's call line, with the state it had inside."""
    an = api.analyze(SIBLING / "arch/x86/entry/entry_64_compat.S", api.Options(root=SIBLING),
                     text=(SIBLING / "arch/x86/entry/entry_64_compat.S").read_text()
                     .replace("call\tswitch_to_thread_stack", "call\tswitch_with_c_first"))
    call = _insn(an, lambda i: i.target_name == "switch_with_c_first")
    evs = [e for e in an.forward.event_list("c-call") if e.node == call.index]
    assert {(e.detail, e.before.cr3) for e in evs} == {("trace_entry", U)}


def test_jump_to_another_files_exit_is_judged_at_the_jump():
    """4.4's and 4.9's INT80 switch to the user CR3 and GS, then jump to
    entry_64.S's iret: that exit is walked with the state the jump had and
    judged at the jump, naming the iret.  Without the user switch: EL203
    there.  (A jump out of the file was taken for a tail call into C before:
    the exit was never seen.)"""
    compat = SIBLING / "arch/x86/entry/entry_64_compat.S"
    an = api.analyze(compat, api.Options(root=SIBLING))
    jump = _insn(an, lambda i: i.target_name == "restore_regs_and_iret")
    line = _line("sibling_tree/arch/x86/entry/entry_64.S", "iretq")
    exits = [e for e in an.forward.event_list("exit-user") if e.node == jump.index]
    assert {(e.detail, e.before.cr3, e.before.gs) for e in exits} == {(f"iretq (entry_64.S:{line})", U, U)}
    assert not [e for e in an.forward.event_list("c-call") if e.node == jump.index]
    dropped = compat.read_text().replace("\tmovq\t%rax, %cr3\n", "")
    res = api.check(compat, api.Options(root=SIBLING), text=dropped, select=STATE_RULES)
    jump_line = _line("sibling_tree/arch/x86/entry/entry_64_compat.S", "jmp\trestore_regs_and_iret") - 1  # (a line up)
    assert [(f.id, f.location.line, f.message) for f in res.findings] == [
        ("EL203", jump_line,
         f"iretq (entry_64.S:{line}) after jmp restore_regs_and_iret to user mode with the kernel CR3")]


def test_what_a_sibling_defines_is_read_again_when_it_changes(tmp_path):
    """The names each sibling file defines are worked out once per contents
    of the file (every file of a folder asks about the others, in every
    profile): a sibling that stops defining the helper, on disk or in a
    patch applied in memory, is not followed any more, in the same process."""
    import os
    import shutil

    from entrylint.source import overlay

    tree = tmp_path / "tree"
    shutil.copytree(SIBLING, tree)
    compat, helper = tree / "arch/x86/entry/entry_64_compat.S", tree / "arch/x86/entry/entry_64.S"

    def followed():
        an = api.analyze(compat, api.Options(root=tree))
        call = _insn(an, lambda i: i.target_name == "do_int80_syscall_32")
        return {(t.gs, t.cr3, t.stack) for t in an.forward.before[call.index]} == {(K, K, Stack.TASK)}

    renamed = helper.read_text().replace("switch_to_thread_stack", "switch_renamed")
    assert followed()
    with overlay.using(overlay.Overlay(tree, {"arch/x86/entry/entry_64.S": renamed})):
        assert not followed()
    assert followed()
    st = helper.stat()
    helper.write_text(renamed)
    os.utime(helper, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert not followed()


def test_the_walks_of_a_helper_share_their_steps_and_give_what_each_walk_alone_gives(monkeypatch):
    """A helper called from many places of a file (entry_ibpb: from the
    IBRS and untrain macros of 6.8's entry_64.S) is walked from each
    caller's tuple; those walks share a StepMemo (the steps and plans of
    the earlier ones), and each gives what a walk without it gives."""
    from kernels import shared_tree

    from entrylint.analysis import siblings

    root = shared_tree("linux-6.8.1")
    if root is None:
        pytest.skip("linux-6.8.1 is not in ../shared/kernels")
    calls = []
    real = siblings._walk_from
    monkeypatch.setattr(siblings, "_WALKS", {})  # (none walked before in this process)

    def walk_from(program_cfg, name, t, transfer_config, shared=None):
        got = real(program_cfg, name, t, transfer_config, shared)
        calls.append((program_cfg, name, t, transfer_config, shared, got))
        return got

    monkeypatch.setattr(siblings, "_walk_from", walk_from)
    api.analyze(root / "arch/x86/entry/entry_64.S", api.Options(root=root, profile="defconfig"))
    assert {name for _, name, *_ in calls} == {"entry_ibpb"}
    assert len({t for _, _, t, *_ in calls}) >= 5  # (from as many tuples)
    assert all(shared is calls[0][4] and shared is not None for *_, shared, _ in calls)
    for program_cfg, name, t, config, _shared, got in calls:
        assert got == real(program_cfg, name, t, config)
