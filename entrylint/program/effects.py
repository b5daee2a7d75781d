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
from dataclasses import fields

from entrylint.source.record import record

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
    INT = "int"  # int, int3, into, syscall-like traps and faults (resumable)
    HALT = "halt"  # hlt: stops until an interrupt, then falls through
    STOP = "stop"  # ud0/ud1/ud2: raises #UD, execution never continues here (BUG())


# Flows after which the next instruction is not reached through fall-through.
NO_FALLTHROUGH: frozenset[Flow] = frozenset(
    {Flow.JUMP, Flow.RET, Flow.INDIRECT_JUMP, Flow.EXIT_TO_USER, Flow.IRET, Flow.STOP}
)
_ON = frozenset({Flow.NEXT, Flow.COND_JUMP, Flow.JUMP, Flow.INT, Flow.HALT})
_BRANCHES = frozenset({Flow.COND_JUMP, Flow.JUMP})


def goes_on_in_program(x) -> bool:
    """Instruction ``x`` goes on only to the next instruction or to a branch
    target in the program: no call, return, exit to user, indirect or
    unknown way out, no branch out of the program (its target resolved in
    it).  Its CFG successors are all its ways on, and what it reads and
    writes is its own (liveness, the register searches: most nodes)."""
    info = x.info
    return info is not None and info.flow in _ON and (x.target is not None or info.flow not in _BRANCHES)


class DataOp(enum.Enum):
    """What an instruction computes, for value tracking (MODEL 3.1: a CR3
    value read, masked and written back; 3 "Refinement on branches": the
    tests before a jcc).  A closed set; everything else is ``OTHER``.

    ``MOVE`` is a plain full copy of the source into the destination (``mov``
    in all its sizes, ``movabs``, moves to and from control, debug and segment
    registers); *not* ``movzx``/``movsx``/``cmov``/``movq %xmm`` (``OTHER``).
    ``SHL`` includes ``sal``.  ``BT``/``TEST``/``CMP`` write no operand, only
    flags."""

    MOVE = "move"
    LEA = "lea"
    AND = "and"
    OR = "or"
    XOR = "xor"
    ADD = "add"
    SUB = "sub"
    BT = "bt"
    BTS = "bts"
    BTR = "btr"
    BTC = "btc"
    TEST = "test"
    CMP = "cmp"
    PUSH = "push"
    POP = "pop"
    XCHG = "xchg"
    SHL = "shl"
    SHR = "shr"
    SAR = "sar"
    NOT = "not"
    NEG = "neg"
    OTHER = "other"


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
    ADDRESS = "address"  # the address is computed, nothing is accessed (lea, nopw)


@record
class MemRef:
    """A summary of one memory access (explicit or implicit, e.g. push).

    ``segment`` is the segment used, default ones included (``ds`` for
    ``(%rax)``, ``ss`` for ``(%rsp)``/``(%rbp)``, ``gs`` for ``%gs:x``).

    ``disp`` is the displacement as a signed number: ``-8`` for
    ``-8(%rsp)``, ``0x88`` for ``0x88(%rsp)``, 0 when there is none
    (``(%rsp)``); of a ``%rip``-relative operand, the offset from the next
    instruction as encoded.  It is **None when the displacement written in
    the source depends on a symbol** (``CS(%rsp)`` with ``CS`` not replaced
    by cpp, ``%gs:cpu_tss_rw+4``, ``foo(%rip)``, ``1f``): the decoder only
    sees a relocation's placeholder (0) or a stand-in value, not the value.
    Implicit accesses (the stack slot of ``push``) get what the decoder
    reports for them, usually 0.
    """

    access: Access
    segment: str | None  # "gs", "ss", "ds", "es", ... as the decoder reports it
    base: str | None  # canonical register name or None
    index: str | None
    scale: int = 1
    rip_relative: bool = False
    disp: int | None = 0

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

# CPUID leaves that take no subleaf: %ecx is not read (Intel SDM vol. 2A and
# AMD APM vol. 3, CPUID): basic and vendor leaves, the extended range's
# signature, features, brand string, cache/TLB, power and address sizes,
# and AMD's encrypted-memory leaf.  Any other leaf (4, 7, 0xb, 0xd, ...,
# 0x8000001d, the hypervisor range) is taken to read it.
NO_SUBLEAF = frozenset({0x0, 0x1, 0x2, 0x3, 0x5, 0x6, *range(0x80000000, 0x80000009), 0x8000001F})


