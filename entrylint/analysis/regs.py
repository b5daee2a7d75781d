"""The general registers and what the C ABI says about them (MODEL 4).

Two ABIs, chosen by the code mode of the instruction (``Instruction.mode``):
64-bit code follows the SysV x86-64 ABI, 32-bit code the i386 kernel ABI
(``-mregparm=3``: arguments in %eax, %edx, %ecx; those three are
caller-saved; %ebx, %esi, %edi, %ebp are preserved; the return value in
%eax, with %edx for 64-bit results).  32-bit code has no %r8-%r15: a user
return there reads the eight 32-bit registers only.  Per-cpu data is
addressed through %gs in 64-bit code and through %fs in 32-bit code.

Names are the canonical 64-bit ones that ``program/effects.py`` uses
(``%eax``, ``%ax``, ``%al`` are all ``rax``).  Plain data: the liveness
analysis and the rules read these sets, nobody else spells them out.

The analyses keep sets of the tracked registers as small integers (one bit
per register, ``mask()`` / ``names()``), which is what makes a whole
``entry_64.S`` fixpoint cheap.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cached_property

from entrylint.source.record import data

# The 16 general registers, in encoding order.
GPRS: tuple[str, ...] = ("rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                         "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15")
GPR_SET: frozenset[str] = frozenset(GPRS)

# What liveness tracks: every general register but %rsp, which is always live.
TRACKED: tuple[str, ...] = tuple(r for r in GPRS if r != "rsp")
TRACKED_SET: frozenset[str] = frozenset(TRACKED)

# SysV ABI: integer arguments in order, the registers a C function may
# clobber, the ones it must preserve (%rsp aside), and the return value.
ARGS: tuple[str, ...] = ("rdi", "rsi", "rdx", "rcx", "r8", "r9")
CALLER_SAVED: frozenset[str] = frozenset({"rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11"})
CALLEE_SAVED: frozenset[str] = frozenset({"rbx", "rbp", "r12", "r13", "r14", "r15"})
RETURN: frozenset[str] = frozenset({"rax", "rdx"})

_BIT: dict[str, int] = {r: 1 << k for k, r in enumerate(TRACKED)}


def mask(regs: Iterable[str]) -> int:
    """The bit set of the tracked registers among ``regs`` (others are ignored)."""
    m = 0
    for r in regs:
        m |= _BIT.get(r, 0)
    return m


_NAMES: dict[int, frozenset[str]] = {}


def names(m: int) -> frozenset[str]:
    """The register names of a bit set (interned: equal sets are one object)."""
    got = _NAMES.get(m)
    if got is None:
        got = _NAMES[m] = frozenset(r for r in TRACKED if m & _BIT[r])
    return got


ALL_MASK = mask(TRACKED)
ARGS_MASK = mask(ARGS)
CALLER_SAVED_MASK = mask(CALLER_SAVED)
CALLEE_SAVED_MASK = mask(CALLEE_SAVED)
RETURN_MASK = mask(RETURN)


@data(frozen=True)
class Abi:
    """What a C call and a return to user mean for the registers of one code mode."""

    bits: int
    gprs: tuple[str, ...]  # the general registers of the mode (canonical names)
    args: tuple[str, ...]  # integer arguments, in order
    caller_saved: frozenset[str]
    callee_saved: frozenset[str]
    ret: frozenset[str]  # the return value
    percpu_segment: str  # the segment register whose base addresses per-cpu data

    @cached_property
    def user_mask(self) -> int:
        """What an exit to user mode reads: every general register of the mode."""
        return mask(self.gprs)

    @cached_property
    def args_mask(self) -> int:
        return mask(self.args)

    @cached_property
    def caller_saved_mask(self) -> int:
        return mask(self.caller_saved)

    @cached_property
    def callee_saved_mask(self) -> int:
        return mask(self.callee_saved)

    @cached_property
    def ret_mask(self) -> int:
        return mask(self.ret)


SYSV64 = Abi(64, GPRS, ARGS, CALLER_SAVED, CALLEE_SAVED, RETURN, "gs")
# i386 kernel ABI (arch/x86/Makefile builds 32-bit kernels with -mregparm=3);
# per-cpu data through %fs (__KERNEL_PERCPU), %gs being the user's TLS or the
# stack canary's segment
I386 = Abi(32, GPRS[:8], ("rax", "rdx", "rcx"), frozenset({"rax", "rcx", "rdx"}),
           frozenset({"rbx", "rsi", "rdi", "rbp"}), frozenset({"rax", "rdx"}), "fs")


def abi(mode: int) -> Abi:
    """The C ABI of code assembled in ``mode`` (16-bit code is 32-bit's)."""
    return SYSV64 if mode == 64 else I386


_NARROW = {"rax": "eax", "rcx": "ecx", "rdx": "edx", "rbx": "ebx", "rsp": "esp", "rbp": "ebp",
           "rsi": "esi", "rdi": "edi"}


def spelled(reg: str, mode: int = 64) -> str:
    """A canonical register name as code of ``mode`` writes it: ``%edi`` in
    32-bit code, ``%rdi`` in 64-bit code (without the ``%``)."""
    return _NARROW.get(reg, reg) if mode != 64 else reg
