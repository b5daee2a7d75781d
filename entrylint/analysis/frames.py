"""Return frames built by hand (MODEL 3): an ``iret`` that returns into the
program itself, not to an interrupted context.

The entry code builds such a frame to go on at one of its own labels in
another state: 4.x-5.x's NMI ``pushq $1f; iretq`` (on to ``repeat_nmi``
with NMIs unmasked), 6.x's ``asm_fred_entry_from_kvm`` (``leaq 1f(%rip),
%rax; pushq %rax``, an error code, pt_regs, a C call, then ``ERETS``).  The
label pushed is one of the values the path's stack of pushed values
(``tos``, transfer._pushes) keeps, as ``insn:<position>``, with the slots
pushed and dropped since.

The ``iret`` continues at the label when the frame's RIP is the slot it
pops: ``0(%rsp)`` for ``iret``/``iretq``, ``8(%rsp)`` for FRED's
``ERETS``/``ERETU`` (an error code below it).  Where the slots above the
label are not known (``*``: ``add $C_PTREGS_SIZE, %rsp``, an asm-offsets
constant without a build), it does so only in a function called from C:
such an activation has no interrupted context an iret could return to, so
its frame is its own.
"""

from __future__ import annotations

from entrylint.analysis.state import Tuple
from entrylint.program.effects import DataOp

TOS = "tos"  # the pseudo-register of the values pushed (transfer._pushes)


def code_label(ins, t: Tuple, src: str | None) -> str | None:
    """``insn:<position>`` when ``ins`` pushes the address of a code label:
    ``pushq $1f``, or a register holding one (``movq $1f, %rax`` or ``leaq
    1f(%rip), %rax``, then ``pushq %rax``); else None."""
    if ins.info is None or ins.info.op is not DataOp.PUSH:
        return None
    if getattr(ins, "imm_target", None) is not None:
        return f"insn:{ins.imm_target}"
    value = (t.holds(src) or "") if src is not None else ""
    if value.startswith("insn:"):
        return value
    if value.startswith("addr:") and "#" in value:  # (transfer: a lea of a code label keeps its position)
        return f"insn:{value.rpartition('#')[2]}"
    return None


def returns_to(ins, t: Tuple, from_c: bool) -> int | None:
    """The position the ``iret`` (``ins``) continues at on ``t``, when its
    frame is one the path built (None: an interrupted context's)."""
    items = (t.holds(TOS) or "").split(",")
    slot = ins.info.frame_rip_slot if ins.info is not None else 0
    if items[0] == "*":
        return int(items[1][5:]) if from_c and len(items) > 1 and items[1].startswith("insn:") else None
    rip = items[slot] if slot < len(items) else ""
    return int(rip[5:]) if rip.startswith("insn:") else None


def iret_targets(forward, node: int) -> tuple[int, ...]:
    """Where the walk (``forward``) went on from the iret at ``node``, when
    on every path that reached it its frame was the path's own; () when some
    path returned through it to an interrupted context, or none reached it."""
    got = forward.frame_returns.get(node)
    if not got or any((node, t) in forward.exit_state for t in forward.before.get(node, ())):
        return ()
    return tuple(sorted(got))
