"""The forward state (MODEL 3): a set of exact tuples, one per possibility.

A ``Tuple`` says, for one path: where we came from (``origin``), whose GS base
is live (``gs``), which page table CR3 holds (``cr3``), what %rsp points at
(``stack``), and what this path has assumed about CPU features (an
alternative or static branch on feature F sends the original side on with
F=off and the replacement with F=on).  A ``State`` is a frozenset of tuples;
the domain is tiny, so joins are unions and lose nothing.

Plain data: no mnemonics, no I/O.  Transfer functions live in ``forward.py``.
"""

from __future__ import annotations

import enum
import sys
import threading
import weakref
from dataclasses import field

from entrylint.program.constants import PTI_FEATURES, XENPV
from entrylint.source.record import data


class Origin(str, enum.Enum):
    USER = "user"  # entered from user mode
    KERNEL = "kernel"  # entered from kernel mode


class Space(str, enum.Enum):
    """Whose GS base / which page table."""

    USER = "user"
    KERNEL = "kernel"


class Stack(str, enum.Enum):
    USER = "user"  # untrusted %rsp, e.g. right after SYSCALL
    ENTRY = "entry"  # user-mapped entry/trampoline stack (cpu_entry_area)
    TASK = "task"  # the task's kernel stack
    IST = "ist"  # an IST stack (NMI, #MC, #DB, #DF)
    UNKNOWN = "unknown"  # loaded from somewhere we do not model


class Feature(str, enum.Enum):
    ON = "on"
    OFF = "off"


# Features whose values are tied: with Xen PV there is no PTI (the hypervisor
# isolates; the 4.4/4.9 backport's KAISER is turned off at boot under Xen PV
# too); FRED entry has its own code paths.  (feature, value) -> implied.
IMPLIES: dict[tuple[str, Feature], tuple[tuple[str, Feature], ...]] = {
    (XENPV, Feature.ON): tuple((f, Feature.OFF) for f in PTI_FEATURES),
    **{(f, Feature.ON): ((XENPV, Feature.OFF),) for f in PTI_FEATURES},
}


class _Interned(type):
    """Tuple's maker: one object per value, for as long as one is in use.
    The walk keys its dicts and sets by tuples hundreds of thousands of
    times; with equal tuples one object, a tuple's hash is its identity's
    (C, not a Python ``__hash__`` call: a tenth of a walk) and equality
    is identity.  Held weakly: a tuple no one uses is not kept."""

    def __call__(cls, origin, gs, cr3, stack, features=(), held=(), flags=(), site=""):
        key = (origin, gs, cr3, stack, features, held, flags, site)
        ref = _REFS.get(key)  # (the weak dict's own: its get() is a Python call per tuple made)
        got = ref() if ref is not None else None
        if got is None:
            with _MAKING:  # (the language server walks in a thread of its own)
                got = _MADE.get(key)
                if got is None:
                    got = _MADE[key] = super().__call__(*key)
        return got


_MADE: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
_REFS = _MADE.data  # value -> weak reference, read directly (an entry goes when its tuple does)
_MAKING = threading.Lock()
# a weak reference needs a slot for it (3.11 makes one; 3.10: no slots)
_SLOTS = {"slots": True, "weakref_slot": True} if sys.version_info >= (3, 11) else {}


