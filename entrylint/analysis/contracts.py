"""Declared effects of the CR3-switch and SWAPGS macros (MODEL 3 "Contracts").

A contract says what a macro *means* for the forward state: which page table
CR3 holds afterwards, which registers it may clobber, where it keeps the saved
CR3, whether it swaps GS.  The forward analysis infers the effect of a body
from its instructions (MODEL 3.1); where the inference and the contract
disagree, the contract wins for the state and an EL502 info finding says so.
That is what lets the first KAISER patch be judged: its ``ADJUST_*_CR3`` bodies
are empty on purpose (seed: "allow changing to the user and kernel CR3 values,
but do not actually switch CR3"), so the body writes CR3 back unchanged while
the contract says "cr3 := kernel".

``clobbers`` and ``saves_cr3_in`` name the macro's *parameters* (resolved to
registers at each invocation by the caller), or fixed registers written with
a ``%`` (``"%rax"``).  A parameter holding a register-name suffix rather than a
register (kaiser-v1 ``SAVE_AND_SWITCH_TO_KERNEL_CR3 scratch_reg=ax`` used as
``%r\\scratch_reg``) is marked in ``note``; the caller resolves ``ax`` to %rax.

Families (``BUILTIN``):

- ``kaiser-v1``: the first posted series (Dave Hansen, 2017-10-31, patch 01/23;
  shared/seed/kaiser-v1-01-review.txt).  Names and parameters from the seed.
- ``kaiser-4.4``: the KAISER backport to 4.4/4.9 stable (2018-01), checked
  against arch/x86/include/asm/kaiser.h of 4.4.178 and 4.9.154
  (tests/test_contracts.py); ``SWITCH_USER_CR3_NO_STACK`` is not in those
  releases (kept for earlier backport releases that spilled %rax on exit).
  The user CR3 is made by ORing a per-cpu variable in
  (``x86_cr3_pcid_user``), which analysis/treefacts.py reads from the tree.
  ``SWITCH_KERNEL_CR3``/``SWITCH_USER_CR3`` take no parameters and
  save/restore %rax around the switch on the stack (they clobber nothing);
  the ``_NO_STACK`` variants use a per-cpu scratch slot
  (``unsafe_stack_register_backup``) instead of the stack, so they clobber
  nothing either; ``_SWITCH_TO_KERNEL_CR3 reg`` / ``_SWITCH_TO_USER_CR3 reg
  regb`` are the inner bodies that clobber their register parameters.  The
  paranoid paths of that backport read CR3 inline rather than through a
  macro.  Override with ``[contracts.NAME]`` in the configuration if a tree
  differs.
- ``pti``: 4.15+ through 6.12, read from arch/x86/entry/calling.h of 6.1 and
  6.12 (tests/test_contracts.py checks every parameter against them).
  ``RESTORE_CR3`` (4.15..6.1) was renamed ``PARANOID_RESTORE_CR3`` (6.12);
  6.12 split the body of ``SWITCH_TO_USER_CR3_NOSTACK`` into an ungated
  ``SWITCH_TO_USER_CR3``.  ``SWAPGS``/``SWAPGS_UNSAFE_STACK`` are the
  paravirt wrappers of 4.15..5.x (6.x writes ``swapgs``).
"""

from __future__ import annotations

import enum
from dataclasses import fields, replace
from typing import Iterable, Mapping

from entrylint.source.record import data


class CR3Effect(enum.Enum):
    KERNEL = "kernel"  # cr3 := the kernel page table
    USER = "user"  # cr3 := the user page table
    RESTORE = "restore"  # cr3 := the value saved in saves_cr3_in
    NONE = "none"  # CR3 unchanged


@data(frozen=True)
class Contract:
    macro: str
    family: str
    cr3: CR3Effect
    clobbers: tuple[str, ...] = ()  # parameter names, or fixed registers ("%rax")
    saves_cr3_in: str | None = None  # parameter holding the saved CR3 (written or read)
    swaps_gs: bool = False
    note: str = ""
    versions: str = ""  # the kernels whose macro of that name this row describes, and why there


def _c(family: str, macro: str, cr3: CR3Effect, clobbers=(), saves=None, swapgs=False, note="") -> Contract:
    return Contract(macro, family, cr3, tuple(clobbers), saves, swapgs, note)


K, U, R, N = CR3Effect.KERNEL, CR3Effect.USER, CR3Effect.RESTORE, CR3Effect.NONE
_SWAPGS_NOTE = "paravirt wrapper of swapgs"

