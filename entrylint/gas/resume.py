"""Resuming the GNU as reading loop between preprocessed lines.

Between two pieces fed to ``Expander.feed`` no expansion is in progress: the
state is the symbol values, the macros defined, the open ``.if``s, a
``.macro``/``.rept`` body being collected, ``\\@``, the section and the
output so far.  A snapshot of it lets a re-read of an edited file skip the
statements before the first preprocessed line the edit changed
(``entrylint/incremental.py``).  The output and problem lists only grow, so
a snapshot keeps the run's own lists with their lengths.
"""

from __future__ import annotations

from copy import copy

from entrylint.gas.expander import Expander
from entrylint.gas.model import GasOptions
from entrylint.source.record import data


@data
class Snapshot:
    out: list
    n_out: int
    problems: list
    n_problems: int
    values: dict
    altmacro: bool
    defined: set
    macros: dict
    all_macros: dict
    purged: list
    purged_ids: frozenset  # the MacroInfo objects `.purgem` had marked (a flag on shared objects)
    conds: list
    collect: object
    macro_count: int
    work: int
    bytes: int
    repeated: int  # statements repetitions produced (repeat-statements)
    insns: int  # instructions emitted (program-instructions)
    reported: set
    peak: dict
    section: str
    previous: str
    section_stack: list
    stopped: bool
    invoked: list  # the run's list of macro invocations (Expander.invoked) and its length then
    n_invoked: int


def _collect_copy(c):
    if c is None:
        return None
    c = copy(c)
    c.body = list(c.body) if c.body is not None else None
    return c


def snapshot(e: Expander) -> Snapshot:
    """The state of ``e`` between two pieces fed."""
    infos = [*e.all_macros.values(), *e.purged]
    return Snapshot(e.out, len(e.out), e.problems, len(e.problems), dict(e.values), e.altmacro, set(e.defined),
                    dict(e.macros), dict(e.all_macros), list(e.purged),
                    frozenset(id(i) for i in infos if i.purged), [copy(x) for x in e.conds.stack],
                    _collect_copy(e.collect), e.macro_count, e.work, e.bytes, e.repeated, e.insns, set(e.reported), dict(e.peak),
                    e.section, e.previous, list(e.section_stack), e.stopped, e.invoked, len(e.invoked))


def restore(s: Snapshot, opts: GasOptions) -> Expander:
    """A new reading loop in the state ``s`` holds, to be fed the lines after it."""
    e = Expander(opts)
    e.out, e.problems = s.out[:s.n_out], s.problems[:s.n_problems]
    e.values, e.altmacro, e.defined = dict(s.values), s.altmacro, set(s.defined)
    e.macros, e.all_macros, e.purged = dict(s.macros), dict(s.all_macros), list(s.purged)
    for info in (*e.all_macros.values(), *e.purged, *e.macros.values()):
        info.purged = id(info) in s.purged_ids
    e.conds.stack = [copy(x) for x in s.conds]
    e.collect = _collect_copy(s.collect)
    e.macro_count, e.work, e.bytes, e.repeated, e.insns = s.macro_count, s.work, s.bytes, s.repeated, s.insns
    e.reported, e.peak = set(s.reported), dict(s.peak)
    e.section, e.previous, e.section_stack, e.stopped = s.section, s.previous, list(s.section_stack), s.stopped
    e.invoked = s.invoked[:s.n_invoked]
    return e
