"""What an analysis of an edited file takes from the last one (the language
server's re-analysis).

Where the edit retyped only instructions that fall through, the program is
the last one with those instructions made again (program/patch.py: its
``patched_from`` names the last program and them): every node, edge,
label, symbol, call target and section is the last program's.  The
analysis then takes the last one's CFG (its edges worked out so far), call
structure, entry points, the liveness and flag effects of each node, and
what rules work out per node or per start (plugins/support.py
``node_table``: call-clobbered-read's and live-scratch's searches, with
the reach sets of the registers the edit left alone; swapgs-speculation's
walks that read no instruction made again), and works out again only what
read the instructions made again or what a callee out of the file does
(another file's edit can change that).  The
result is what an analysis from the start gives: tests/test_carried.py,
and ``incremental.outcome()`` compares all of it after every edit of
tools/incremental_check.py and tools/fuzz.py.
"""

from __future__ import annotations

from entrylint.source.record import data


@data(frozen=True)
class Carried:
    """Of one analysis, what the next one of the file takes."""

    token: object  # its program's (Program.token)
    cfg: object
    procedures: object
    liveness: object
    flags: object
    memo: dict  # Analysis.memo: what the rules worked out per node
    # what entries.find_entries read of the program (its labels' macros, each
    # symbol's kind) and the tree's MSR entry targets it classified them with
    entry_facts: tuple

    def entry_facts_for(self, msr) -> tuple:
        """(labels' macros, symbol kinds) for a program made from this
        analysis' one, classified with the tree's MSR entry targets ``msr``."""
        labels, kinds, by = self.entry_facts
        return (labels, kinds) if by is msr else (labels, {})  # (another tree's targets: classified again)


def per_node(program, total: int, last: tuple | None, blank: tuple, wider=frozenset()) -> tuple[list, object]:
    """The per-node lists of a stage (liveness and flag effects, a rule's
    table) and the nodes it works out: ``last`` given (its lists for the
    program ``program`` was made from), copies of them and the instructions
    made again and ``wider`` (nodes whose value read more than their own
    instruction); else lists of the ``blank`` values and every node."""
    if last is not None:
        return [list(x) for x in last], sorted(program.patched_from[1] | wider)
    return [[b] * total for b in blank], range(total)


def renumbered(program, total: int, last: tuple, blank: tuple, wider=frozenset()) -> tuple[list, list]:
    """``per_node`` for a program moved from the last one's
    (``program.moved_from``, program/shift.py: lines of plain instructions
    put in or taken out; the old nodes' new numbers, the old nodes next to
    the lines).  Each node's values are the last
    lists' at its old number, its successors (the first list: nodes)
    numbered anew; worked out again: the instructions put in, those next to
    a line and the nodes with a successor next to one (a place there may
    be another node now, a label that moved on or off one brings or takes
    a fixup edge), and ``wider`` (old nodes whose value read more than their own
    instruction)."""
    _token, renum, near, put = program.moved_from
    lists = [[b] * total for b in blank]
    redo = set(put)
    succ, old_succ = lists[0], last[0]
    rest = list(zip(lists[1:], last[1:]))
    for v, nv in enumerate(renum):
        if nv is None:
            continue
        ss = old_succ[v]
        if v in wider or v in near or any(s in near for s in ss):
            redo.add(nv)
            continue
        succ[nv] = ss if all(renum[s] == s for s in ss) else tuple(renum[s] for s in ss)
        for new, old in rest:
            new[nv] = old[v]
    return lists, sorted(redo)


def _made_from(session, origin: tuple | None) -> Carried | None:
    """The file's last analysis (``session``: its incremental.Session) when
    ``origin`` (a program's ``patched_from`` or ``moved_from``) names its
    program; None: nothing is carried."""
    last = session.analysis if session is not None else None
    return last if last is not None and origin is not None and origin[0] is last.token else None


def last_analysis(session, program) -> Carried | None:
    """The file's last analysis when ``program`` was patched from its
    program (program/patch.py): its CFG, call structure, effects and rule
    tables are taken; None: nothing is."""
    return _made_from(session, program.patched_from)


def moved_analysis(session, program) -> Carried | None:
    """The file's last analysis when ``program`` was moved from its program
    (program/shift.py): its liveness effects are taken, numbered anew
    (``renumbered``); None: nothing is."""
    return _made_from(session, program.moved_from)
