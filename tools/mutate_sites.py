"""The mutation sites of tools/mutate.py, one table per tree.

Each table calls ``add(cls, file, ops, name, extra=(), note="")`` once per
mutant; ``ops`` are the edit operations of mutate.apply in the tree's own
line numbering, each naming the text it expects on its line, so that a table
that no longer fits its tree fails loudly (SiteError).  ``src_line(file, L)``
reads a line of the tree being mutated.  The tables are test data about
released trees (which line is the SWAPGS of which path), not part of the
model.
"""

from __future__ import annotations

E64, C32, CH, E32 = "entry_64.S", "entry_64_compat.S", "calling.h", "entry_32.S"
REGS = ("%rax", "%rbx", "%rcx", "%rdx", "%rsi", "%rdi", "%rbp", "%rsp",
        "%r8", "%r9", "%r10", "%r11", "%r12", "%r13", "%r14", "%r15")


def scratch_sites(add, f: str, L: int, param: str, cur: str, exclude=()) -> None:
    """live-scratch (EL101): ``param`` of the switch at ``f``:``L`` (now
    ``cur``) pointed at each register but ``exclude``, which are dead there."""
    for r in REGS:
        if r != cur and r not in exclude:
            add("live-scratch", f, [("sub", L, param, f"{param}={cur}", f"{param}={r}")], f"{f}:{L}:{param}={r}")


def live_after_sites(add, live: dict, cur: dict) -> None:
    """live-scratch (EL101) at entry_64.S's switches: line -> the registers
    live there (``cur``: line -> its scratch now)."""
    for L, regs in live.items():
        for r in regs:
            add("live-scratch", E64, [("sub", L, "scratch_reg", f"scratch_reg={cur[L]}", f"scratch_reg={r}")],
                f"{E64}:{L}:scratch_reg={r}")


def drop_exit_switch_sites(add, src_line, sites) -> None:
    """drop-exit-switch (EL203): each (file, line, macro, scratch, exits)
    exit switch blanked, or made a kernel switch; ``exits``: the (file,
    line) of the instructions that then reach user mode with the kernel CR3."""
    for f, L, text, scr, exits in sites:
        add("drop-exit-switch", f, [("blank", L, text)], f"{f}:{L}:drop", extra=exits)
        add("drop-exit-switch", f, [("sub", L, text, src_line(f, L).strip(),
                                     f"SWITCH_TO_KERNEL_CR3 scratch_reg={scr}")], f"{f}:{L}:to-kernel", extra=exits)


def drop_ifdef_sites(add, line: int, sym: str, other: range) -> None:
    """drop-ifdef (EL401): calling.h's ``#ifdef sym`` at ``line`` around the
    switch macros removed with its ``#else`` part (``other``), or weakened."""
    region = tuple((CH, L) for L in range(line, other.stop))  # every line the guard covered
    add("drop-ifdef", CH, [("blank", line, sym)] + [("blank", L, "") for L in other],
        f"{CH}:{line}-{other.stop - 1}:removed", extra=region)
    for new, tag in (("#ifdef CONFIG_X86_64", "x86_64"), ("#if 1", "if1"),
                     (f"#if defined({sym}) || defined(CONFIG_X86_64)", "or")):
        add("drop-ifdef", CH, [("sub", line, f"#ifdef {sym}", f"#ifdef {sym}", new)], f"{CH}:{line}:{tag}",
            extra=region)


def drop_gate_sites(add, src_line, lines) -> None:
    """drop-gate (EL402): the X86_FEATURE_PTI ALTERNATIVE of calling.h's
    macros at ``lines`` blanked, or left with an empty original."""
    for L in lines:
        add("drop-gate", CH, [("blank", L, "X86_FEATURE_PTI")], f"{CH}:{L}:drop")
        add("drop-gate", CH, [("sub", L, "X86_FEATURE_PTI", src_line(CH, L).strip().split(",")[0],
                               'ALTERNATIVE ""')], f"{CH}:{L}:empty")


def save_clobber_sites(add, lines, switch: int) -> None:
    """save-clobber (EL102): %r14, the saved CR3, written after each of
    entry_64.S's ``lines`` (an "ins" goes after its line): zeroed, or
    loaded from %rax.  After the SAVE_AND_SWITCH line ``switch`` itself
    %rax is the switch's scratch, and a reader of it a second fault
    (EL101), so the load there is from %rdi -- and the current CR3 read
    over the saved one is a third variant."""
    for L in lines:
        for ins, tag in (("\txorl\t%r14d, %r14d", "xor"), (f"\tmovq\t{'%rdi' if L == switch else '%rax'}, %r14", "mov")):
            add("save-clobber", E64, [("ins", L, ins)], f"{E64}:+{L}:{tag}")
    add("save-clobber", E64, [("ins", switch, "\tmovq\t%cr3, %r14")], f"{E64}:+{switch}:cr3")


def flag_misuse_sites(add, jumps) -> None:
    """flag-misuse (EL501): the jump after a bt, at each (line, mnemonic), on a flag bt does not set."""
    for L, j in jumps:
        for new in ("jz", "jnz", "js", "jo"):
            add("flag-misuse", CH, [("sub", L, j, f"\t{j}\t", f"\t{new}\t")], f"{CH}:{L}:{new}")