_KAISER_V1 = [
    _c("kaiser-v1", "ADJUST_KERNEL_CR3", N, ["reg"], note="turns the CR3 value in reg into the kernel one (empty in patch 01 on purpose)"),
    _c("kaiser-v1", "ADJUST_USER_CR3", N, ["reg"], note="turns the CR3 value in reg into the user one (empty in patch 01 on purpose)"),
    _c("kaiser-v1", "SWITCH_TO_KERNEL_CR3", K, ["scratch_reg"]),
    _c("kaiser-v1", "SWITCH_TO_USER_CR3", U, ["scratch_reg"]),
    _c("kaiser-v1", "SAVE_AND_SWITCH_TO_KERNEL_CR3", K, ["scratch_reg"], "save_reg",
       note="scratch_reg is a register-name suffix: ax means %rax"),
    _c("kaiser-v1", "RESTORE_CR3", R, [], "save_reg"),
    _c("kaiser-v1", "SWAPGS", N, swapgs=True, note=_SWAPGS_NOTE),
    _c("kaiser-v1", "SWAPGS_UNSAFE_STACK", N, swapgs=True, note=_SWAPGS_NOTE),
]

_KAISER_44 = [  # assumptions: see the module docstring
    _c("kaiser-4.4", "SWITCH_KERNEL_CR3", K, note="assumed: saves and restores %rax on the stack"),
    _c("kaiser-4.4", "SWITCH_USER_CR3", U, note="assumed: saves and restores %rax on the stack"),
    _c("kaiser-4.4", "SWITCH_KERNEL_CR3_NO_STACK", K, note="assumed: spills %rax to per-cpu unsafe_stack_register_backup"),
    _c("kaiser-4.4", "SWITCH_USER_CR3_NO_STACK", U, note="assumed: spills %rax to per-cpu unsafe_stack_register_backup"),
    _c("kaiser-4.4", "_SWITCH_TO_KERNEL_CR3", K, ["reg"]),
    _c("kaiser-4.4", "_SWITCH_TO_USER_CR3", U, ["reg", "regb"]),
    _c("kaiser-4.4", "SWAPGS", N, swapgs=True, note=_SWAPGS_NOTE),
    _c("kaiser-4.4", "SWAPGS_UNSAFE_STACK", N, swapgs=True, note=_SWAPGS_NOTE),
]

_PTI = [
    _c("pti", "ADJUST_KERNEL_CR3", N, ["reg"], note="clears the user PGD/PCID bits of the value in reg"),
    _c("pti", "SWITCH_TO_KERNEL_CR3", K, ["scratch_reg"]),
    _c("pti", "SWITCH_TO_USER_CR3", U, ["scratch_reg", "scratch_reg2"], note="6.12: the ungated body of _NOSTACK"),
    _c("pti", "SWITCH_TO_USER_CR3_NOSTACK", U, ["scratch_reg", "scratch_reg2"]),
    _c("pti", "SWITCH_TO_USER_CR3_STACK", U, ["scratch_reg"], note="pushes and pops %rax: needs a usable stack"),
    _c("pti", "SAVE_AND_SWITCH_TO_KERNEL_CR3", K, ["scratch_reg"], "save_reg",
       note="kernel only if the saved value had the user bit; save_reg := old CR3"),
    _c("pti", "RESTORE_CR3", R, ["scratch_reg", "save_reg"], "save_reg",
       note="4.15..6.1; may set the NOFLUSH bit in save_reg"),
    _c("pti", "PARANOID_RESTORE_CR3", R, ["scratch_reg", "save_reg"], "save_reg",
       note="6.12; may set the NOFLUSH bit in save_reg"),
    _c("pti", "SWAPGS", N, swapgs=True, note=_SWAPGS_NOTE),
    _c("pti", "SWAPGS_UNSAFE_STACK", N, swapgs=True, note=_SWAPGS_NOTE),
]

