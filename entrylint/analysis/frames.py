"""Return frames built by hand (MODEL 3): an ``iret`` that returns into the
program itself, not to an interrupted context.

The entry code builds such a frame to go on at one of its own labels in
another state: 4.x-5.x's NMI ``pushq $1f; iretq`` (on to ``repeat_nmi``
with NMIs unmasked), 6.x's ``asm_fred_entry_from_kvm`` (``leaq 1f(%rip),
%rax; pushq %rax``, an error code, pt_regs, a C call, then ``ERETS``).  A
path keeps, in the pseudo-register ``iret-rip``, the label's position and
how many bytes it has pushed since (``insn:N@D``): pushes and pops move it,
so do ``add``/``sub`` of ``%rsp`` by a known amount, and a call into the
program's asm (its return address) until that returns; a C call is
balanced.  An amount the path does not know (an asm-offsets constant
without a build: ``add $C_PTREGS_SIZE, %rsp``) leaves the depth unknown
(``@?``); any other write of ``%rsp`` (a stack switch) drops the frame, as
does popping past it.

The ``iret`` continues at the label when the frame's RIP is the one it pops:
at ``0(%rsp)`` for ``iret``/``iretq``, at ``8(%rsp)`` for FRED's
``ERETS``/``ERETU`` (an error code below it).  With the depth unknown it
does so only in a function called from C: such an activation has no
interrupted context that an iret could return to, so its frame is its own.
"""

from __future__ import annotations

from entrylint.analysis.state import Tuple
from entrylint.program.effects import DataOp, Flow

RIP = "iret-rip"  # the pseudo-register


def pushed(ins, t: Tuple, new: Tuple, op, src) -> Tuple:
    """``new`` after ``ins`` as far as a hand-built frame goes."""
    label = getattr(ins, "imm_target", None) if op is DataOp.PUSH else None
    if label is None and op is DataOp.PUSH and src is not None:
        value = t.holds(src) or ""
        if value.startswith(("insn:", "addr:")) and (value[5:].isdigit() or "#" in value):
            label = int(value.rpartition("#")[2] if "#" in value else value[5:])  # leaq 1f(%rip), %rax; pushq %rax
    if label is not None:
        return new.hold(RIP, f"insn:{label}@0")
    held = new.holds(RIP)
    info = ins.info
    if held is None or "rsp" not in info.regs_written:
        return new
    size = 4 if getattr(ins, "mode", 64) == 32 else 8
    if op is DataOp.OTHER and info.flow is Flow.NEXT:  # pushf, popf: by their implicit slot
        slot = [m for m in getattr(info, "mem", ()) if m.base == "rsp"]
        if len(slot) == 1 and slot[0].writes != slot[0].reads:
            op = DataOp.PUSH if slot[0].writes else DataOp.POP
    if op is DataOp.PUSH or (info.flow is Flow.CALL and ins.target is not None):
        delta = size
    elif op is DataOp.POP or info.flow is Flow.RET:
        delta = -size
    elif info.flow in (Flow.CALL, Flow.INDIRECT_CALL):
        return new  # a call into C (or through a register) returns with %rsp where it was
    elif op in (DataOp.ADD, DataOp.SUB) and info.dst == "rsp" and info.src is None:
        imm = info.imm
        if imm is None:
            return new.hold(RIP, held.split("@")[0] + "@?")
        delta = -imm if op is DataOp.ADD else imm
    else:
        return new.forget((RIP,))  # %rsp elsewhere: the frame is not where the path is
    label, depth = held.split("@")
    if depth == "?":
        return new
    depth = int(depth) + delta
    return new.hold(RIP, f"{label}@{depth}") if depth >= 0 else new.forget((RIP,))


def returns_to(ins, t: Tuple, from_c: bool) -> int | None:
    """The position the ``iret`` (``ins``) continues at on ``t``, when its
    frame is one the path built (None: an interrupted context's)."""
    held = t.holds(RIP)
    if held is None:
        return None
    label, depth = held.split("@")
    slot = 8 if (getattr(ins.info, "mnemonic", None) or ins.mnemonic).upper().startswith("ERET") else 0
    if depth == "?" and from_c or depth == str(slot):
        return int(label[5:])
    return None


def iret_targets(forward, node: int) -> tuple[int, ...]:
    """Where the walk (``forward``) went on from the iret at ``node``, when
    on every path that reached it its frame was the path's own; () when some
    path returned through it to an interrupted context, or none reached it."""
    got = forward.frame_returns.get(node)
    if not got or any((node, t) in forward.exit_state for t in forward.before.get(node, ())):
        return ()
    return tuple(sorted(got))