def pti32_sites(add, src_line, enter: int, sysexit: int, iret: tuple[int, ...], lines: dict,
                percpu: str = "pcpu_hot + X86_current_task", checked: bool = False) -> None:
    """32-bit PTI (entry_32.S under ``max``, which builds 32-bit files with
    PAE, so with the switches compiled in).  ``enter``: SYSENTER's kernel
    switch (its scratch %eax pushed around it); ``sysexit``: the SYSEXIT
    path's exit switch; ``iret``: an exit switch and the exit instructions
    after it.  ``lines`` (the macro bodies): ``stack``, the line before
    SWITCH_TO_KERNEL_STACK's switch; ``note``, its note of the user CR3;
    ``back``, PARANOID_EXIT_TO_KERNEL_MODE's switch back; ``gates``, (gate,
    CR3 write) of SWITCH_TO_USER_CR3 and SWITCH_TO_KERNEL_CR3.  ``percpu``:
    a per-cpu variable the user page table does not map.  ``checked``: the
    iret path's BUG_IF_WRONG_CR3 tests the RPL as the walk reads it (4.19's
    SEGMENT_RPL_MASK, not 6.x's USER_SEGMENT_RPL_MASK with EFLAGS.VM), so
    a dropped exit switch stops at its ud2 as the SYSEXIT path's does."""
    exits = tuple((E32, L) for L in iret[1:])
    for r in ("%ebx", "%ecx", "%edx", "%esi", "%edi", "%ebp"):
        # SYSENTER: every register but %eax is the user's; SYSEXIT's switch:
        # the user's registers are popped before it
        for L in (enter, sysexit):
            add("live-scratch", E32, [("sub", L, "scratch_reg", "scratch_reg=%eax", f"scratch_reg={r}")],
                f"{E32}:{L}:scratch_reg={r}")
    # SWITCH_TO_KERNEL_STACK's kernel switch runs on the entry stack with the
    # user CR3: a C call or a per-cpu read before it, and after the exit
    # switch before the iret
    add("c-call", E32, [("ins", lines["stack"], "\tcall\ttrace_hardirqs_off")],
        f"{E32}:+{lines['stack']}:trace_hardirqs_off")
    for L in (lines["stack"], iret[0]):
        add("kernel-mem", E32, [("ins", L, f"\tcmpl\t$0, PER_CPU_VAR({percpu})")], f"{E32}:+{L}")
    # (the SYSEXIT path's switch is left out: max has DEBUG_ENTRY, whose
    # BUG_IF_WRONG_CR3 no_user_check=1 before the sysexit stops a kernel CR3
    # at its ud2 -- the kernel's own check, so no path reaches the sysexit)
    if not checked:
        drop_exit_switch_sites(add, src_line, [(E32, iret[0], "SWITCH_TO_USER_CR3", "%eax", exits)])
    # an exception that hit an exit after its user CR3 write (on the entry
    # stack) returns there through PARANOID_EXIT_TO_KERNEL_MODE: the note of
    # the user CR3 it found, or the switch back the note asks for, dropped
    add("drop-exit-switch", E32, [("blank", lines["note"], "CS_FROM_USER_CR3")], f"{E32}:{lines['note']}:drop-note",
        extra=exits)
    add("drop-exit-switch", E32, [("blank", lines["back"], "SWITCH_TO_USER_CR3")], f"{E32}:{lines['back']}:drop",
        extra=exits)
    for L, write in lines["gates"]:  # entry_32.S's own switch macros lose their PTI gate
        add("drop-gate-32", E32, [("blank", L, "X86_FEATURE_PTI")], f"{E32}:{L}:drop", extra=((E32, write),))


# entry_32.S's macro bodies, at the same lines in 6.8 and 6.12 (pti32_sites)
PTI32_6X = {"stack": 369, "note": 488, "back": 610, "gates": ((58, 62), (89, 95))}