# Which kernels each row describes (MODEL 6.1: a table only where the tree
# cannot say it, each row with its versions).  32-bit entry_32.S (4.19+)
# defines its own SWITCH_TO_KERNEL_CR3 / SWITCH_TO_USER_CR3 with the same
# names and effects, so the pti rows cover it.
VERSIONS: dict[tuple[str, str], str] = {
    **{("kaiser-v1", m.macro): "the 2017 KAISER series (never merged; the seed review)" for m in _KAISER_V1},
    **{("kaiser-4.4", m.macro): "4.4.110+ and 4.9.75+: the KAISER backport (kaiser.h)" for m in _KAISER_44},
    ("pti", "ADJUST_KERNEL_CR3"): "4.15+ and the 4.14.11+ backport (calling.h)",
    ("pti", "SWITCH_TO_KERNEL_CR3"): "4.15+ 64-bit (calling.h); 4.19+ 32-bit (entry_32.S's own)",
    ("pti", "SWITCH_TO_USER_CR3"): "6.12 64-bit: the ungated body of _NOSTACK; 4.19+ 32-bit (entry_32.S)",
    ("pti", "SWITCH_TO_USER_CR3_NOSTACK"): "4.15+ (calling.h)",
    ("pti", "SWITCH_TO_USER_CR3_STACK"): "4.15+ (calling.h)",
    ("pti", "SAVE_AND_SWITCH_TO_KERNEL_CR3"): "4.15+ (calling.h): paranoid entries",
    ("pti", "RESTORE_CR3"): "4.15..6.1 (calling.h): paranoid exits",
    ("pti", "PARANOID_RESTORE_CR3"): "the 6.x rename of RESTORE_CR3 (checked on 6.12)",
    ("pti", "SWAPGS"): "4.15..5.x paravirt wrapper (6.x writes swapgs)",
    ("pti", "SWAPGS_UNSAFE_STACK"): "4.15..5.x paravirt wrapper",
}
_KAISER_V1 = [replace(c, versions=VERSIONS[(c.family, c.macro)]) for c in _KAISER_V1]
_KAISER_44 = [replace(c, versions=VERSIONS[(c.family, c.macro)]) for c in _KAISER_44]
_PTI = [replace(c, versions=VERSIONS[(c.family, c.macro)]) for c in _PTI]

BUILTIN: dict[str, dict[str, Contract]] = {
    fam: {c.macro: c for c in table} for fam, table in (("kaiser-v1", _KAISER_V1), ("kaiser-4.4", _KAISER_44), ("pti", _PTI))
}

# Names that identify a family on their own (shared names such as
# SWITCH_TO_KERNEL_CR3 or SWAPGS do not).  Order: the first family with the
# most distinctive names seen wins; ``pti`` when nothing is distinctive.
DISTINCTIVE: dict[str, frozenset[str]] = {
    "kaiser-v1": frozenset({"ADJUST_USER_CR3"}),
    "kaiser-4.4": frozenset({"SWITCH_KERNEL_CR3", "SWITCH_USER_CR3", "SWITCH_KERNEL_CR3_NO_STACK",
                             "SWITCH_USER_CR3_NO_STACK", "_SWITCH_TO_KERNEL_CR3", "_SWITCH_TO_USER_CR3"}),
    "pti": frozenset({"SWITCH_TO_USER_CR3_NOSTACK", "SWITCH_TO_USER_CR3_STACK", "PARANOID_RESTORE_CR3"}),
}
DEFAULT_FAMILY = "pti"


def family_for(names: Iterable[str]) -> str:
    """The macro family a program uses, from the macro names it defines or invokes.
    Matching is case-insensitive (gas macro names are)."""
    seen = {n.upper() for n in names}
    best, score = DEFAULT_FAMILY, 0
    for fam, marks in DISTINCTIVE.items():
        s = len(seen & marks)
        if s > score:
            best, score = fam, s
    return best


def contracts_for(macro_names: Iterable[str], extra: Mapping[str, Contract] | None = None) -> dict[str, Contract]:
    """The contracts that apply to a program using ``macro_names``: the
    built-in family picked by ``family_for``, then ``extra`` (from the
    configuration file) on top.  Keys are upper-case macro names."""
    names = list(macro_names)
    out = dict(BUILTIN[family_for(names)])
    for name, c in (extra or {}).items():
        out[name.upper()] = c
    return out


_FIELDS = {f.name for f in fields(Contract)} - {"macro"}


