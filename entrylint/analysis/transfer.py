"""Transfer functions of the forward state (MODEL 3, 3.1).

Each takes an instruction's effects and one tuple and returns the tuple after
it; they read ``InsnInfo`` fields and parsed operands, never mnemonics.
Refinement on conditional branches keeps a tuple only on the edge its known
flag value allows.

What a CR3 write means is inferred from the value written (MODEL 3.1): a
register that holds ``cr3:X`` (read from %cr3, then bit ``user_bit`` cleared
or set) makes cr3 := X.  A value saved before a switch and written back later
restores the saved cr3.  A CR3 load that does not derive from CR3 is not a PTI
switch: the state keeps its cr3 and the event says so.
"""

from __future__ import annotations

import re

from entrylint.analysis import frames
from entrylint.analysis.regs import abi
from entrylint.analysis.state import Origin, Space, Stack, Tuple
from entrylint.program.effects import Certainty, DataOp, Flow
from entrylint.program.operands import Imm
from entrylint.source.record import data

MSR_GS_BASE = 0xC0000101
MSR_KERNEL_GS_BASE = 0xC0000102

_STACK_BY_NAME = {s.value: s for s in Stack}
_SPACE_BY_NAME = {s.value: s for s in Space}


@data(frozen=True)
class Config:
    """Knobs of the transfer functions (MODEL 3.1, 5)."""

    user_bit: int = 12  # PAGE_SHIFT: the PTI user/kernel page-table bit of CR3
    stack_for_load: object = None  # callable(displacement text) -> Stack | None (memory model)
    area_for_load: object = None  # callable(displacement text) -> Stack whose area it points in | None
    task_stack_returning: frozenset = frozenset()  # functions that return a task-stack pointer
    user_frame_returning: frozenset = frozenset()  # functions that make the frame a user-mode one
    # callable(name, tuple) -> (tuples at the callee's ``ret``, its C calls), or None: an asm
    # function of another file of the tree, followed through its own code
    external: object = None
    # per-cpu variables whose value ORed into a CR3 value sets the user bit (analysis/treefacts.py)
    user_bit_vars: frozenset = frozenset()
    clobbers: object = None  # callable(callee name) -> registers a call out of the program clobbers
    # what the knobs ``step`` reads stand for, by value (the memory model and
    # the name sets; ``clobbers`` apart: it is asked per callee name), so a
    # step worked out under one Config serves another with the same key
    # (walking.StepMemo); None: not comparable
    key: object = None


@data(frozen=True)
class Event:
    """Something a rule may judge, seen at an instruction on a tuple."""

    kind: str  # "cr3-write", "exit-user", "return-kernel", "ret", "c-call", "gs-write"
    node: int
    before: Tuple
    detail: str = ""  # e.g. "pti:kernel", "pti:user", "same:kernel" (no switch), "not-pti"


def _space(value: str | None, prefix: str) -> Space | None:
    if value and value.startswith(prefix):
        return _SPACE_BY_NAME.get(value[len(prefix):])
    return None


def _bit(imm: int | None, bit: int) -> bool | None:
    return None if imm is None else bool((imm >> bit) & 1)


_NOT_QUIET_OPS = frozenset({DataOp.PUSH, DataOp.POP, DataOp.LEA, DataOp.TEST, DataOp.CMP, DataOp.BT})
_STATE_REGS = frozenset({"rsp", "gs", "fs"})


def quiet(ins, cfg: Config | None = None) -> frozenset[str] | None:
    """The registers ``ins`` reads or writes, when ``step`` on it (under
    ``cfg``) returns the tuple it is given, with no event, for every tuple
    that holds no value in any of them; None when it may change a tuple or
    raise an event.  Most of a crypto file's instructions (vector
    arithmetic, loads into vector registers) are quiet: the walk need not
    step them one by one.  What the decoder's record says is worked out once
    per record (``_QUIET``: a crypto file's unrolled rounds repeat their
    instructions); a load is then asked of ``cfg``'s memory model."""
    info = ins.info
    if info is None:
        return frozenset()
    if getattr(ins, "imm_target", None) is not None:
        return None
    got = _QUIET.get(id(info))
    if got is None or got[0] is not info:
        if len(_QUIET) >= _QUIET_MAX:
            _QUIET.clear()
        got = _QUIET[id(info)] = (info, *_quiet_info(info))
    if got[2] and (cfg is None or _loaded(ins, cfg)):
        return None  # a stack pointer or a stack area's address loaded (_loaded; without cfg: any load)
    return got[1]