def sites_612(add, src_line) -> None:
    """Debian's linux-source-6.12 (numbering is that tree's)."""

    # swap-entry (EL301).  entry_SYSCALL_64 is left out: either order puts a
    # second fault in (the %gs store of the user %rsp before SWAPGS, or the
    # %rsp scratch clobbered before it is saved).  For SYSENTER and compat
    # SYSCALL the SWAPGS moves down (the switch moving up would clobber %rax /
    # %rsp before they are saved); elsewhere the switch moves up, so that the
    # lfence still follows the SWAPGS.
    for f, sw, gs, e in ((E64, 686, 685, "SWITCH_TO_KERNEL_CR3"), (E64, 1022, 1019, "SWITCH_TO_KERNEL_CR3"),
                         (E64, 1080, 1078, "SWITCH_TO_KERNEL_CR3"), (E64, 1174, 1172, "SWITCH_TO_KERNEL_CR3")):
        add("swap-entry", f, [("move_before", sw, gs, e, "swapgs")], f"{f}:{sw}")
    for f, gs, sw in ((C32, 54, 57), (C32, 187, 193)):
        add("swap-entry", f, [("move_after", gs, sw, "swapgs", "SWITCH_TO_KERNEL_CR3")], f"{f}:{gs}")
    # swap-exit (EL301; the switch reads user_pcid_flush_mask through %gs, so
    # EL302 at the same line is the same fault)
    for f, gs, sw in ((E64, 164, 158), (E64, 715, 714), (C32, 279, 274)):
        add("swap-exit", f, [("move_before", gs, sw, "swapgs", "SWITCH_TO_USER_CR3")], f"{f}:{gs}")

    # live-scratch (EL101): every register that holds a live value there.
    scratch_sites(add, E64, 94, "scratch_reg", "%rsp", ())  # SYSCALL: no user register saved yet
    scratch_sites(add, C32, 193, "scratch_reg", "%rsp", ())
    scratch_sites(add, C32, 57, "scratch_reg", "%rax", ())  # SYSENTER: only %rax saved
    scratch_sites(add, E64, 686, "scratch_reg", "%rdi", ())  # espfix return: only %rdi saved
    scratch_sites(add, E64, 1174, "scratch_reg", "%rdx", ())  # NMI from user: only %rdx saved
    scratch_sites(add, E64, 158, "scratch_reg", "%rdi", ("%rax",))  # %rax: the macro's own scratch2
    scratch_sites(add, E64, 714, "scratch_reg", "%rdi", ("%rax",))
    scratch_sites(add, E64, 611, "scratch_reg", "%rdi", ("%rax",))  # %rax is pushed around it
    scratch_sites(add, E64, 611, "scratch_reg2", "%rax", ("%rdi",))
    scratch_sites(add, C32, 274, "scratch_reg", "%r8", ("%r9", "%r10"))  # r8-r10 zeroed after
    scratch_sites(add, C32, 274, "scratch_reg2", "%r9", ("%r8", "%r10"))
    live_after = {1022: ("%rsp",), 1080: ("%rsp",), 888: ("%rsp",), 983: ("%rbx", "%rsp"), 1416: ("%rbx", "%rsp")}
    cur = {1022: "%rax", 1080: "%rax", 888: "%rax", 983: "%rax", 1416: "%r15"}
    live_after_sites(add, live_after, cur)

    # save-clobber (EL102): %r14 written between SAVE_AND_SWITCH and PARANOID_RESTORE_CR3
    save_clobber_sites(add, (414, 420, 472, 495, 526, 532, 888, 937, 973, 1407, 1411, 1414), 888)

    # call-clobber (EL103): a caller-saved register not restored after the C call
    # (%rax is left out: after a C call it holds the return value, which EL103 does
    # not judge -- MODEL 4; the espfix path's pushq %rdi is a reader on the way out)
    exits64 = ((E64, 166), (E64, 659), (E64, 1472), (C32, 281), (E64, 684))
    for L, r in ((139, "%r11"), (140, "%r10"), (141, "%r9"), (142, "%r8"), (144, "%rcx"),
                 (145, "%rdx"), (146, "%rsi"), (148, "%rdi")):
        add("call-clobber", CH, [("sub", L, f"popq {r}", f"popq {r}", "addq $8, %rsp")], f"{CH}:{L}:{r}",
            extra=exits64)
    # (%rdx: the "Skip pt_regs->cx" pop at 241 writes it too, so dropping 242 alone
    # leaves it a user value -- an equivalent mutant: both are dropped)
    for Ls, r in (((241, 242), "%rdx"), ((243,), "%rsi"), ((244,), "%rdi")):
        add("call-clobber", C32, [("sub", L, r, f"popq\t{r}", "addq\t$8, %rsp") for L in Ls],
            f"{C32}:{'-'.join(map(str, Ls))}:{r}", extra=((C32, 281),))
    for L, r in ((237, "%r11"), (238, "%rcx")):
        add("call-clobber", C32, [("blank", L, r)], f"{C32}:{L}:{r}", extra=((C32, 281),))

    # c-call (EL201): a C call after the registers are saved, before the switch
    for L in (1020, 1079, 1010, 887):
        for fn in ("trace_hardirqs_off", "enter_from_user_mode"):
            add("c-call", E64, [("ins", L, f"\tcall\t{fn}")], f"{E64}:+{L}:{fn}")
    add("c-call", E64, [("move_block_after", 1088, 1090, 1079)], f"{E64}:1088-1090^1079",
        note="leaq/call fixup_bad_iret/mov moved above the switch")

    # kernel-mem (EL202): pcpu_hot is not mapped in the user page table
    for f, L in ((E64, 91), (E64, 93), (C32, 54), (C32, 56), (C32, 187), (C32, 190), (E64, 1020), (E64, 1079),
                 (E64, 1173), (E64, 685), (E64, 158), (E64, 160), (E64, 161), (E64, 714),
                 (C32, 274), (C32, 276), (C32, 277), (C32, 278)):
        for v in ("X86_current_task", "X86_top_of_stack"):
            add("kernel-mem", f, [("ins", L, f"\tcmpq\t$0, PER_CPU_VAR(pcpu_hot + {v})")], f"{f}:+{L}:{v}")

    # drop-exit-switch (EL203)
    drop_exit_switch_sites(add, src_line, [(f, L, text, scr, ((f, ex),)) for f, L, text, scr, ex in (
        (E64, 158, "SWITCH_TO_USER_CR3_STACK", "%rdi", 166), (E64, 714, "SWITCH_TO_USER_CR3_STACK", "%rdi", 659),
        (E64, 611, "SWITCH_TO_USER_CR3 ", "%rdi", 659), (C32, 274, "SWITCH_TO_USER_CR3_NOSTACK", "%r8", 281))])

    # user-stack (EL204)
    # (not right after a switch with %rsp as scratch: %rsp holds a CR3 value there, so a
    # stack access is a second fault, the live scratch EL101 reports)
    for f, L in ((E64, 89), (E64, 91), (E64, 93), (C32, 185), (C32, 187), (C32, 190),
                 (E64, 161), (E64, 164), (E64, 165), (C32, 261), (C32, 274), (C32, 279), (C32, 280)):
        for ins, tag in (("\tpushq\t%rax", "push"), ("\tmovq\t%rax, -8(%rsp)", "store")):
            add("user-stack", f, [("ins", L, ins)], f"{f}:+{L}:{tag}")

    # gs-before-swapgs (EL302): before an entry SWAPGS, after an exit SWAPGS
    for f, L in ((E64, 90), (C32, 53), (C32, 186), (E64, 1018), (E64, 1077), (E64, 1171), (E64, 684),
                 (E64, 164), (E64, 715), (C32, 279), (E64, 575)):
        for ins, tag in (("\tmovq\t%rsp, PER_CPU_VAR(cpu_tss_rw + TSS_sp2)", "store"),
                         ("\tcmpq\t$0, PER_CPU_VAR(cpu_tss_rw + TSS_sp2)", "load")):
            add("gs-before-swapgs", f, [("ins", L, ins)], f"{f}:+{L}:{tag}")

    # drop-fence (EL303): error_entry's kernel fence (1063) is also the one on
    # the path that skips its user swapgs (1019)
    for L, gs in ((1020, (1019,)), (1079, (1078,)), (1173, (1172,)), (929, (927,)), (1063, (1056, 1019))):
        add("drop-fence", E64, [("blank", L, "FENCE_SWAPGS")], f"{E64}:{L}", extra=tuple((E64, g) for g in gs))
    # the fence macros' own lfence dropped: the fault shows at each swapgs the
    # macro fences (FENCE_SWAPGS_USER_ENTRY after an entry swapgs, _KERNEL_ENTRY
    # on the path that skips one), as for the blanked invocations above
    users = ((E64, 1019), (E64, 1078), (E64, 1172))
    kernels = ((E64, 927), (E64, 1056), (E64, 1019))
    for L, sites in ((365, users), (368, kernels)):
        add("drop-fence", CH, [("sub", L, '"lfence"', '"lfence"', '""')], f"{CH}:{L}", extra=sites)

    # drop-ifdef (EL401): the guard of the PTI switch macros removed or weakened
    drop_ifdef_sites(add, 152, "CONFIG_MITIGATION_PAGE_TABLE_ISOLATION", range(279, 293))

    # drop-gate (EL402)
    drop_gate_sites(add, src_line, (175, 218, 224, 232, 251))

    # flag-misuse (EL501)
    flag_misuse_sites(add, ((196, "jnc"), (241, "jnc"), (259, "jnc"), (270, "jc")))

    # 32-bit (entry_32.S, under max with PAE and PTI: pti32_sites below):
    # per-cpu data through %fs, the user's until SAVE_ALL loads
    # __KERNEL_PERCPU and again once RESTORE_REGS or the SYSEXIT path puts it back
    for L in (808, 935, 861, 954):
        for ins, tag in (("\tmovl\t%esp, PER_CPU_VAR(cpu_tss_rw)", "store"),
                         ("\tcmpl\t$0, PER_CPU_VAR(cpu_tss_rw)", "load")):
            add("gs-before-swapgs", E32, [("ins", L, ins)], f"{E32}:+{L}:{tag}")
    # call-clobber (EL103): a caller-saved register of the i386 ABI not given
    # back after the C call (%eax is left out: it holds the return value).
    # SYSEXIT's %edx and %ecx, read by its sysexit; RESTORE_INT_REGS' pops,
    # read by the exits after RESTORE_REGS (IRET_FRAME) and RESTORE_ALL_NMI
    for L, r in ((859, "%edx"), (860, "%ecx")):
        add("call-clobber", E32, [("blank", L, r)], f"{E32}:{L}:{r}", extra=((E32, 892),))
    for L, r in ((258, "%ecx"), (259, "%edx")):
        add("call-clobber", E32, [("sub", L, f"popl\t{r}", f"popl\t{r}", "addl\t$4, %esp")], f"{E32}:{L}:{r}",
            extra=((E32, 962), (E32, 1063), (E32, 1198)))
    pti32_sites(add, src_line, 795, 873, (949, 962), PTI32_6X)