@data(frozen=True, order=True, **_SLOTS)
class Tuple(metaclass=_Interned):
    """One possibility.  Besides MODEL 3's fields it carries the few facts the
    transfer functions need to infer what a CR3 or GS-base write means
    (MODEL 3.1): ``held`` says what some registers hold (``cr3:user`` -- a
    value read from CR3 that names the user page table; ``gs:kernel`` -- a
    saved GS base; ``msr:gsbase`` -- the MSR number in %ecx; ``stack:task``
    -- a pointer into the task stack), and ``flags`` are flags whose value on
    this path is known (after ``testb $3, CS(%rsp)``, ``bt $12, %reg``...)."""

    origin: Origin
    gs: Space
    cr3: Space
    stack: Stack
    features: tuple[tuple[str, Feature], ...] = ()  # sorted (name, value) pairs
    held: tuple[tuple[str, str], ...] = ()  # sorted (register, value) pairs
    flags: tuple[tuple[str, bool], ...] = ()  # sorted (flag, value) pairs known on this path
    # for a kernel-mode interruption that found the user GS or CR3: the label of
    # the exit instruction it interrupted (the iretq to user, load_gs_index's
    # .Lgs_change); the entry code recognises these by the saved RIP
    site: str = ""
    _str: str = field(default="", init=False, repr=False, compare=False)  # str(self), made once (``ordered`` sorts by it)
    # widen()'s result, made once (the walk asks at every push); None: not yet,
    # False: the tuple itself (not a reference to itself: no cycle to collect)
    _base: object = field(default=None, init=False, repr=False, compare=False)
    _ints: object = field(default=None, init=False, repr=False, compare=False)  # ints(), made once
    _regs: object = field(default=None, init=False, repr=False, compare=False)  # held_regs(), made once
    # the walk's last dead-register forgetting of this tuple: (the live set
    # it was for, the result; False: the tuple itself); nodes in a row share
    # one live set object, so a run of quiet visits works it out once
    _dead: object = field(default=None, init=False, repr=False, compare=False)
    _pti: object = field(default=None, init=False, repr=False, compare=False)  # pti_off(), made once

    # one object per value (_Interned): its identity is its hash.  Set order
    # follows it, as it followed string hashes before (they differ between
    # processes): whatever a rule picks from a state comes from ``ordered``.
    __hash__ = object.__hash__

    def __reduce__(self):  # made again through _Interned: the one object of its value there
        return (Tuple, (self.origin, self.gs, self.cr3, self.stack, self.features, self.held, self.flags,
                        self.site))

    def feature(self, name: str) -> Feature | None:
        for n, v in self.features:
            if n == name:
                return v
        return None

    def assume(self, name: str, value: Feature) -> Tuple | None:
        """This tuple with ``name`` assumed ``value``; None if that contradicts
        what the path already assumed (directly or through ``IMPLIES``)."""
        have = dict(self.features)
        todo = [(name, value)]
        while todo:
            n, v = todo.pop()
            old = have.get(n)
            if old is not None:
                if old is not v:
                    return None
                continue
            have[n] = v
            todo.extend(IMPLIES.get((n, v), ()))
        return self.with_(features=tuple(sorted(have.items(), key=lambda kv: kv[0])))

    def with_(self, **kw) -> Tuple:
        """This tuple with some fields changed (``dataclasses.replace``
        without its introspection: the walk makes thousands)."""
        if not _FIELDS.issuperset(kw):
            raise TypeError(f"unknown Tuple fields: {sorted(set(kw) - _FIELDS)}")
        g = kw.get
        return Tuple(g("origin", self.origin), g("gs", self.gs), g("cr3", self.cr3), g("stack", self.stack),
                     g("features", self.features), g("held", self.held), g("flags", self.flags), g("site", self.site))

    def holds(self, reg: str | None) -> str | None:
        if reg is None:
            return None
        for r, v in self.held:
            if r == reg:
                return v
        return None

    def hold(self, reg: str, value: str | None) -> Tuple:
        """This tuple with ``reg`` holding ``value`` (None: nothing known)."""
        kept = tuple(kv for kv in self.held if kv[0] != reg)
        if value is not None:
            kept = tuple(sorted(kept + ((reg, value),)))
        return self.with_(held=kept) if kept != self.held else self

    def forget(self, regs) -> Tuple:
        kept = tuple(kv for kv in self.held if kv[0] not in regs)
        return self.with_(held=kept) if len(kept) != len(self.held) else self

    def held_regs(self) -> tuple[str, ...]:
        """The registers this tuple knows a value of (the walk asks at every
        visit whether an instruction touches one: made once, a tuple: the
        walk keeps a million tuples, a frozenset is four times the size)."""
        got = self._regs
        if got is None:
            got = tuple(r for r, _ in self.held)
            object.__setattr__(self, "_regs", got)
        return got

    def ints(self) -> tuple[tuple[str, str], ...]:
        """The (register, ``int:N``) pairs: the small integers this tuple knows
        (the walk asks at every widening and step: made once)."""
        got = self._ints
        if got is None:
            got = tuple(kv for kv in self.held if kv[1].startswith("int:"))
            object.__setattr__(self, "_ints", got)
        return got

    def widen(self) -> Tuple:
        """This tuple without the small integers it knows (``int:`` values)
        and the flags it knows: what the walk groups tuples by when it
        widens (forward.WIDEN: a loop counting, a helper called with every
        count, the flags a count leaves)."""
        base = self._base
        if base is None:
            kept = tuple(kv for kv in self.held if not kv[1].startswith("int:"))
            base = False if len(kept) == len(self.held) and not self.flags else self.with_(held=kept, flags=())
            object.__setattr__(self, "_base", base)
        return self if base is False else base

    def known_flag(self, name: str) -> bool | None:
        for f, v in self.flags:
            if f == name:
                return v
        return None

    def core(self) -> tuple:
        """What MODEL 3 calls the tuple: origin, gs, cr3, stack, features."""
        return (self.origin, self.gs, self.cr3, self.stack, self.features)

    def pti_off(self) -> bool:
        """True when this path runs with PTI off (one page table: the CR3
        rules do not apply): one of the PTI features is off on it (made
        once: rules ask it of every tuple they judge)."""
        got = self._pti
        if got is None:
            got = any(self.feature(f) is Feature.OFF for f in PTI_FEATURES)
            object.__setattr__(self, "_pti", got)
        return got

    def __str__(self) -> str:
        s = self._str
        if not s:
            feats = ",".join(f"{n.removeprefix('X86_FEATURE_')}={v.value}" for n, v in self.features)
            base = f"origin={self.origin.value} gs={self.gs.value} cr3={self.cr3.value} stack={self.stack.value}"
            s = f"({base}{' ' + feats if feats else ''})"
            object.__setattr__(self, "_str", s)
        return s

    def short(self) -> str:
        return f"{self.origin.value[0]}/gs={self.gs.value}/cr3={self.cr3.value}/{self.stack.value}"


_FIELDS = frozenset({"origin", "gs", "cr3", "stack", "features", "held", "flags", "site"})

State = frozenset  # frozenset[Tuple]


def show(state: frozenset[Tuple]) -> str:
    return "{" + ", ".join(str(t) for t in sorted(state)) + "}"


def ordered(state) -> list[Tuple]:
    """The tuples of a state in a stated order: as printed, then by every field
    (``held``, ``flags`` and ``site`` do not print).  Set order follows string
    hashes, which differ between processes; whatever a rule picks from a state
    must come from this order."""
    return sorted(state, key=lambda t: (str(t), t))