# id(decoder record) -> (the record, _quiet_info's answer): the entry holds the
# record, so the id is not another record's while it is here
_QUIET: dict[int, tuple] = {}
_QUIET_MAX = 50_000


def _quiet_info(info) -> tuple[frozenset[str] | None, bool]:
    """``quiet``'s answer from the decoder's record alone, and whether it
    holds only if the instruction loads nothing ``_loaded`` names."""
    if info.flow is not Flow.NEXT or info.flags_written or info.flags_undefined or info.swaps_gs \
            or info.cr3_write or info.cr3_read or info.writes_gs_base or info.reads_gs_base \
            or info.op in _NOT_QUIET_OPS:
        return None, False
    written = info.regs_written | info.regs_cond_written
    if written & _STATE_REGS or info.dst in _STATE_REGS or info.src == "rsp":
        return None, False
    op, dst, src = info.op, info.dst, info.src
    if op is DataOp.MOVE and (info.imm is not None or (src is None and _rsp_mem(info.src_mem))):
        return None, False  # a value is made: an integer, a code address, a frame slot
    loads = op is DataOp.MOVE and src is None and info.src_mem is not None
    if op is DataOp.XOR and src is not None and src == dst:
        return None, loads  # the zeroing idiom
    return frozenset(info.regs_read | written | {r for r in (dst, src) if r is not None}), loads