def parse_contract_table(data: Mapping, family: str = "config") -> dict[str, Contract]:
    """Contracts from the ``[contracts]`` table of the configuration file::

        [contracts.MY_SWITCH]
        cr3 = "kernel"              # kernel | user | restore | none
        clobbers = ["scratch_reg"]  # parameter names or "%reg"
        saves_cr3_in = "save_reg"   # optional
        swaps_gs = false            # optional
        note = "..."                # optional

    ``data`` is the mapping under ``contracts`` (or the whole document, if it
    has a ``contracts`` key).  Raises ValueError naming the macro and the key
    on a bad entry.
    """
    if "contracts" in data and isinstance(data["contracts"], Mapping):
        data = data["contracts"]
    out: dict[str, Contract] = {}
    for macro, entry in data.items():
        if not isinstance(entry, Mapping):
            raise ValueError(f"contracts.{macro}: expected a table")
        unknown = set(entry) - _FIELDS
        if unknown:
            raise ValueError(f"contracts.{macro}: unknown key(s) {', '.join(sorted(unknown))}")
        try:
            cr3 = CR3Effect(str(entry.get("cr3", "none")).lower())
        except ValueError:
            raise ValueError(f"contracts.{macro}.cr3: expected one of "
                             f"{', '.join(e.value for e in CR3Effect)}") from None
        clobbers = entry.get("clobbers", ())
        if isinstance(clobbers, str) or not all(isinstance(c, str) for c in clobbers):
            raise ValueError(f"contracts.{macro}.clobbers: expected a list of strings")
        saves = entry.get("saves_cr3_in")
        if saves is not None and not isinstance(saves, str):
            raise ValueError(f"contracts.{macro}.saves_cr3_in: expected a string")
        out[macro.upper()] = Contract(macro.upper(), str(entry.get("family", family)), cr3, tuple(clobbers), saves,
                                      bool(entry.get("swaps_gs", False)), str(entry.get("note", "")),
                                      str(entry.get("versions", "")))
    return out


def contract_to_table(c: Contract) -> dict:
    """The inverse of ``parse_contract_table`` for one contract (for `entrylint
    contracts --format toml` and round-trip tests)."""
    d: dict = {"cr3": c.cr3.value, "clobbers": list(c.clobbers), "family": c.family}
    if c.saves_cr3_in is not None:
        d["saves_cr3_in"] = c.saves_cr3_in
    if c.swaps_gs:
        d["swaps_gs"] = True
    if c.note:
        d["note"] = c.note
    if c.versions:
        d["versions"] = c.versions
    return d


Instance = tuple[tuple, Contract]  # (trace prefix up to the macro's frame, its contract)


def contract_instances(program, cfg, contracts=None) -> dict[int, tuple[Instance, ...]]:
    """node -> the contracted macro instances it belongs to, innermost first.
    ``contracts``: macro name (upper case) -> Contract; None: the built-in
    family the program's macro names pick.  A fork node belongs where its
    first original (else first replacement) instruction does.  The walk
    makes them once and keeps them (``Forward.instances``).  A fork with no
    instruction on either side (an ALTERNATIVE whose both sides are empty)
    belongs where its site is written (the trace of its label): it does not
    take control out of the invocation around it."""
    if contracts is None:
        contracts = contracts_for(program.trace_names("macro", instructions=True))
    return _contract_instances(program, cfg, contracts)


def _contract_instances(program, cfg, contracts) -> dict[int, tuple[Instance, ...]]:
    P = program.instructions
    out: dict[int, tuple[Instance, ...]] = {}
    present = {n for n in program.trace_names("macro", instructions=True) if n.upper() in contracts}

    def of(tr: tuple) -> tuple[Instance, ...]:
        got = tuple((tr[:k + 1], contracts[f.name.upper()]) for k, f in enumerate(tr)
                    if f.kind == "macro" and f.name in present)
        return got[::-1]

    if present:
        for i in P:
            got = of(i.trace)
            if got:
                out[i.index] = got
    for f in program.forks:
        first = f.orig[:1] or next((r.insns[:1] for r in f.replacements if r.insns), ())
        if first:
            if first[0] in out:
                out[cfg.fork_node(f)] = out[first[0]]
        elif present and (got := of(f.trace)):
            out[cfg.fork_node(f)] = got
    return out


__all__ = ["BUILTIN", "CR3Effect", "Contract", "DEFAULT_FAMILY", "DISTINCTIVE", "Instance", "contract_instances",
           "contract_to_table", "contracts_for", "family_for", "parse_contract_table"]


def switching(instances: tuple) -> bool:
    """Whether a node is in an instance of a CR3-switch macro (``instances``:
    its (place, contract) pairs, contract_instances): a CR3 write there is a
    PTI switch on every path, also where the page table it writes is the
    kernel one CR3 holds (transfer: ``same:``), as 5.4's error_entry
    switches on the kernel-mode .Lgs_change path."""
    return any(c.cr3 is not CR3Effect.NONE for _, c in instances)
