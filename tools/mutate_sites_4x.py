"""The mutation sites of tools/mutate.py for the 4.x trees: the KAISER
backport (4.4.178, 4.9.154) and page-table isolation as first backported to
4.14 (4.14.98).  The helpers and the other tables are in mutate_sites.py."""

from __future__ import annotations

from mutate_sites import C32, E64, drop_exit_switch_sites, drop_gate_sites, drop_ifdef_sites, \
    flag_misuse_sites, live_after_sites, pti32_sites, save_clobber_sites, scratch_sites


def sites_49(add, src_line) -> None:
    """linux-4.9.154 of ../shared/kernels: the KAISER backport (numbering is
    that tree's).  Its switches (asm/kaiser.h, which the harness does not
    mutate) take no scratch register and test no flag; the kernel switch
    reads no per-cpu data, so entry code runs it before or after SWAPGS
    (error_entry switches first): live-scratch, flag-misuse, drop-ifdef and
    swap-entry have no site here.  The user switch reads x86_cr3_pcid_user
    through %gs, so it must come before the exit SWAPGS.

    What it shows (tools/mutate.py -v): every mutant found.  (INT80's two
    drop-exit-switch ones were missed until the walk followed a jump to
    another file's asm on user state: entry_INT80_compat switches to the
    user CR3, then jumps to entry_64.S's restore_regs_and_iret, whose iretq
    is judged at that jump.)  No collateral.  (EL303, one finding for the
    file's unfenced conditional SWAPGSes, moved to another of them when a
    mutant put a %gs access on the user GS before one: the access is
    EL302's alone now.)"""
    # swap-exit (EL301, and EL302 at the switch)
    for f, gs, sw in ((E64, 297, 296), (E64, 367, 366), (E64, 480, 479), (E64, 585, 584), (C32, 377, 376)):
        add("swap-exit", f, [("move_before", gs, sw, "SWAPGS", "SWITCH_USER_CR3")], f"{f}:{gs}")
    add("swap-exit", C32, [("move_before", 288, 286, "swapgs", "SWITCH_USER_CR3")], f"{C32}:288")

    # c-call (EL201): a C call on the user CR3 once the registers are saved
    # (an "ins" goes after its line): after an interrupt's entry SWAPGS,
    # before error_entry's switch, before paranoid_entry's
    for f, L in ((E64, 420), (E64, 1050), (E64, 978)):
        for fn in ("trace_hardirqs_off", "enter_from_user_mode"):
            add("c-call", f, [("ins", L, f"\tcall\t{fn}")], f"{f}:+{L}:{fn}")

    # drop-exit-switch (EL203): the user switch dropped, or made a kernel switch;
    # the exits: USERGS_SYSRET64 (a paravirt site: native_usergs_sysret64's
    # sysretq), the iretq of native_iret, compat's sysretl
    for f, L, ex in ((E64, 284, ((E64, 286), (E64, 55))), (E64, 296, ((E64, 530),)), (E64, 366, ((E64, 530),)),
                     (E64, 479, ((E64, 530),)), (E64, 584, ((E64, 530),)), (C32, 286, ((C32, 289),)),
                     (C32, 376, ((C32, 378),))):
        add("drop-exit-switch", f, [("blank", L, "SWITCH_USER_CR3")], f"{f}:{L}:drop", extra=ex)
        add("drop-exit-switch", f, [("sub", L, "SWITCH_USER_CR3", "SWITCH_USER_CR3", "SWITCH_KERNEL_CR3")],
            f"{f}:{L}:to-kernel", extra=ex)

    # kernel-mem (EL202): a per-cpu read that the shadow page table does not
    # map (rsp_scratch), on the user CR3 with the kernel GS: after an entry
    # SWAPGS before the switch, after an exit switch before SWAPGS
    for f, L in ((E64, 420), (E64, 556), (E64, 296), (E64, 366), (E64, 479), (E64, 584), (C32, 324),
                 (C32, 286), (C32, 376)):
        add("kernel-mem", f, [("ins", L, "\tcmpq\t$0, PER_CPU_VAR(rsp_scratch)")], f"{f}:+{L}")

    # user-stack (EL204): the SYSCALL entries before they load the kernel stack
    for f, L in ((E64, 150), (E64, 151), (C32, 200)):
        for ins, tag in (("\tpushq\t%rax", "push"), ("\tmovq\t%rax, -8(%rsp)", "store")):
            add("user-stack", f, [("ins", L, ins)], f"{f}:+{L}:{tag}")

    # gs-before-swapgs (EL302): a per-cpu access the shadow page table maps
    # (unsafe_stack_register_backup), before an entry SWAPGS, after an exit one
    for f, L in ((E64, 149), (E64, 419), (E64, 555), (C32, 323), (E64, 297), (E64, 367), (E64, 480),
                 (E64, 585), (C32, 377)):
        for ins, tag in (("\tmovq\t%rsp, PER_CPU_VAR(unsafe_stack_register_backup)", "store"),
                         ("\tcmpq\t$0, PER_CPU_VAR(unsafe_stack_register_backup)", "load")):
            add("gs-before-swapgs", f, [("ins", L, ins)], f"{f}:+{L}:{tag}")