def step(ins, t: Tuple, cfg: Config) -> tuple[Tuple, list[tuple[str, str]]]:
    """The tuple after ``ins`` (not yet refined by a branch), and the events
    it raised as (kind, detail)."""
    info = ins.info
    events: list[tuple[str, str]] = []
    if info is None:
        return t, events
    op = getattr(info, "op", DataOp.OTHER)
    dst, src, imm = getattr(info, "dst", None), getattr(info, "src", None), getattr(info, "imm", None)
    new = t

    # --- flags: a value known on this path, or nothing ------------------
    flag = None
    if op not in _FLAG_OPS:
        pass  # (each case below is one of these operations: most instructions skip them all)
    elif op is DataOp.TEST and imm is not None and (imm & 0xFFFF) == 3 and _rsp_mem(getattr(info, "src_mem", None)):
        # testb $3, CS(%rsp): the saved CS selector's RPL; ZF set <=> from kernel.
        # Only a mask whose selector half is the RPL: 4.4's testl
        # $_TIF_ALLWORK_MASK, TI_flags(%rsp) has the two low bits too, and
        # taken for this test it ended its SYSCALL fast path.
        flag = ("zf", t.origin is Origin.KERNEL)
    elif op is DataOp.TEST and imm == 4 and _rsp_mem(getattr(info, "src_mem", None)) \
            and t.origin is Origin.KERNEL:
        # testb $4, SS(%rsp): the saved SS is an LDT selector (espfix); a kernel
        # frame's SS never is
        flag = ("zf", True)
    elif op is DataOp.BT and imm == cfg.user_bit:
        held = _space(t.holds(src), "cr3:")
        if held is not None:  # CF = the PTI user bit of a CR3 value
            flag = ("cf", held is Space.USER)
    elif op is DataOp.TEST and imm == 1 << cfg.user_bit and _space(t.holds(dst or src), "cr3:") is not None:
        # testl $PTI_SWITCH_MASK, %reg on a CR3 value: ZF set <=> the kernel's
        flag = ("zf", _space(t.holds(dst or src), "cr3:") is Space.KERNEL)
    elif op is DataOp.TEST and src is not None and imm is None and set(info.regs_read) == {src}:
        # test %reg, %reg
        held = t.holds(src)
        gs = _space(held, "gsbase:") or _space(held, "gs:")
        if gs is not None:  # a GS base is negative (kernel half) <=> the kernel's
            flag = ("sf", gs is Space.KERNEL)
        elif held and held.startswith("int:"):  # a flag kept in a register (paranoid's %ebx)
            flag = ("zf", int(held[4:]) == 0)
    elif op is DataOp.TEST and src is not None and imm is not None and _bit(imm, cfg.user_bit) \
            and _space(t.holds(src), "cr3:") is not None:
        # testl $KAISER_SHADOW_PGD_OFFSET, %eax after reading CR3: ZF set <=> the kernel page table
        flag = ("zf", _space(t.holds(src), "cr3:") is Space.KERNEL)
    elif op is DataOp.TEST and src is not None and imm is not None and (t.holds(src) or "").startswith("int:"):
        # testl $2, %ebx: a bit of a flag kept in a register (paranoid_entry's %ebx)
        flag = ("zf", int(t.holds(src)[4:]) & imm == 0)
    elif op is DataOp.CMP and _rsp_mem(getattr(info, "src_mem", None) or getattr(info, "dst_mem", None)) \
            and (_code_label(ins, t, src) is not None):
        # cmpq $label / %reg(=label), RIP(%rsp): was the kernel interrupted at that label?
        label = _code_label(ins, t, src)
        flag = ("zf", label != "" and t.site == label)
    elif op is DataOp.CMP and imm == 3 and (t.holds(dst or src) or "").startswith("rpl:"):
        # cmpl $USER_RPL, %reg after masking a saved CS: below <=> from kernel
        flag = ("cf", t.holds(dst or src) == "rpl:kernel")
    elif op is DataOp.CMP and _immediate(ins) and (t.holds(dst or src) or "").startswith("area-sp:"):
        # cmpl $SIZEOF_entry_stack, %ecx on (an address in the entry stack's
        # area) - %esp: below <=> %esp is on that stack (a stack of another
        # kind is not in the area; an unknown one is not judged)
        area, _, sp = t.holds(dst or src)[len("area-sp:"):].partition(":")
        if sp in _AREA_JUDGED:
            flag = ("cf", sp == area)
    elif op is DataOp.TEST and imm is not None and (slot := _marks_slot(ins, info, "src_mem")) is not None:
        bits = _marked(t, slot, imm)
        if bits is not None:
            flag = ("zf", not bits)
    elif op is DataOp.CMP and imm is not None and (t.holds(dst) or t.holds(src) or "").startswith("int:"):
        held = t.holds(dst) or t.holds(src)
        flag = ("zf", int(held[4:]) == imm)
    elif _int_result(op, dst, src, imm, t) is not None:
        # decl %ebx / subl $1, %ecx on a known value: ZF is known (loops run their count)
        flag = ("zf", _int_result(op, dst, src, imm, t) == 0)
    touched = info.flags_written | info.flags_undefined
    if touched or flag is not None:
        known = {f: v for f, v in t.flags if f not in touched}
        if flag is not None:
            known[flag[0]] = flag[1]
        flags = tuple(sorted(known.items()))
        if flags != new.flags:
            new = new.with_(flags=flags)

    # --- values held in registers (generic first: the special cases below refine them)
    new = _values(ins, info, op, dst, src, imm, t, new, cfg)

    # --- GS -----------------------------------------------------------------
    if info.swaps_gs:
        new = new.with_(gs=Space.USER if new.gs is Space.KERNEL else Space.KERNEL)
        events.append(("gs-swap", ""))
    segment = abi(ins.mode).percpu_segment
    if info.reads_gs_base or info.writes_gs_base:  # (Certainty.NO is false: most instructions)
        new = _gs_base(info, dst, src, t, new, events, segment == "gs")
    if dst is not None and dst == segment != "gs":
        new = _percpu_selector(info, op, t, new, events)

    # --- CR3 ------------------------------------------------------------------
    if info.cr3_write:
        space = _space(t.holds(src), "cr3:")
        if space is Space.USER or space is not None and space is not t.cr3:
            events.append(("cr3-write", f"pti:{space.value}"))
            new = new.with_(cr3=space)
        elif space is not None:
            # the kernel page table written while CR3 holds it (MODEL 3.1: no
            # switch): a TLB flush (``mov %cr3, %rcx; mov %rcx, %cr3``), a
            # saved CR3 restored on a path that never left it.  (The user
            # page table exists for PTI alone: a write of it is PTI code
            # wherever the walk thinks CR3 is.)
            events.append(("cr3-write", f"same:{space.value}"))
        else:
            events.append(("cr3-write", "not-pti"))
    if info.cr3_read and dst is not None:
        new = new.hold(dst, f"cr3:{t.cr3.value}")

    # --- marks in the frame (32-bit: the high half of the saved CS dword) ----
    if imm is not None and dst is None and op in (DataOp.OR, DataOp.AND, DataOp.XOR) \
            and (slot := _marks_slot(ins, info, "dst_mem")) is not None:
        new = _mark(new, slot, op, imm)

    # --- stack ------------------------------------------------------------------
    if op is DataOp.PUSH or op is DataOp.OTHER or t.held and t.holds(_TOS):  # (else _pushes has nothing to do)
        new = _pushes(ins, info, op, dst, src, imm, t, new)
    if "rsp" in info.regs_written and dst == "rsp" and op in (DataOp.MOVE, DataOp.POP, DataOp.XCHG):
        kind = None
        if op is DataOp.POP:  # a stack pointer this path pushed (LEAVE_IRQ_STACK's popq %rsp)
            top = (t.holds(_TOS) or "").split(",")[0]
            kind = _STACK_BY_NAME.get(top.removeprefix("stack:")) if top.startswith("stack:") else None
        elif op is DataOp.MOVE and src is not None:
            kind = _STACK_BY_NAME.get((t.holds(src) or "").removeprefix("stack:"))
        elif op is DataOp.MOVE:
            kind = _STACK_BY_NAME.get((_loaded(ins, cfg) or "").removeprefix("stack:"))
        frame = op is DataOp.POP or _rsp_mem(getattr(info, "src_mem", None))
        if kind is None and t.origin is Origin.USER and frame:
            # %rsp restored from a user-mode frame (popq %rsp, movq RSP(%rsp), %rsp)
            # is the user's (a register-held pointer, like espfix's, is not judged)
            kind = Stack.USER
        new = new.with_(stack=kind or Stack.UNKNOWN)
    elif dst == "rsp" and info.cr3_read:
        new = new.with_(stack=Stack.UNKNOWN)

    # --- calls ------------------------------------------------------------------
    if info.flow in (Flow.CALL, Flow.INDIRECT_CALL) and ins.target is None:
        events.append(("c-call", ins.target_name or "*"))
        clobbered = abi(ins.mode).caller_saved
        if cfg.clobbers is not None and ins.target_name and ins.mode == 64:
            clobbered = cfg.clobbers(ins.target_name)  # the callee's own facts (x86-64 only)
        new = new.forget(clobbered)
        if new.flags:
            new = new.with_(flags=())  # the ABI keeps no status flag
        if ins.target_name in cfg.task_stack_returning:
            new = new.hold("rax", "stack:task")
        if ins.target_name in cfg.user_frame_returning:
            new = new.with_(origin=Origin.USER, site="")
    return new, events