@record
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

    Operands, for value tracking (read these, not the mnemonic):

    * ``op``: what is computed (``DataOp``; ``OTHER`` for everything else;
      ``inc``/``dec`` are ``ADD``/``SUB`` with ``imm`` 1).
    * ``dst``/``dst_mem``: the explicit operand that is written (AT&T: the
      last operand), as a canonical register name or a ``MemRef``; None when
      the instruction writes no explicit operand: ``bt``, ``test``, ``cmp``,
      ``push``, jumps.  ``dst_partial``: ``dst`` is written at 8 or 16 bits
      only (``movb %al, %bl``), the rest of the register is kept.
    * ``src``/``src_mem``: the first explicit operand other than the
      destination that is a register / a memory operand, in Intel order
      (AT&T: the operand right before the destination; ``mov %cr3, %rax``
      has ``src == "cr3"``).  For an instruction that writes no
      operand, the operand that is tested or pushed is the source:
      ``bt $12, %rax`` and ``testl %edx, %edx`` have ``src == "rax"``/
      ``"rdx"`` and ``dst is None``; ``testb $3, 0x88(%rsp)`` has
      ``src_mem``; ``push %rax`` has ``src``; ``pop %r14`` has ``dst``.
      ``lea 8(%rsp), %rax`` has ``src_mem`` with access ``ADDRESS``.
      Implicit operands (the stack of push/pop, %rsi/%rdi of string
      instructions) are not here; they are in ``mem`` and the register sets.
    * ``imm``: the immediate operand's value as the CPU uses it, as a signed
      Python int of ``imm_size`` bits: the encoded value sign-extended to the
      operation size where the CPU extends it (``andq $~0x1000, %rdi`` ->
      -4097, size 64; ``andl $0xffffefff, %edi`` -> -4097, size 32;
      ``orq $0x1000, %rax`` -> 0x1000, size 64); an 8-bit immediate that is
      not extended (``bts $63, %rax``, shift counts, ``int $0x80``) has size
      8.  ``imm & ((1 << imm_size) - 1)`` is the unsigned value.  The first
      immediate only (``enter`` has two).  None when there is no immediate
      operand, or when the immediate written in the source depends on a
      symbol (``$SYM``, ``$1f``): the bytes hold a relocation's placeholder or
      a stand-in then, not the value.  ``shl %rax`` (by one) has ``imm`` 1.
    * ``cond``: for a conditional jump, ``cmovcc`` or ``setcc`` whose
      condition is one flag, ``(flag, value)`` with the value that flag must
      have for the jump to be taken / the move or set to happen: ``jz`` ->
      ``("zf", True)``, ``jnc`` -> ``("cf", False)``, ``js`` -> ``("sf",
      True)``.  None for conditions on several flags (``ja``, ``jl``, ``jg``,
      ...), for ``loop*``/``jrcxz`` and for everything else.  The flags any
      condition reads are ``flags_read``.
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
    op: DataOp = DataOp.OTHER
    imm: int | None = None
    imm_size: int = 0  # bits; 0 when imm is None
    dst: str | None = None
    dst_partial: bool = False
    dst_mem: MemRef | None = None
    src: str | None = None
    src_mem: MemRef | None = None
    cond: tuple[str, bool] | None = None
    # of ``regs_read``, what is read only for some values of %eax: cpuid's
    # subleaf in %ecx, which only leaves with subleaves read (Intel SDM and
    # AMD APM, CPUID); liveness asks ``leaf_reads`` where the leaf is known
    leaf_regs: frozenset[str] = _EMPTY
    # an iret: the 8-byte slot above %rsp that holds the frame's RIP (FRED's
    # ERETS/ERETU: 1, the error code below it; iret/iretq: 0)
    frame_rip_slot: int = 0

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

    def leaf_reads(self, leaf: int | None) -> frozenset[str]:
        """``regs_read`` when %eax holds ``leaf`` (None: not known)."""
        if not self.leaf_regs or leaf is None or leaf not in NO_SUBLEAF:
            return self.regs_read
        return self.regs_read - self.leaf_regs

    def with_text(self, text: str, target: str | None) -> InsnInfo:
        """This info for another text of the same machine code (its own
        ``text`` and branch ``target``): ``dataclasses.replace`` without its
        introspection (a program of 33k `jmp label\\@` makes 33k)."""
        return _with_text(self, text, target)


def _copier():
    """``_with_text(info, text, target)``: InsnInfo(...) with every other field
    read from ``info``, written out once (source/record.py: a plain ``__init__``)."""
    args = ", ".join(f.name if f.name in ("text", "target") else f"info.{f.name}" for f in fields(InsnInfo))
    ns = {"InsnInfo": InsnInfo}
    exec(f"def _with_text(info, text, target):\n    return InsnInfo({args})\n", ns)  # noqa: S102
    return ns["_with_text"]


_with_text = _copier()