def sites_414(add, src_line) -> None:
    """linux-4.14.98 of ../shared/kernels: page-table isolation as first
    backported to 4.14, the seed patch's series (numbering is that tree's).
    SYSCALL enters through a trampoline in the cpu_entry_area, interrupts
    switch with switch_to_thread_stack, SWAPGS is a paravirt site under
    max, there are no SWAPGS fences yet, and paranoid_exit restores CR3 with
    %rbx as scratch.  Every mutant found, no collateral.  (The
    trampoline's live-scratch mutants found the search that stopped at its
    JMP_NOSPEC, and kernel-mem's first variable, cpu_current_top_of_stack,
    turned out to be the TSS's sp1 here: mapped.)"""
    # swap-entry (EL301): the switch moved above SWAPGS (not the trampoline,
    # for the reason given in sites_612, nor SYSENTER, whose paravirt SWAPGS
    # needs the stack its %rsp scratch destroys)
    for sw, gs, g in ((704, 703, "SWAPGS"), (1184, 1182, "SWAPGS"), (1230, 1229, "SWAPGS"),
                      (1244, 1243, "SWAPGS"), (1335, 1333, "swapgs")):
        add("swap-entry", E64, [("move_before", sw, gs, "SWITCH_TO_KERNEL_CR3", g)], f"{E64}:{sw}")
    add("swap-entry", C32, [("move_after", 201, 207, "swapgs", "SWITCH_TO_KERNEL_CR3")], f"{C32}:201")
    # swap-exit (EL301, and EL302 at the switch)
    for f, gs, sw, g in ((E64, 624, 620, "SWAPGS"), (E64, 733, 732, "SWAPGS"), (C32, 304, 299, "swapgs")):
        add("swap-exit", f, [("move_before", gs, sw, g, "SWITCH_TO_USER_CR3")], f"{f}:{gs}")

    # live-scratch (EL101): every register that holds a live value there
    zeroed = ("%r8", "%r9", "%r10", "%r11", "%r12", "%r13", "%r14", "%r15")  # pushed as zeros
    scratch_sites(add, E64, 170, "scratch_reg", "%rsp", ())  # the SYSCALL trampoline: nothing saved yet
    scratch_sites(add, C32, 54, "scratch_reg", "%rsp", zeroed)  # SYSENTER
    # compat SYSCALL: %r8 and %r11 are pushed, the rest as zeros
    scratch_sites(add, C32, 207, "scratch_reg", "%rsp", ("%r9", "%r10", "%r12", "%r13", "%r14", "%r15"))
    scratch_sites(add, E64, 704, "scratch_reg", "%rdi", ())  # espfix return: only %rdi saved
    scratch_sites(add, E64, 836, "scratch_reg", "%rdi", ())  # switch_to_thread_stack: only %rdi saved
    scratch_sites(add, E64, 1335, "scratch_reg", "%rdx", ())  # NMI from user: only %rdx saved
    for L in (322, 620, 732):  # the _STACK exits: %rax is the macro's own scratch2
        scratch_sites(add, E64, L, "scratch_reg", "%rdi", ("%rax",))
    scratch_sites(add, C32, 299, "scratch_reg", "%r8", ("%r9", "%r10"))  # r8-r10 zeroed after
    scratch_sites(add, C32, 299, "scratch_reg2", "%r9", ("%r8", "%r10"))
    live_after = {1184: ("%rsp",), 1230: ("%rsp",), 1244: ("%rsp",), 1133: ("%rsp",), 1157: ("%rsp",),
                  1162: ("%rsp",), 1572: ("%rbx", "%rsp")}
    cur = {1184: "%rax", 1230: "%rax", 1244: "%rax", 1133: "%rax", 1157: "%rbx", 1162: "%rbx", 1572: "%r15"}
    live_after_sites(add, live_after, cur)

    # save-clobber (EL102): %r14 written between SAVE_AND_SWITCH and RESTORE_CR3
    save_clobber_sites(add, (1133, 1156, 1161, 1571), 1133)

    # c-call (EL201): a C call after the registers are saved, before the switch
    # (not the .Lgs_change fixup's SWAPGS at 1229: it runs with the kernel CR3)
    for L in (1182, 1243, 1132):
        for fn in ("trace_hardirqs_off", "enter_from_user_mode"):
            add("c-call", E64, [("ins", L, f"\tcall\t{fn}")], f"{E64}:+{L}:{fn}")

    # kernel-mem (EL202): current_task is not in the cpu_entry_area (4.14's
    # cpu_current_top_of_stack is: the TSS's sp1)
    for f, L in ((E64, 703), (E64, 1182), (E64, 1243), (E64, 1334), (C32, 201), (C32, 204),
                 (E64, 620), (E64, 732), (C32, 303)):
        add("kernel-mem", f, [("ins", L, "\tcmpq\t$0, PER_CPU_VAR(current_task)")], f"{f}:+{L}")

    # drop-exit-switch (EL203): USERGS_SYSRET64 is a paravirt site whose
    # native side is native_usergs_sysret64's sysretq
    drop_exit_switch_sites(add, src_line, [
        (E64, 322, "SWITCH_TO_USER_CR3_STACK", "%rdi", ((E64, 326), (E64, 52))),
        (E64, 620, "SWITCH_TO_USER_CR3_STACK", "%rdi", ((E64, 677),)),
        (E64, 732, "SWITCH_TO_USER_CR3_STACK", "%rdi", ((E64, 677),)),
        (C32, 299, "SWITCH_TO_USER_CR3_NOSTACK", "%r8", ((C32, 305),))])

    # user-stack (EL204): the SYSCALL entries before they load a kernel stack
    for f, L in ((E64, 164), (E64, 167), (C32, 201), (C32, 204)):
        for ins, tag in (("\tpushq\t%rax", "push"), ("\tmovq\t%rax, -8(%rsp)", "store")):
            add("user-stack", f, [("ins", L, ins)], f"{f}:+{L}:{tag}")

    # gs-before-swapgs (EL302): before an entry SWAPGS, after an exit SWAPGS
    for f, L in ((E64, 163), (E64, 702), (E64, 1181), (E64, 1228), (E64, 1242), (E64, 1332), (C32, 200),
                 (E64, 624), (E64, 733), (C32, 304)):
        for ins, tag in (("\tmovq\t%rsp, PER_CPU_VAR(cpu_tss_rw + TSS_sp2)", "store"),
                         ("\tcmpq\t$0, PER_CPU_VAR(cpu_tss_rw + TSS_sp2)", "load")):
            add("gs-before-swapgs", f, [("ins", L, ins)], f"{f}:+{L}:{tag}")

    # drop-ifdef (EL401)
    drop_ifdef_sites(add, 193, "CONFIG_PAGE_TABLE_ISOLATION", range(320, 334))

    # drop-gate (EL402)
    drop_gate_sites(add, src_line, (216, 227, 267, 285))

    # flag-misuse (EL501)
    flag_misuse_sites(add, tuple((L, "jnc") for L in (238, 276, 294, 303)))