# Marks (MODEL 3.1): 32-bit entry code keeps what it did at entry in the
# high half of the saved CS dword (``__csh``: entry_32.S CS_FROM_ENTRY_STACK,
# CS_FROM_USER_CR3, CS_FROM_KERNEL, CS_FROM_ESPFIX) and tests them on the way
# out: ``orl $CS_FROM_USER_CR3, PT_CS(%esp)`` after it found the user CR3 at
# entry, ``testl $CS_FROM_USER_CR3, PT_CS(%esp)`` before it switches back.
# A path knows the bits of a frame slot it set, cleared (``andl $~bit``,
# ``andl $0x0000ffff``) or toggled (``xorl``); a slot is named by its
# displacement from %esp (pt_regs' PT_CS wherever %esp points at pt_regs,
# as the entry code addresses it), the pseudo-register ``marks:<slot>``
# holding ``<set>:<clear>`` in hex.  Only 32-bit code, and only the high
# half: the low half is the selector (its RPL is the origin's).
_MARK_BITS = 0xFFFF0000
_AREA_JUDGED = ("entry", "task", "user")  # stacks that are or are not the area's, for sure


def _immediate(ins) -> bool:
    """The source operand is an immediate (its value known or not: an
    asm-offsets name without a build)."""
    return bool(ins.operands) and isinstance(ins.operands[0], Imm)