def sites_54(add, src_line) -> None:
    """linux-5.4.273 of ../shared/kernels: the MODEL 7 classes (numbering is
    that tree's).  5.4 enters IDT vectors through the interrupt_entry and
    error_entry helpers and returns through paravirt sites (INTERRUPT_RETURN,
    USERGS_SYSRET64), which the harness leaves as they are."""
    # swap-entry (EL301).  entry_SYSCALL_64 is left out for the reason given in
    # sites_612.  error_entry's three entries, the NMI from user and the espfix
    # return move the switch above SWAPGS (the fence still follows SWAPGS);
    # interrupt_entry's SWAPGS moves below its switch with its fence (the
    # switch moving up would clobber %rdi before it is pushed), so the switch
    # line is the reviewer's line too; SYSENTER and compat SYSCALL move SWAPGS
    # down as in sites_612.
    for sw, gs in ((1320, 1317), (1361, 1359), (1376, 1374), (1469, 1466), (748, 747)):
        add("swap-entry", E64, [("move_before", sw, gs, "SWITCH_TO_KERNEL_CR3", "SWAPGS" if sw != 1469 else "swapgs")],
            f"{E64}:{sw}")
    add("swap-entry", E64, [("move_block_after", 523, 524, 534)], f"{E64}:523-524^534",
        extra=((E64, 534),), note="SWAPGS and its fence moved below the switch")
    # (SYSENTER's SWAPGS is left in place: under max it is a paravirt call,
    # which needs the stack the switch's %rsp scratch has just destroyed -- a
    # second fault, EL101)
    add("swap-entry", C32, [("move_after", 204, 210, "swapgs", "SWITCH_TO_KERNEL_CR3")], f"{C32}:204")
    # swap-exit (EL301, and EL302 at the same line: the switch reads
    # user_pcid_flush_mask through %gs)
    for f, gs, sw in ((E64, 665, 661), (E64, 777, 776), (C32, 320, 315)):
        add("swap-exit", f, [("move_before", gs, sw, "SWAPGS" if f == E64 else "swapgs", "SWITCH_TO_USER_CR3")],
            f"{f}:{gs}")

    # live-scratch (EL101): every register that holds a live value there
    scratch_sites(add, E64, 156, "scratch_reg", "%rsp", ())  # SYSCALL: no user register saved yet
    # compat entries of 5.4 discard the user's %r8-%r15 (pt_regs gets zeros, the
    # registers are cleared): dead there, so no fault to use them as scratch
    r8_15 = ("%r8", "%r9", "%r10", "%r11", "%r12", "%r13", "%r14", "%r15")
    scratch_sites(add, C32, 55, "scratch_reg", "%rsp", r8_15)  # SYSENTER
    scratch_sites(add, C32, 210, "scratch_reg", "%rsp", r8_15)  # compat SYSCALL (%r8: the stashed user %esp, read)
    scratch_sites(add, E64, 1469, "scratch_reg", "%rdx", ())  # NMI from user: only %rdx saved
    scratch_sites(add, E64, 748, "scratch_reg", "%rdi", ())  # espfix return: only %rdi saved
    scratch_sites(add, E64, 661, "scratch_reg", "%rdi", ("%rax",))  # %rax: the macro's own scratch2
    scratch_sites(add, E64, 776, "scratch_reg", "%rdi", ("%rax",))
    scratch_sites(add, E64, 275, "scratch_reg", "%rdi", ("%rax",))
    scratch_sites(add, C32, 315, "scratch_reg", "%r8", ("%r9", "%r10"))  # r8-r10 zeroed after
    scratch_sites(add, C32, 315, "scratch_reg2", "%r9", ("%r8", "%r10"))

    # c-call (EL201): a C call after the registers are saved, before the switch
    # (not the .Lgs_change fixup's entry at 1360: it runs with the kernel CR3)
    for L in (1318, 1375):
        for fn in ("trace_hardirqs_off", "enter_from_user_mode"):
            add("c-call", E64, [("ins", L, f"\tcall\t{fn}")], f"{E64}:+{L}:{fn}")

    # drop-exit-switch (EL203): the exit switch dropped, or made a kernel switch
    # (INTERRUPT_RETURN is a paravirt site whose native side jumps to
    # native_iret: the iretq there, 721, is the exit the kernel CR3 reaches)
    drop_exit_switch_sites(add, src_line, [
        (E64, 661, "SWITCH_TO_USER_CR3_STACK", "%rdi", ((E64, 666), (E64, 721))),
        (E64, 275, "SWITCH_TO_USER_CR3_STACK", "%rdi", ((E64, 279),)),
        (C32, 315, "SWITCH_TO_USER_CR3_NOSTACK", "%r8", ((C32, 321),))])

    # drop-ifdef (EL401): the guard of the PTI switch macros removed or weakened
    drop_ifdef_sites(add, 171, "CONFIG_PAGE_TABLE_ISOLATION", range(298, 312))

    # flag-misuse (EL501): the jump after a bt tests a flag bt does not set
    flag_misuse_sites(add, tuple((L, "jnc") for L in (216, 254, 272, 281)))