def sites_419(add, src_line) -> None:
    """linux-4.19.48 of ../shared/kernels (numbering is that tree's): 4.14's
    isolation with what 4.15-4.19 added -- interrupts enter through
    interrupt_entry (SWAPGS, %rdi pushed, then the switch, as on 5.4), INT80
    switches inline, paranoid_entry pushes the registers itself -- and still
    no SWAPGS fences (EL303: one finding, at interrupt_entry's SWAPGS).  The
    classes of sites_414, with interrupt_entry's and INT80's switches.  Every
    mutant found, no collateral.  (A %gs access between interrupt_entry's
    ``jz`` and SWAPGS moved EL303 to the next site: EL303 took that access,
    on the user GS and EL302's, for the first access after the branch.  Fixed.)
    Its ``movq %rax, %r14``
    after SAVE_AND_SWITCH found that EL102 took a CR3 value loaded over the
    saved one for the saved one (fixed; the site now loads %rdi there, the
    switch's scratch being a second fault's)."""
    # swap-entry (EL301): as in sites_414 (not the trampoline nor SYSENTER); interrupt_entry's
    # and INT80's SWAPGS move below their switch (the switch moving up would clobber %rdi unsaved)
    for sw, gs, g in ((783, 782, "SWAPGS"), (1273, 1271, "SWAPGS"), (1319, 1318, "SWAPGS"),
                      (1333, 1332, "SWAPGS"), (1424, 1422, "swapgs")):
        add("swap-entry", E64, [("move_before", sw, gs, "SWITCH_TO_KERNEL_CR3", g)], f"{E64}:{sw}")
    for f, gs, sw, g in ((E64, 572, 583, "SWAPGS"), (C32, 342, 358, "SWAPGS"), (C32, 201, 207, "swapgs")):
        add("swap-entry", f, [("move_after", gs, sw, g, "SWITCH_TO_KERNEL_CR3")], f"{f}:{gs}")
    # swap-exit (EL301, and EL302 at the switch)
    for f, gs, sw, g in ((E64, 699, 695, "SWAPGS"), (E64, 812, 811, "SWAPGS"), (C32, 307, 302, "swapgs")):
        add("swap-exit", f, [("move_before", gs, sw, g, "SWITCH_TO_USER_CR3")], f"{f}:{gs}")

    # live-scratch (EL101): every register that holds a live value there
    scratch_sites(add, E64, 174, "scratch_reg", "%rsp", ())  # the SYSCALL trampoline: nothing saved yet
    zeroed = ("%r8", "%r9", "%r10", "%r11", "%r12", "%r13", "%r14", "%r15")  # pushed as zeros
    scratch_sites(add, C32, 54, "scratch_reg", "%rsp", zeroed)  # SYSENTER
    scratch_sites(add, C32, 207, "scratch_reg", "%rsp", ("%r9", "%r10", "%r12", "%r13", "%r14", "%r15"))
    scratch_sites(add, C32, 358, "scratch_reg", "%rdi", ("%rax",))  # INT80: %rax pushed (orig_ax), not read again
    # interrupt_entry, the espfix return: only %rdi saved; NMI from user: only %rdx
    for f, L, r in ((E64, 583, "%rdi"), (E64, 783, "%rdi"), (E64, 1424, "%rdx")):
        scratch_sites(add, f, L, "scratch_reg", r, ())
    for L in (332, 695, 811):  # the _STACK exits: %rax is the macro's own scratch2
        scratch_sites(add, E64, L, "scratch_reg", "%rdi", ("%rax",))
    scratch_sites(add, C32, 302, "scratch_reg", "%r8", ("%r9", "%r10"))  # r8-r10 zeroed after
    scratch_sites(add, C32, 302, "scratch_reg2", "%r9", ("%r8", "%r10"))
    live_after_sites(add, {1273: ("%rsp",), 1319: ("%rsp",), 1333: ("%rsp",), 1220: ("%rsp",), 1245: ("%rsp",),
                           1251: ("%rsp",), 1662: ("%rbx", "%rsp")},
                     {1273: "%rax", 1319: "%rax", 1333: "%rax", 1220: "%rax", 1245: "%rbx", 1251: "%rbx", 1662: "%r15"})

    # save-clobber (EL102): %r14 written between SAVE_AND_SWITCH and RESTORE_CR3
    save_clobber_sites(add, (1220, 1244, 1250, 1661), 1220)

    # c-call (EL201): a C call after the registers are saved, before the switch
    for L in (1271, 1332, 1209):
        for fn in ("trace_hardirqs_off", "enter_from_user_mode"):
            add("c-call", E64, [("ins", L, f"\tcall\t{fn}")], f"{E64}:+{L}:{fn}")

    # kernel-mem (EL202): current_task is not in the cpu_entry_area
    for f, L in ((E64, 572), (E64, 782), (E64, 1271), (E64, 1332), (E64, 1423), (C32, 201), (C32, 204),
                 (C32, 355), (E64, 695), (E64, 811), (C32, 306)):
        add("kernel-mem", f, [("ins", L, "\tcmpq\t$0, PER_CPU_VAR(current_task)")], f"{f}:+{L}")

    # drop-exit-switch (EL203)
    drop_exit_switch_sites(add, src_line, [
        (E64, 332, "SWITCH_TO_USER_CR3_STACK", "%rdi", ((E64, 336), (E64, 52))),
        (E64, 695, "SWITCH_TO_USER_CR3_STACK", "%rdi", ((E64, 756),)),
        (E64, 811, "SWITCH_TO_USER_CR3_STACK", "%rdi", ((E64, 756),)),
        (C32, 302, "SWITCH_TO_USER_CR3_NOSTACK", "%r8", ((C32, 308),))])

    # user-stack (EL204): the SYSCALL entries before they load a kernel stack
    for f, L in ((E64, 168), (E64, 171), (E64, 214), (E64, 219), (C32, 201), (C32, 204)):
        for ins, tag in (("\tpushq\t%rax", "push"), ("\tmovq\t%rax, -8(%rsp)", "store")):
            add("user-stack", f, [("ins", L, ins)], f"{f}:+{L}:{tag}")

    # gs-before-swapgs (EL302): before an entry SWAPGS, after an exit SWAPGS
    for f, L in ((E64, 167), (E64, 213), (E64, 571), (E64, 781), (E64, 1270), (E64, 1317), (E64, 1331),
                 (E64, 1421), (C32, 200), (C32, 341), (E64, 699), (E64, 812), (C32, 307)):
        for ins, tag in (("\tmovq\t%rsp, PER_CPU_VAR(cpu_tss_rw + TSS_sp2)", "store"),
                         ("\tcmpq\t$0, PER_CPU_VAR(cpu_tss_rw + TSS_sp2)", "load")):
            add("gs-before-swapgs", f, [("ins", L, ins)], f"{f}:+{L}:{tag}")

    drop_ifdef_sites(add, 190, "CONFIG_PAGE_TABLE_ISOLATION", range(317, 331))  # EL401
    drop_gate_sites(add, src_line, (213, 224, 264, 282))  # EL402
    flag_misuse_sites(add, tuple((L, "jnc") for L in (235, 273, 291, 300)))  # EL501

    # 32-bit PTI (4.19 brought it): entry_32.S's macros sit higher than in
    # 6.x, the exit to user is the paravirt INTERRUPT_RETURN (native_iret's
    # iret), and current_task is a plain per-cpu variable
    pti32_sites(add, src_line, 839, 925, (1009, 1021, 1166),
                {"stack": 384, "note": 510, "back": 634, "gates": ((161, 165), (192, 198))}, percpu="current_task",
                checked=True)


