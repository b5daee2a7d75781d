"""The general registers and what the SysV x86-64 ABI says about them (MODEL 4).

Names are the canonical 64-bit ones that ``program/effects.py`` uses
(``%eax``, ``%ax``, ``%al`` are all ``rax``).  Plain data: the liveness
analysis and the rules read these sets, nobody else spells them out.

The analyses keep sets of the tracked registers as small integers (one bit
per register, ``mask()`` / ``names()``), which is what makes a whole
``entry_64.S`` fixpoint cheap.
"""

from __future__ import annotations

from collections.abc import Iterable

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