def sites_515(add, src_line) -> None:
    """linux-5.15.135 of ../shared/kernels, a stable tree whose backports
    are reviewed: the MODEL 7 classes and the GS, fence and save-register
    classes (numbering is that tree's).  Its entry code is 6.12's before
    pcpu_hot and FRED: SWAPGS is still a macro on the IDT paths, and the
    compat entries push zeros for %r8-%r15.  The MODEL 7 classes: every
    mutant found, no collateral.  The others show what 6.12's show: a
    clobber inside the idtentry macros reaches
    the iretq as EL203 on a path the harness cannot tie to the macro body,
    and a PTI gate dropped from the kernel switch serialises the espfix
    entry (its EL303 goes).  (A %gs access before SWAPGS was also taken
    for an unfenced access after another conditional SWAPGS, EL303: one
    fault, two findings; fixed.)"""
    # swap-entry (EL301): as in sites_612 (entry_SYSCALL_64 left out)
    for sw, gs, g in ((704, 703, "swapgs"), (1032, 1029, "SWAPGS"), (1088, 1086, "SWAPGS"),
                      (1181, 1179, "swapgs")):
        add("swap-entry", E64, [("move_before", sw, gs, "SWITCH_TO_KERNEL_CR3", g)], f"{E64}:{sw}")
    for gs, sw, g in ((54, 57, "SWAPGS"), (207, 213, "swapgs")):
        add("swap-entry", C32, [("move_after", gs, sw, g, "SWITCH_TO_KERNEL_CR3")], f"{C32}:{gs}")
    # swap-exit (EL301, and EL302 at the same line)
    for f, gs, sw, g in ((E64, 221, 217, "swapgs"), (E64, 734, 733, "swapgs"), (C32, 321, 316, "swapgs")):
        add("swap-exit", f, [("move_before", gs, sw, g, "SWITCH_TO_USER_CR3")], f"{f}:{gs}")

    # live-scratch (EL101): every register that holds a live value there
    scratch_sites(add, E64, 93, "scratch_reg", "%rsp", ())  # SYSCALL: no user register saved yet
    # SYSENTER pushes zeros for %r8-%r15 and clears them: dead there
    scratch_sites(add, C32, 57, "scratch_reg", "%rax", ("%r8", "%r9", "%r10", "%r11", "%r12", "%r13", "%r14", "%r15"))
    # compat SYSCALL: %r8 holds the stashed user %esp and %r11 the flags (both
    # pushed); %r9, %r10 and %r12-%r15 are pushed as zeros
    scratch_sites(add, C32, 213, "scratch_reg", "%rsp", ("%r9", "%r10", "%r12", "%r13", "%r14", "%r15"))
    scratch_sites(add, E64, 704, "scratch_reg", "%rdi", ())  # espfix return: only %rdi saved
    scratch_sites(add, E64, 1181, "scratch_reg", "%rdx", ())  # NMI from user: only %rdx saved
    for L in (217, 635, 733):  # the _STACK exits: %rax is the macro's own scratch2
        scratch_sites(add, E64, L, "scratch_reg", "%rdi", ("%rax",))
    scratch_sites(add, C32, 316, "scratch_reg", "%r8", ("%r9", "%r10"))  # r8-r10 zeroed after
    scratch_sites(add, C32, 316, "scratch_reg2", "%r9", ("%r8", "%r10"))
    live_after = {1032: ("%rsp",), 1088: ("%rsp",), 901: ("%rsp",), 994: ("%rbx", "%rsp"), 1424: ("%rbx", "%rsp")}
    cur = {1032: "%rax", 1088: "%rax", 901: "%rax", 994: "%rax", 1424: "%r15"}
    live_after_sites(add, live_after, cur)

    # save-clobber (EL102): %r14 written between SAVE_AND_SWITCH and RESTORE_CR3
    save_clobber_sites(add, (458, 462, 901, 950, 978, 985, 993, 1414, 1419, 1423), 901)

    # c-call (EL201): a C call after the registers are saved, before the switch
    for L in (1030, 1087, 1020, 900):
        for fn in ("trace_hardirqs_off", "enter_from_user_mode"):
            add("c-call", E64, [("ins", L, f"\tcall\t{fn}")], f"{E64}:+{L}:{fn}")

    # drop-exit-switch (EL203)
    drop_exit_switch_sites(add, src_line, [(f, L, text, scr, ((f, ex),)) for f, L, text, scr, ex in (
        (E64, 217, "SWITCH_TO_USER_CR3_STACK", "%rdi", 222), (E64, 733, "SWITCH_TO_USER_CR3_STACK", "%rdi", 677),
        (E64, 635, "SWITCH_TO_USER_CR3_STACK", "%rdi", 677), (C32, 316, "SWITCH_TO_USER_CR3_NOSTACK", "%r8", 322))])

    # gs-before-swapgs (EL302): before an entry SWAPGS, after an exit SWAPGS
    for f, L in ((E64, 89), (C32, 53), (C32, 206), (E64, 1028), (E64, 1085), (E64, 1178), (E64, 702),
                 (E64, 221), (E64, 734), (C32, 321)):
        for ins, tag in (("\tmovq\t%rsp, PER_CPU_VAR(cpu_tss_rw + TSS_sp2)", "store"),
                         ("\tcmpq\t$0, PER_CPU_VAR(cpu_tss_rw + TSS_sp2)", "load")):
            add("gs-before-swapgs", f, [("ins", L, ins)], f"{f}:+{L}:{tag}")

    # drop-fence (EL303): error_entry's kernel fence also fences its user swapgs' other side
    for L, gs in ((1030, (1029,)), (1087, (1086,)), (1180, (1179,)), (942, (940,)), (1071, (1064, 1029))):
        add("drop-fence", E64, [("blank", L, "FENCE_SWAPGS")], f"{E64}:{L}", extra=tuple((E64, g) for g in gs))

    # drop-ifdef (EL401): the guard of the PTI switch macros removed or weakened
    drop_ifdef_sites(add, 144, "CONFIG_PAGE_TABLE_ISOLATION", range(271, 285))

    # drop-gate (EL402)
    drop_gate_sites(add, src_line, (167, 178, 218, 236))

    # flag-misuse (EL501)
    flag_misuse_sites(add, tuple((L, "jnc") for L in (189, 227, 245, 254)))