def sites_44(add, src_line) -> None:
    """linux-4.4.178 of ../shared/kernels: the KAISER backport to 4.4, with
    its SYSCALL fast path and compat SYSRET that switch to the user CR3 and
    then read the task stack (mapped for user by KAISER); the classes of
    sites_49, for the same reasons.  INT80's exit jumps to entry_64.S's iret
    after its user switch, as on 4.9: the EL203 of its drop-exit-switch
    mutants is at that jump."""
    for f, gs, sw in ((E64, 396, 395), (E64, 615, 614), (E64, 689, 688), (C32, 348, 347)):
        add("swap-exit", f, [("move_before", gs, sw, "SWAPGS", "SWITCH_USER_CR3")], f"{f}:{gs}")
    # c-call (EL201): a C call on the user CR3 once the registers are saved
    for f, L in ((E64, 553), (E64, 1125), (E64, 1053)):
        for fn in ("trace_hardirqs_off", "enter_from_user_mode"):
            add("c-call", f, [("ins", L, f"\tcall\t{fn}")], f"{f}:+{L}:{fn}")
    # drop-exit-switch (EL203): USERGS_SYSRET64/32 are paravirt sites (native:
    # native_usergs_sysret64's sysretq, native_usergs_sysret32's sysretl)
    for f, L, ex in ((E64, 231, ((E64, 248), (E64, 54))), (E64, 383, ((E64, 385), (E64, 54))),
                     (E64, 395, ((E64, 665),)), (E64, 614, ((E64, 665),)), (E64, 688, ((E64, 665),)),
                     (C32, 233, ((C32, 264), (C32, 26))), (C32, 347, ((C32, 349),))):
        add("drop-exit-switch", f, [("blank", L, "SWITCH_USER_CR3")], f"{f}:{L}:drop", extra=ex)
        add("drop-exit-switch", f, [("sub", L, "SWITCH_USER_CR3", "SWITCH_USER_CR3", "SWITCH_KERNEL_CR3")],
            f"{f}:{L}:to-kernel", extra=ex)
    # kernel-mem (EL202): rsp_scratch is not declared user-mapped
    for f, L in ((E64, 553), (E64, 671), (E64, 395), (E64, 614), (E64, 688), (C32, 294), (C32, 347)):
        add("kernel-mem", f, [("ins", L, "\tcmpq\t$0, PER_CPU_VAR(rsp_scratch)")], f"{f}:+{L}")
    # user-stack (EL204): SYSCALL before it loads the kernel stack
    for f, L in ((E64, 139), (E64, 140)):
        for ins, tag in (("\tpushq\t%rax", "push"), ("\tmovq\t%rax, -8(%rsp)", "store")):
            add("user-stack", f, [("ins", L, ins)], f"{f}:+{L}:{tag}")
    # gs-before-swapgs (EL302): before an entry SWAPGS, after an exit one
    for f, L in ((E64, 138), (E64, 552), (E64, 670), (C32, 293), (E64, 396), (E64, 615), (E64, 689),
                 (C32, 348)):
        for ins, tag in (("\tmovq\t%rsp, PER_CPU_VAR(unsafe_stack_register_backup)", "store"),
                         ("\tcmpq\t$0, PER_CPU_VAR(unsafe_stack_register_backup)", "load")):
            add("gs-before-swapgs", f, [("ins", L, ins)], f"{f}:+{L}:{tag}")

