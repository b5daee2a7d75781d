"""The vocabulary of instruction semantics (the program layer's "arch.h").

Plain frozen values, no decoder, no I/O and no mnemonic strings to compare:
``program/decode.py`` is the only module that looks at mnemonics; it fills an
``InsnInfo`` from GNU as + iced-x86 plus the few special cases no decoder
models (GS base, CR3, exits to user).  Transfer functions and rules read these
fields, never the mnemonic.

Names used in the sets:
  registers: canonical 64-bit names without ``%`` (``rax`` ... ``r15``, ``rsp``),
             also in 16/32-bit code (``%ax``, ``%eax``, ``%sp`` -> ``rax``, ``rsp``),
             segment registers (``cs`` ``ss`` ``ds`` ``es`` ``fs`` ``gs``),
             control/debug registers (``cr3``, ``dr7``), vector registers as
             named (``xmm0``).  ``rip`` is never listed; see ``MemRef.rip_relative``.
  flags:     ``cf pf af zf sf of df if ac`` (see ``FLAG_NAMES``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

# Architectural RFLAGS bits that instructions read or write, in bit order.
FLAG_NAMES: tuple[str, ...] = ("cf", "pf", "af", "zf", "sf", "of", "df", "if", "ac")
# The six arithmetic status flags.
STATUS_FLAGS: frozenset[str] = frozenset({"cf", "pf", "af", "zf", "sf", "of"})


class Flow(enum.Enum):
    """How control leaves an instruction."""

    NEXT = "next"  # falls through
    JUMP = "jump"  # direct unconditional jump
    COND_JUMP = "cond-jump"  # direct conditional jump (jcc, loop, jrcxz)
    CALL = "call"  # direct near call; the callee is resolved elsewhere
    RET = "ret"  # near or far return
    INDIRECT_JUMP = "indirect-jump"  # jmp *%rax, jmp *(%rax)
    INDIRECT_CALL = "indirect-call"  # call *%rax
    EXIT_TO_USER = "exit-to-user"  # sysret, sysexit
    IRET = "iret"  # iret/iretq: returns to the frame on the stack
    INT = "int"  # int, int3, into, ud2, syscall-like traps and faults
    HALT = "halt"  # hlt: stops until an interrupt


# Flows after which the next instruction is not reached through fall-through.
NO_FALLTHROUGH: frozenset[Flow] = frozenset(
    {Flow.JUMP, Flow.RET, Flow.INDIRECT_JUMP, Flow.EXIT_TO_USER, Flow.IRET}
)


class Certainty(enum.Enum):
    """Whether an instruction has an effect: some depend on a run-time value
    (``wrmsr`` writes the MSR named by %ecx, which may be MSR_GS_BASE)."""

    NO = "no"
    MAY = "may"
    YES = "yes"

    def __bool__(self) -> bool:
        return self is not Certainty.NO


class Access(enum.Enum):
    """How a memory operand is accessed."""

    READ = "read"
    WRITE = "write"
    READ_WRITE = "read-write"
    COND_READ = "cond-read"  # e.g. rep movs with %rcx == 0 reads nothing
    COND_WRITE = "cond-write"


@dataclass(frozen=True, slots=True)
class MemRef:
    """A summary of one memory access (explicit or implicit, e.g. push)."""

    access: Access
    segment: str | None  # "gs", "ss", "ds", "es", ... as the decoder reports it
    base: str | None  # canonical register name or None
    index: str | None
    scale: int = 1
    rip_relative: bool = False

    @property
    def gs_relative(self) -> bool:
        return self.segment == "gs"

    @property
    def rsp_relative(self) -> bool:
        return self.base == "rsp"

    @property
    def reads(self) -> bool:
        return self.access in (Access.READ, Access.READ_WRITE, Access.COND_READ)

    @property
    def writes(self) -> bool:
        return self.access in (Access.WRITE, Access.READ_WRITE, Access.COND_WRITE)


_EMPTY: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class InsnInfo:
    """What one instruction does, as far as entrylint needs to know.

    ``mnemonic`` is the decoder's canonical name in lower case (iced-x86's
    Mnemonic, e.g. ``mov``, ``jne``, ``sysret``, ``iretq``); it is for display
    and for ``decode.py`` only, never for comparisons elsewhere.

    Registers: ``regs_written`` are definitely written (a write of %eax writes
    all of %rax: the upper half is zeroed); ``regs_partial`` is the subset of
    ``regs_written`` whose write leaves other bits alone (8/16-bit writes such
    as ``movb $0, %al``), so a liveness pass must not treat it as a kill.
    ``regs_cond_written`` may or may not be written (cmov, rep movs).

    Flags: ``flags_written`` get a defined value (including cleared/set ones),
    ``flags_undefined`` are left undefined (e.g. after ``bt``, everything but
    CF; after ``mov`` to %cr3, the status flags per iced).
    """

    text: str
    bytes: bytes | None
    mnemonic: str
    flow: Flow = Flow.NEXT
    target: str | None = None  # direct branch/call target expression as written
    regs_read: frozenset[str] = _EMPTY
    regs_written: frozenset[str] = _EMPTY
    regs_partial: frozenset[str] = _EMPTY
    regs_cond_written: frozenset[str] = _EMPTY
    flags_read: frozenset[str] = _EMPTY
    flags_written: frozenset[str] = _EMPTY
    flags_undefined: frozenset[str] = _EMPTY
    mem: tuple[MemRef, ...] = ()
    swaps_gs: bool = False  # swapgs: exchanges GS base and MSR_KERNEL_GS_BASE
    writes_gs_base: Certainty = Certainty.NO  # wrgsbase, mov/pop %gs, wrmsr (MAY)
    reads_gs_base: Certainty = Certainty.NO  # rdgsbase, rdmsr (MAY)
    cr3_read: bool = False  # mov %cr3, %reg
    cr3_write: bool = False  # mov %reg, %cr3
    serializing: bool = False  # a speculation barrier: lfence, cpuid, iret, mov to CR ...
    privileged: bool = False  # needs CPL 0

    @property
    def mem_read(self) -> tuple[MemRef, ...]:
        return tuple(m for m in self.mem if m.reads)

    @property
    def mem_written(self) -> tuple[MemRef, ...]:
        return tuple(m for m in self.mem if m.writes)

    @property
    def falls_through(self) -> bool:
        return self.flow not in NO_FALLTHROUGH

    @property
    def flags_touched(self) -> frozenset[str]:
        return self.flags_written | self.flags_undefined