def sites_510(add, src_line) -> None:
    """linux-5.10.89 of ../shared/kernels, a stable series whose backports are
    reviewed: the MODEL 7 classes (numbering is that tree's).  5.15's shape
    before IBRS_ENTER, with the pt_regs offsets still in calling.h."""
    for sw, gs, g in ((677, 676, "swapgs"), (1024, 1021, "SWAPGS"), (1079, 1077, "SWAPGS"), (1170, 1167, "swapgs")):
        add("swap-entry", E64, [("move_before", sw, gs, "SWITCH_TO_KERNEL_CR3", g)], f"{E64}:{sw}")
    for gs, sw, g in ((52, 55, "SWAPGS"), (202, 208, "swapgs")):
        add("swap-entry", C32, [("move_after", gs, sw, g, "SWITCH_TO_KERNEL_CR3")], f"{C32}:{gs}")
    for f, gs, sw, g in ((E64, 612, 608, "SWAPGS"), (E64, 706, 705, "swapgs"), (C32, 311, 306, "swapgs")):
        add("swap-exit", f, [("move_before", gs, sw, g, "SWITCH_TO_USER_CR3")], f"{f}:{gs}")

    zeroed = ("%r8", "%r9", "%r10", "%r11", "%r12", "%r13", "%r14", "%r15")  # the compat entries push zeros
    scratch_sites(add, E64, 101, "scratch_reg", "%rsp")  # SYSCALL: no user register saved yet
    scratch_sites(add, C32, 55, "scratch_reg", "%rax", zeroed)  # SYSENTER
    scratch_sites(add, C32, 208, "scratch_reg", "%rsp", ("%r9", "%r10", "%r12", "%r13", "%r14", "%r15"))
    scratch_sites(add, E64, 677, "scratch_reg", "%rdi")  # espfix return: only %rdi saved
    scratch_sites(add, E64, 1170, "scratch_reg", "%rdx")  # NMI from user: only %rdx saved
    for L in (214, 608, 705):  # the _STACK exits: %rax is the macro's own scratch2
        scratch_sites(add, E64, L, "scratch_reg", "%rdi", ("%rax",))
    scratch_sites(add, C32, 306, "scratch_reg", "%r8", ("%r9", "%r10"))  # r8-r10 zeroed after
    scratch_sites(add, C32, 306, "scratch_reg2", "%r9", ("%r8", "%r10"))
    live_after_sites(add, {1024: ("%rsp",), 1079: ("%rsp",), 912: ("%rsp",), 987: ("%rbx", "%rsp"),
                           1407: ("%rbx", "%rsp")},
                     {1024: "%rax", 1079: "%rax", 912: "%rax", 987: "%rax", 1407: "%r15"})

    # c-call (EL201): a C call after the registers are saved, before the switch
    # (an "ins" goes after its line)
    for L in (1022, 1078, 1013, 911):
        for fn in ("trace_hardirqs_off", "enter_from_user_mode"):
            add("c-call", E64, [("ins", L, f"\tcall\t{fn}")], f"{E64}:+{L}:{fn}")

    # USERGS_SYSRET64 is a paravirt site: native_usergs_sysret64's sysretq
    drop_exit_switch_sites(add, src_line, [
        (E64, 214, "SWITCH_TO_USER_CR3_STACK", "%rdi", ((E64, 218), (E64, 53))),
        (E64, 608, "SWITCH_TO_USER_CR3_STACK", "%rdi", ((E64, 650),)),
        (E64, 705, "SWITCH_TO_USER_CR3_STACK", "%rdi", ((E64, 650),)),
        (C32, 306, "SWITCH_TO_USER_CR3_NOSTACK", "%r8", ((C32, 312),))])
    drop_ifdef_sites(add, 177, "CONFIG_PAGE_TABLE_ISOLATION", range(304, 318))
    flag_misuse_sites(add, tuple((L, "jnc") for L in (222, 260, 278, 287)))