def _marks_slot(ins, info, which: str) -> str | None:
    """The pseudo-register of the frame slot ``ins`` reads or writes (its
    ``which`` memory operand, %esp-relative, in 32-bit code); else None."""
    mem = getattr(info, which, None)
    if ins.mode != 32 or not _rsp_mem(mem):
        return None
    return f"marks:{mem.disp if mem.disp is not None else _mem_text(ins)}"


def _mem_text(ins) -> str:
    return next((op.disp.strip() for op in ins.operands if getattr(op, "disp", None) is not None), "")


def _marks_of(t: Tuple, slot: str) -> tuple[int, int]:
    held = t.holds(slot)
    if not held:
        return 0, 0
    s, _, c = held.partition(":")
    return int(s, 16), int(c, 16)


def _marked(t: Tuple, slot: str, imm: int) -> int | None:
    """The bits of ``imm`` set in ``slot`` on this path (0: all clear); None
    when one of them is not known (or ``imm`` tests the selector half)."""
    bits = imm & 0xFFFFFFFF
    if not bits or bits & ~_MARK_BITS:
        return None
    s, c = _marks_of(t, slot)
    if bits & s:
        return bits & s
    return 0 if bits & ~c == 0 else None


def _mark(t: Tuple, slot: str, op, imm: int) -> Tuple:
    s, c = _marks_of(t, slot)
    v = imm & _MARK_BITS
    if op is DataOp.OR:
        s, c = s | v, c & ~v
    elif op is DataOp.AND:
        cleared = ~imm & _MARK_BITS
        s, c = s & ~cleared, c | cleared
    else:  # xor: known bits flip
        s, c = (s & ~v) | (c & v), (c & ~v) | (s & v)
    return t.hold(slot, f"{s:x}:{c:x}" if s or c else None)


def _percpu_selector(info, op, t: Tuple, new: Tuple, events) -> Tuple:
    """32-bit code: a load of %fs, the per-cpu segment.  The entry loads the
    kernel's per-cpu selector from a register (``movl %edx, %fs``); a load
    from the saved frame (``popl %fs``, ``movl PT_FS(%esp), %fs``) gives back
    the interrupted context's."""
    frame = op is DataOp.POP or _rsp_mem(getattr(info, "src_mem", None))
    space = (Space.USER if t.origin is Origin.USER else Space.KERNEL) if frame else Space.KERNEL
    events.append(("gs-write", space.value))
    return new.with_(gs=space)


_TOS = frames.TOS  # pseudo-register: what the path pushed since it pushed a value it tracks
_TOS_DEPTH = 32  # a whole pt_regs (15 pushes) and then some