def sites_61(add, src_line) -> None:
    """Debian's linux-source-6.1, a stable series whose backports are
    reviewed: the MODEL 7 classes (numbering is that tree's).  6.12's shape
    before pcpu_hot and FRED; the compat entries save %r8-%r15."""
    for sw, gs in ((719, 718), (1049, 1046), (1105, 1103), (1199, 1197)):
        add("swap-entry", E64, [("move_before", sw, gs, "SWITCH_TO_KERNEL_CR3", "swapgs")], f"{E64}:{sw}")
    for gs, sw in ((55, 58), (192, 198)):
        add("swap-entry", C32, [("move_after", gs, sw, "swapgs", "SWITCH_TO_KERNEL_CR3")], f"{C32}:{gs}")
    for f, gs, sw in ((E64, 213, 207), (E64, 748, 747), (C32, 282, 277)):
        add("swap-exit", f, [("move_before", gs, sw, "swapgs", "SWITCH_TO_USER_CR3")], f"{f}:{gs}")

    scratch_sites(add, E64, 94, "scratch_reg", "%rsp")  # SYSCALL: no user register saved yet
    scratch_sites(add, C32, 198, "scratch_reg", "%rsp")
    scratch_sites(add, C32, 58, "scratch_reg", "%rax")  # SYSENTER: only %rax saved
    scratch_sites(add, E64, 719, "scratch_reg", "%rdi")  # espfix return: only %rdi saved
    scratch_sites(add, E64, 1199, "scratch_reg", "%rdx")  # NMI from user: only %rdx saved
    for L in (207, 643, 747):  # the _STACK exits: %rax is the macro's own scratch2
        scratch_sites(add, E64, L, "scratch_reg", "%rdi", ("%rax",))
    scratch_sites(add, C32, 277, "scratch_reg", "%r8", ("%r9", "%r10"))  # r8-r10 zeroed after
    scratch_sites(add, C32, 277, "scratch_reg2", "%r9", ("%r8", "%r10"))
    live_after_sites(add, {1049: ("%rsp",), 1105: ("%rsp",), 918: ("%rsp",), 1011: ("%rbx", "%rsp"),
                           1444: ("%rbx", "%rsp")},
                     {1049: "%rax", 1105: "%rax", 918: "%rax", 1011: "%rax", 1444: "%r15"})

    # c-call (EL201): a C call after the registers are saved, before the switch
    # (an "ins" goes after its line)
    for L in (1047, 1104, 1037, 917):
        for fn in ("trace_hardirqs_off", "enter_from_user_mode"):
            add("c-call", E64, [("ins", L, f"\tcall\t{fn}")], f"{E64}:+{L}:{fn}")

    drop_exit_switch_sites(add, src_line, [
        (E64, 207, "SWITCH_TO_USER_CR3_STACK", "%rdi", ((E64, 215),)),
        (E64, 643, "SWITCH_TO_USER_CR3_STACK", "%rdi", ((E64, 692),)),
        (E64, 747, "SWITCH_TO_USER_CR3_STACK", "%rdi", ((E64, 692),)),
        (C32, 277, "SWITCH_TO_USER_CR3_NOSTACK", "%r8", ((C32, 284),))])
    drop_ifdef_sites(add, 147, "CONFIG_PAGE_TABLE_ISOLATION", range(274, 288))
    flag_misuse_sites(add, tuple((L, "jnc") for L in (192, 230, 248, 257)))


def sites_68(add, src_line) -> None:
    """linux-6.8.1 of ../shared/kernels (numbering is that tree's): 6.12's
    entry code before FRED and the MITIGATION_ renames (pcpu_hot, compat
    entries that save %r8-%r15), with 6.1's RESTORE_CR3 (a second bt/jnc on
    the flush mask, then a jmp).  The sites are sites_612's moved to this
    tree (the reasons for each are given there).  The MODEL 7 classes: every
    mutant found, no collateral.  The others show what 6.12's and 5.15's
    show: a clobber of %r14 inside the idtentry macros reaches the iretq as
    EL203 on a path (through idtentry.h's invocation) the harness cannot tie
    to the macro body; a PTI gate dropped from the kernel switch serialises
    the espfix entry, so its true EL303 goes.  Two faults of the analyser
    it found are fixed: its ``movq %cr3, %r14`` after the switch, which
    EL102 took for a saved CR3; and a %gs access on the user GS before an
    entry SWAPGS or after an exit one, which EL303 also took for an access
    after another conditional SWAPGS (one fault, two findings), and which
    before the espfix SWAPGS hid that SWAPGS' true EL303."""
    for sw, gs in ((688, 687), (1022, 1019), (1076, 1074), (1170, 1168)):
        add("swap-entry", E64, [("move_before", sw, gs, "SWITCH_TO_KERNEL_CR3", "swapgs")], f"{E64}:{sw}")
    for gs, sw in ((55, 58), (182, 188)):
        add("swap-entry", C32, [("move_after", gs, sw, "swapgs", "SWITCH_TO_KERNEL_CR3")], f"{C32}:{gs}")
    for f, gs, sw in ((E64, 164, 158), (E64, 717, 716), (C32, 274, 269)):
        add("swap-exit", f, [("move_before", gs, sw, "swapgs", "SWITCH_TO_USER_CR3")], f"{f}:{gs}")

    scratch_sites(add, E64, 94, "scratch_reg", "%rsp")  # SYSCALL: no user register saved yet
    scratch_sites(add, C32, 188, "scratch_reg", "%rsp")
    scratch_sites(add, C32, 58, "scratch_reg", "%rax")  # SYSENTER: only %rax saved
    scratch_sites(add, E64, 688, "scratch_reg", "%rdi")  # espfix return: only %rdi saved
    scratch_sites(add, E64, 1170, "scratch_reg", "%rdx")  # NMI from user: only %rdx saved
    for L in (158, 716):  # the _STACK exits: %rax is the macro's own scratch2
        scratch_sites(add, E64, L, "scratch_reg", "%rdi", ("%rax",))
    scratch_sites(add, E64, 613, "scratch_reg", "%rdi", ("%rax",))  # %rax is pushed around it
    scratch_sites(add, E64, 613, "scratch_reg2", "%rax", ("%rdi",))
    scratch_sites(add, C32, 269, "scratch_reg", "%r8", ("%r9", "%r10"))  # r8-r10 zeroed after
    scratch_sites(add, C32, 269, "scratch_reg2", "%r9", ("%r8", "%r10"))
    live_after_sites(add, {1022: ("%rsp",), 1076: ("%rsp",), 890: ("%rsp",), 983: ("%rbx", "%rsp"),
                           1413: ("%rbx", "%rsp")},
                     {1022: "%rax", 1076: "%rax", 890: "%rax", 983: "%rax", 1413: "%r15"})

    # save-clobber (EL102): %r14 written between SAVE_AND_SWITCH and RESTORE_CR3
    save_clobber_sites(add, (416, 422, 474, 497, 528, 534, 890, 939, 973, 1403, 1407, 1410), 890)

    # call-clobber (EL103): a caller-saved register not restored after the C call
    exits64 = ((E64, 166), (E64, 661), (E64, 1469), (C32, 276), (E64, 686))
    for L, r in ((132, "%r11"), (133, "%r10"), (134, "%r9"), (135, "%r8"), (137, "%rcx"),
                 (138, "%rdx"), (139, "%rsi"), (141, "%rdi")):
        add("call-clobber", CH, [("sub", L, f"popq {r}", f"popq {r}", "addq $8, %rsp")], f"{CH}:{L}:{r}",
            extra=exits64)
    # (%rdx: both pops, as in sites_612)
    for Ls, r in (((236, 237), "%rdx"), ((238,), "%rsi"), ((239,), "%rdi")):
        add("call-clobber", C32, [("sub", L, r, f"popq\t{r}", "addq\t$8, %rsp") for L in Ls],
            f"{C32}:{'-'.join(map(str, Ls))}:{r}", extra=((C32, 276),))
    for L, r in ((232, "%r11"), (233, "%rcx")):
        add("call-clobber", C32, [("blank", L, r)], f"{C32}:{L}:{r}", extra=((C32, 276),))

    # c-call (EL201): a C call after the registers are saved, before the switch
    for L in (1020, 1075, 1010, 889):
        for fn in ("trace_hardirqs_off", "enter_from_user_mode"):
            add("c-call", E64, [("ins", L, f"\tcall\t{fn}")], f"{E64}:+{L}:{fn}")
    add("c-call", E64, [("move_block_after", 1084, 1086, 1075)], f"{E64}:1084-1086^1075",
        note="leaq/call fixup_bad_iret/mov moved above the switch")

    # kernel-mem (EL202): pcpu_hot is not mapped in the user page table
    for f, L in ((E64, 91), (E64, 93), (C32, 55), (C32, 57), (C32, 182), (C32, 185), (E64, 1020), (E64, 1075),
                 (E64, 1169), (E64, 687), (E64, 158), (E64, 160), (E64, 161), (E64, 716),
                 (C32, 269), (C32, 271), (C32, 272), (C32, 273)):
        for v in ("X86_current_task", "X86_top_of_stack"):
            add("kernel-mem", f, [("ins", L, f"\tcmpq\t$0, PER_CPU_VAR(pcpu_hot + {v})")], f"{f}:+{L}:{v}")

    drop_exit_switch_sites(add, src_line, [(f, L, text, scr, ((f, ex),)) for f, L, text, scr, ex in (
        (E64, 158, "SWITCH_TO_USER_CR3_STACK", "%rdi", 166), (E64, 716, "SWITCH_TO_USER_CR3_STACK", "%rdi", 661),
        (E64, 613, "SWITCH_TO_USER_CR3 ", "%rdi", 661), (C32, 269, "SWITCH_TO_USER_CR3_NOSTACK", "%r8", 276))])

    # user-stack (EL204), not right after a switch with %rsp as scratch (sites_612)
    for f, L in ((E64, 89), (E64, 91), (E64, 93), (C32, 180), (C32, 182), (C32, 185),
                 (E64, 161), (E64, 164), (E64, 165), (C32, 256), (C32, 269), (C32, 274), (C32, 275)):
        for ins, tag in (("\tpushq\t%rax", "push"), ("\tmovq\t%rax, -8(%rsp)", "store")):
            add("user-stack", f, [("ins", L, ins)], f"{f}:+{L}:{tag}")

    # gs-before-swapgs (EL302): before an entry SWAPGS, after an exit SWAPGS
    for f, L in ((E64, 90), (C32, 54), (C32, 181), (E64, 1018), (E64, 1073), (E64, 1167), (E64, 686),
                 (E64, 164), (E64, 717), (C32, 274), (E64, 577)):
        for ins, tag in (("\tmovq\t%rsp, PER_CPU_VAR(cpu_tss_rw + TSS_sp2)", "store"),
                         ("\tcmpq\t$0, PER_CPU_VAR(cpu_tss_rw + TSS_sp2)", "load")):
            add("gs-before-swapgs", f, [("ins", L, ins)], f"{f}:+{L}:{tag}")

    # drop-fence (EL303): an invocation blanked, or the macros' own lfence dropped
    for L, gs in ((1020, (1019,)), (1075, (1074,)), (1169, (1168,)), (931, (929,)), (1058, (1051, 1019))):
        add("drop-fence", E64, [("blank", L, "FENCE_SWAPGS")], f"{E64}:{L}", extra=tuple((E64, g) for g in gs))
    for L, sites in ((364, ((E64, 1019), (E64, 1074), (E64, 1168))), (367, ((E64, 929), (E64, 1051), (E64, 1019)))):
        add("drop-fence", CH, [("sub", L, '"lfence"', '"lfence"', '""')], f"{CH}:{L}", extra=sites)

    drop_ifdef_sites(add, 145, "CONFIG_PAGE_TABLE_ISOLATION", range(278, 292))
    drop_gate_sites(add, src_line, (168, 211, 217, 225, 243))
    flag_misuse_sites(add, tuple((L, "jnc") for L in (189, 234, 252, 261)))

    # 32-bit (entry_32.S without PTI, as in sites_612): per-cpu data on the user
    # %fs, and a caller-saved register not given back after the C call
    for L in (812, 938, 865, 957):
        for ins, tag in (("\tmovl\t%esp, PER_CPU_VAR(cpu_tss_rw)", "store"),
                         ("\tcmpl\t$0, PER_CPU_VAR(cpu_tss_rw)", "load")):
            add("gs-before-swapgs", E32, [("ins", L, ins)], f"{E32}:+{L}:{tag}")
    for L, r in ((863, "%edx"), (864, "%ecx")):
        add("call-clobber", E32, [("blank", L, r)], f"{E32}:{L}:{r}", extra=((E32, 895),))
    for L, r in ((258, "%ecx"), (259, "%edx")):
        add("call-clobber", E32, [("sub", L, f"popl\t{r}", f"popl\t{r}", "addl\t$4, %esp")], f"{E32}:{L}:{r}",
            extra=((E32, 965), (E32, 1066), (E32, 1201)))
    pti32_sites(add, src_line, 799, 877, (952, 965), PTI32_6X)