def _pushes(ins, info, op, dst, src, imm, t: Tuple, new: Tuple) -> Tuple:
    """Keep ``tos``: the values pushed since a stack pointer, a CR3 value or
    a code label was pushed (``pushq %rdi`` with %rdi = the old %rsp, as
    ENTER_IRQ_STACK does; ``pushq %rax`` with the CR3 the 4.4 NMI restores
    after do_nmi; ``pushq $1f``, the RIP of a return frame built by hand:
    frames.py), most recent first, ``?`` for any other value; so the pop
    that takes it back (``popq %rsp``, ``popq %rax``) gets that value, not a
    guess, and an iret knows the RIP it pops.  Nothing is kept until such a
    value is pushed; a call into C is balanced, a call into an asm function
    of the program pushes its return address and ``ret`` pops one (4.19
    ``interrupt_entry`` pushes the old stack pointer, then a copy of its
    return address, and returns on the new stack); ``add``/``sub`` of %rsp
    drop or make slots; by an amount not known without a build (``add
    $C_PTREGS_SIZE, %rsp``) they leave ``*`` (slots not known) above a
    code label pushed, else forget everything, as any other write of %rsp."""
    tos = t.holds(_TOS)
    if tos and info.flow is Flow.CALL and ins.target is not None:
        op = DataOp.PUSH
        src = None
    elif tos and info.flow is Flow.RET:
        return new.hold(_TOS, _popped(tos, 1))
    if op is DataOp.OTHER and "rsp" in info.regs_written and info.flow is Flow.NEXT:
        # pushf/popf and the like: a push or a pop by their implicit stack slot
        slot = [m for m in getattr(info, "mem", ()) if m.base == "rsp"]
        if len(slot) == 1 and slot[0].writes != slot[0].reads:
            op = DataOp.PUSH if slot[0].writes else DataOp.POP
            src = None
    if op is DataOp.PUSH:
        value = frames.code_label(ins, t, src) or (t.holds(src) if src is not None else None)
        if value is not None and value.startswith(("stack:", "cr3:", "insn:")):
            items = [value] + (tos.split(",") if tos else [])
        elif tos:
            items = ["?"] + tos.split(",")
        else:
            return new
        return new.hold(_TOS, ",".join(items[:_TOS_DEPTH]))
    if not tos or "rsp" not in info.regs_written or info.flow in (Flow.CALL, Flow.INDIRECT_CALL, Flow.RET):
        return new
    if op is DataOp.POP:
        top = tos.split(",")[0]
        if dst is not None and dst != "rsp" and top not in ("?", "*"):
            new = new.hold(dst, top)
        return new.hold(_TOS, _popped(tos, 1))
    if op in (DataOp.ADD, DataOp.SUB) and dst == "rsp" and src is None:
        size = 4 if ins.mode == 32 else 8
        if imm is None:  # an amount not known: the slots above a code label pushed are not known
            label = next((x for x in tos.split(",") if x.startswith("insn:")), None)
            return new.hold(_TOS, f"*,{label}" if label else None)
        if imm % size == 0 and imm >= 0:
            return new.hold(_TOS, _popped(tos, imm // size) if op is DataOp.ADD
                            else ",".join((["?"] * (imm // size) + tos.split(","))[:_TOS_DEPTH]))
    return new.hold(_TOS, None)


def _popped(tos: str, n: int) -> str | None:
    """``tos`` with ``n`` slots taken off (``*`` stays: how many it stands for is not known)."""
    items = tos.split(",")
    if items[0] == "*":
        return tos
    return ",".join(items[n:]) or None


def _gs_base(info, dst, src, t: Tuple, new: Tuple, events, percpu_gs: bool = True) -> Tuple:
    """rdgsbase/wrgsbase, and rdmsr/wrmsr when %ecx holds a GS-base MSR.
    ``percpu_gs``: %gs is the per-cpu segment (64-bit code); in 32-bit code it
    is the stack canary / user TLS segment and its loads do not move the
    state's per-cpu base (that is %fs there: ``_percpu_selector``)."""
    reads, writes = info.reads_gs_base, info.writes_gs_base
    msr = t.holds("rcx")
    other = Space.USER if t.gs is Space.KERNEL else Space.KERNEL
    if reads is Certainty.YES and dst is not None:  # rdgsbase %reg
        new = new.hold(dst, f"gs:{t.gs.value}")
    elif reads and msr in ("msr:gsbase", "msr:kgsbase"):  # rdmsr: the high half in %edx
        which = t.gs if msr == "msr:gsbase" else other
        new = new.forget(("rax",)).hold("rdx", f"gsbase:{which.value}")
    if writes is Certainty.YES and "gs" in info.regs_written:
        # mov %edi, %gs / pop %gs: a selector load sets the active base from a
        # descriptor user space chose -- never the kernel's per-cpu base
        if percpu_gs:
            new = new.with_(gs=Space.USER)
            events.append(("gs-write", Space.USER.value))
    elif writes is Certainty.YES and not info.swaps_gs and src is not None:  # wrgsbase %reg
        saved = _space(t.holds(src), "gs:")
        new = new.with_(gs=saved or Space.KERNEL)
        events.append(("gs-write", (saved or Space.KERNEL).value))
    elif writes and msr == "msr:gsbase":  # wrmsr to MSR_GS_BASE
        saved = _space(t.holds("rdx"), "gsbase:")
        new = new.with_(gs=saved or Space.KERNEL)
        events.append(("gs-write", (saved or Space.KERNEL).value))
    return new


def _values(ins, info, op, dst, src, imm, t: Tuple, new: Tuple, cfg: Config) -> Tuple:
    """What registers hold after the instruction."""
    if info.cr3_read:
        return new
    written = info.regs_written
    if op is DataOp.MOVE and dst in written:
        if src is not None:
            if src == "rsp" and not (t.holds("rsp") or "").startswith("cr3:"):
                return new.hold(dst, f"stack:{t.stack.value}")
            return new.hold(dst, t.holds(src))  # %rsp too when it is the CR3 scratch
        if getattr(ins, "imm_target", None) is not None:  # movq $label, %reg: a code address
            return new.hold(dst, f"insn:{ins.imm_target}")
        if imm is not None:
            v = imm & 0xFFFFFFFF
            return new.hold(dst, "msr:gsbase" if v == MSR_GS_BASE else
                            "msr:kgsbase" if v == MSR_KERNEL_GS_BASE else
                            f"int:{imm}" if -256 <= imm <= 256 else None)
        if _rsp_mem(getattr(info, "src_mem", None)):
            return new.hold(dst, "frame")  # a slot of the frame (the saved CS, ...)
        # a stack pointer loaded into a register (32-bit: the task stack's top
        # from TSS_entry2task_stack, TSS.sp0's entry stack), for the mov to
        # %esp after it; or the address of a stack's area
        return new.hold(dst, _loaded(ins, cfg) if dst != "rsp" else None)
    if op is DataOp.XOR and src is not None and src == dst and dst in written:
        return new.hold(dst, "int:0")  # the zeroing idiom
    if op is DataOp.LEA and dst in written:
        mem = getattr(info, "src_mem", None)
        if _rsp_mem(mem):
            return new.hold(dst, f"stack:{t.stack.value}")
        if mem is not None and mem.rip_relative:  # leaq label(%rip), %reg: an address
            # (a code label's: with its position, for a frame built by hand: frames.py)
            at = getattr(ins, "imm_target", None)
            return new.hold(dst, f"addr:{_src_text(ins)}" + (f"#{at}" if at is not None else ""))
        return new.hold(dst, None)
    if op is DataOp.MOVE and dst in written and src is not None and (t.holds(src) or "").startswith("addr:") \
            and getattr(info, "dst_partial", False) is False and _narrow(ins):
        return new.hold(dst, "addr32:")  # the address truncated to 32 bits
    if dst is not None and dst in written:
        held = t.holds(dst)
        if held and held.startswith("stack:") and dst != "rsp" and op in _STACK_ARITH \
                and (src is None or not (t.holds(src) or "").startswith("stack:")):
            return new  # a frame allocated, a stack's top or base worked out: the same stack
        if held and held.startswith("area:"):
            if op is DataOp.ADD and _immediate(ins):
                return new  # addl $CPU_ENTRY_AREA_entry_stack + SIZEOF_entry_stack: still in the area
            by = t.holds(src) or "" if src != "rsp" else f"stack:{t.stack.value}"
            if op is DataOp.SUB and by.startswith("stack:"):  # subl %esp / a copy of it
                return new.hold(dst, f"area-sp:{held[5:]}:{by[6:]}")
        if op is DataOp.AND and held == "frame" and imm is not None and imm & 3 == 3:
            # andl $SEGMENT_RPL_MASK, %reg on a copy of the saved CS (32-bit
            # entry code tests it in a register, with EFLAGS.VM mixed in)
            return new.hold(dst, f"rpl:{t.origin.value}")
        space = _space(held, "cr3:")
        if space is not None and op is DataOp.OR and imm is None and src is None and cfg.user_bit_vars \
                and set(re.findall(r"\w+", _src_text(ins))) & cfg.user_bit_vars:
            return new.hold(dst, "cr3:user")  # orq PER_CPU_VAR(x86_cr3_pcid_user), %rax (4.4 KAISER)
        if space is not None and imm is not None:
            bit = _bit(imm, cfg.user_bit)
            if op is DataOp.AND and bit is False or op is DataOp.BTR and imm == cfg.user_bit:
                return new.hold(dst, "cr3:kernel")
            if op is DataOp.OR and bit is True or op is DataOp.BTS and imm == cfg.user_bit:
                return new.hold(dst, "cr3:user")
            if op is DataOp.XOR and bit is True or op is DataOp.BTC and imm == cfg.user_bit:
                return new.hold(dst, "cr3:user" if space is Space.KERNEL else "cr3:kernel")
            if op in (DataOp.AND, DataOp.OR, DataOp.XOR, DataOp.BTS, DataOp.BTR, DataOp.BTC):
                return new  # other bits (PCID, NOFLUSH): still the same page table
        if op in (DataOp.BT, DataOp.TEST, DataOp.CMP):
            return new
        v = _int_result(op, dst, src, imm, t)
        if v is not None:  # flags kept in a register (incl/orl %ebx), small counters
            return new.hold(dst, f"int:{v}")
        new = new.hold(dst, None)
    if not new.held:
        return new
    stale = [r for r in written if r != dst and new.holds(r) is not None]
    return new.forget(stale) if stale else new


_STACK_ARITH = frozenset({DataOp.ADD, DataOp.SUB, DataOp.AND})
_INT_OPS = {DataOp.ADD: lambda v, i: v + i, DataOp.SUB: lambda v, i: v - i,
            DataOp.OR: lambda v, i: v | i, DataOp.AND: lambda v, i: v & i}


# the operations a known flag value can come from (step's cases): a test, a
# compare, a bit test, or arithmetic on a small known integer (_INT_OPS)
_FLAG_OPS = frozenset({DataOp.TEST, DataOp.CMP, DataOp.BT, *_INT_OPS})


def _int_result(op, dst, src, imm, t: Tuple) -> int | None:
    """The value of ``op $imm, %dst`` on a register holding a small known
    integer (0..255: flag words and loop counts); None otherwise."""
    if op not in _INT_OPS or imm is None or src is not None or dst is None:
        return None
    held = t.holds(dst)
    if not held or not held.startswith("int:"):
        return None
    v = _INT_OPS[op](int(held[4:]), imm)
    return v if 0 <= v <= 255 else None


def _code_label(ins, t: Tuple, src: str | None) -> str | None:
    """The code label a compare names: ``$label`` or a register holding a
    ``leaq label(%rip)`` address ("" for a truncated one); None otherwise."""
    held = t.holds(src)
    if held is not None and held.startswith(("addr:", "addr32:")):
        return held[5:].split("#")[0] if held.startswith("addr:") else ""
    first = ins.operands[0] if ins.operands else None
    expr = getattr(first, "expr", None)
    if expr and getattr(ins.info, "imm", None) is None and expr.replace(".", "").replace("_", "").isalnum():
        return expr
    return None


def _narrow(ins) -> bool:
    """A move from a 32-bit register (movl %ecx, %eax): it truncates an address."""
    first = ins.operands[0] if ins.operands else None
    name = (getattr(first, "name", "") or "").lstrip("%")
    return name.startswith("e") or (name.startswith("r") and name.endswith("d"))


def _rsp_mem(mem) -> bool:
    return mem is not None and getattr(mem, "base", None) == "rsp"


def _loaded(ins, cfg: Config) -> str | None:
    """What ``mov DISP, %reg`` loads by the memory model (``cfg``), as a
    register holds it: a pointer on a stack (``stack:<kind>``), or the
    address of a stack's area (``area:<kind>``); None: nothing it names."""
    text = _src_text(ins)
    kind = cfg.stack_for_load(text) if cfg.stack_for_load is not None else None
    if kind is not None:
        return f"stack:{kind.value}"
    area = cfg.area_for_load(text) if cfg.area_for_load is not None else None
    return f"area:{area.value}" if area is not None else None


def _src_text(ins) -> str:
    """The displacement text of the source memory operand (AT&T: first operand)."""
    for op in ins.operands[:1]:
        disp = getattr(op, "disp", None)
        if disp is not None:
            seg = getattr(op, "seg", None)
            return f"%{seg}:{disp}" if seg else disp.strip()
    return ""


def refine(t: Tuple, ins, taken: bool) -> Tuple | None:
    """The tuple on the taken / not-taken edge of a conditional jump, or None
    when its known flag value rules that edge out."""
    cond = getattr(ins.info, "cond", None)
    known = t.known_flag(cond[0]) if cond is not None else None
    if known is None:
        return t
    goes = known == cond[1]
    return t if goes == taken else None
