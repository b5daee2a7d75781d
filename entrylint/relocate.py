"""The last run's output moved to the lines of an edited text (incremental.py).

An edit that adds or removes lines leaves the rest of the file as it was, a
few lines up or down: the preprocessor and GNU as reach the same state there
as in the last run, and what they read after it is the last run's output
with every place in the main file from that point on ``dl`` lines earlier
(``dl`` = old line - new line).  ``Relocate`` makes those records again with
the moved places: the preprocessed lines (their segments' origins, the
``#if`` conditions around them), the statements (their traces and
conditions), and the definitions made there (cpp macros, GNU as macros).
Places before the point (the headers, the lines above the edit) stay; records
that hold none are the same objects.

Whether anything else of the output depends on a line number decides
whether the last run may be taken: ``__LINE__`` does (``line_free``), and so
do the problems, whose messages may name places (incremental.py takes the
last run only when it had none after the point).
"""

from __future__ import annotations

from entrylint.gas.types import Frame, Stmt
from entrylint.source import Location


class Relocate:
    """Places in ``main`` at or after line ``start`` (old numbering) move up
    by ``dl`` lines; everything else stays.  ``shift``: the logical lines the
    main file has fewer (counted in cpp-lines).  ``old_lines``: the last
    run's lexed main file (its ``#define``s below ``start`` are the cpp
    macros that move); ``old_gas``: its GNU as result (every GNU as macro it
    defined is in its table or purged list).  The memo tables are keyed by
    the ids of the last run's records, which its state keeps alive while a
    run uses them."""

    def __init__(self, main: str, start: int, dl: int, shift: int, old_lines: list, old_gas):
        self.main, self.start, self.dl, self.shift = main, start, dl, shift
        self._conds: dict[int, tuple] = {}
        self._frames: dict[int, object] = {}  # id of a frame -> it moved (itself where it stays)
        self._macros: dict[int, object] = {}  # id of a macro (GNU as or compiled cpp) -> it moved
        # the names whose definitions may move (only these entries of a
        # table are looked at: _moved_in)
        self.cpp_movers = {ln[2].text for ln in old_lines if len(ln) > 2 and ln[0].text == "#"
                           and ln[1].text == "define" and ln[0].loc[1] >= start}
        self.gas_movers = {m.name.lower() for m in (*old_gas.macros.values(), *old_gas.purged)
                           if self.loc(m.location) is not m.location}

    def loc(self, at: Location) -> Location:
        if at.line >= self.start and at.file == self.main:
            return Location(at.file, at.line - self.dl, at.col)
        return at

    def cond(self, c: tuple) -> tuple:
        """A condition (a tuple of cpp.types.Cond), its places moved; the same
        object when none moves (one object per condition object)."""
        if not c:
            return c
        got = self._conds.get(id(c))
        if got is None:
            from entrylint.cpp.types import Cond

            moved = tuple(x if (y := self.loc(x.location)) is x.location else Cond(x.text, x.taken, y) for x in c)
            got = c if all(a is b for a, b in zip(moved, c)) else moved
            self._conds[id(c)] = got
        return got

    # -- the preprocessor's output -------------------------------------------
    def pp_lines(self, lines: list) -> list:
        from entrylint.cpp.types import PPLine, Segment

        out = []
        for ln in lines:
            segs = ln.segments
            moved = tuple(s if (o := self.loc(s.origin)) is s.origin else Segment(s.col, o, s.macros) for s in segs)
            cond = self.cond(ln.cond)
            if cond is ln.cond and all(a is b for a, b in zip(moved, segs)):
                out.append(ln)
            else:
                out.append(PPLine(ln.text, moved, cond))
        return out

    def cpp_macros(self, table: dict) -> dict:
        """A run's macro table (name -> cpp.macros.MacroDef) with the
        ``#define``s of the moved lines moved."""
        return _moved_in(table, self.cpp_movers, self._defn)

    def _defn(self, d):
        """A ``#define`` (cpp.macros.MacroDef) at its moved place; itself when it stays."""
        at = d.location
        if not isinstance(at, Location) or (moved := self.loc(at)) is at:  # (a -D option, a built-in)
            return d
        from dataclasses import replace

        return replace(d, location=moved, cond=self.cond(d.cond))

    # -- GNU as's output -----------------------------------------------------
    def _moved(self, f):
        """Frame ``f`` at its moved place, or itself."""
        at = self.loc(f.location)
        return f if at is f.location else Frame(at, f.kind, f.name)

    def trace(self, tr: tuple) -> tuple:
        """A trace with its frames moved (an equal tuple when none moves;
        one object per frame object: a frame met the first time is moved
        here, without a second pass over the trace)."""
        get, first = self._frames.get, self._first
        out = []
        for f in tr:
            got = get(id(f))
            out.append(got if got is not None else first(f))
        return tuple(out)

    def _first(self, f):
        """Frame ``f`` met the first time: moved (or itself), and kept for the next."""
        got = self._frames[id(f)] = self._moved(f)
        return got

    def statements(self, stmts: list) -> list:
        """GNU as statements with their places moved (every statement below
        the place has one: its trace starts at its line of the main file).

        The statements of one expansion share its head (the frame of the
        invocation or repetition, ``trace[-2]``), made once by GNU as with
        the frames before it (gas/expander.py): the head's moved frames are
        made once, and a statement's trace is them and its own last frame
        moved.  A head is taken for a trace's first frames only after they
        are checked to be the ones it was met with."""
        trace, cond, get, first = self.trace, self.cond, self._frames.get, self._first
        conds = self._conds  # (cond()'s memo: a few hundred conditions for 10k statements)
        heads: dict[int, tuple] = {}  # id of a head -> (the frames up to it, them moved)
        out = []
        for s in stmts:
            c = s.cond
            if c:
                c = conds.get(id(c)) or cond(c)
            tr = s.trace
            if len(tr) > 1:
                got = heads.get(id(tr[-2]))
                pre = tr[:-1]
                if got is None or got[0] != pre:
                    got = heads[id(tr[-2])] = (pre, trace(pre))
                f = tr[-1]
                g = get(id(f))
                tr = got[1] + (g if g is not None else first(f),)
            else:
                tr = trace(tr)
            out.append(Stmt(s.kind, s.name, s.args, s.section, tr, c, s.cpp_macros))
        return out

    def body_line(self, b):
        from entrylint.gas.model import BodyLine

        tr, cond = self.trace(b.trace), self.cond(b.cond)
        if cond is b.cond and all(x is y for x, y in zip(tr, b.trace)):
            return b
        return BodyLine(b.text, tr, cond, b.cpp_macros)

    def gas_macro(self, m):
        """A GNU as macro with its places moved; the same object when none
        moves, and one object per macro object (a macro is in the table, the
        list of all and the purged list at once)."""
        got = self._macros.get(id(m))
        if got is None:
            from entrylint.gas.model import MacroInfo

            at, cond = self.loc(m.location), self.cond(m.cond)
            body = tuple(self.body_line(b) for b in m.body)
            got = m if at is m.location and cond is m.cond and all(a is b for a, b in zip(body, m.body)) else \
                MacroInfo(m.name, m.params, body, at, cond, m.purged)
            self._macros[id(m)] = got
        return got

    # -- the snapshots after the place (incremental.py's points): their
    # states hold places too (the macros defined, the open ``#if``s and
    # ``.if``s, the ``.macro`` or ``.rept`` body being collected) ----------
    def cpp_snapshot(self, s):
        """A preprocessor snapshot (cpp.resume.Snapshot) of the last run,
        its state's places moved and its cpp-lines count with the main
        file's ``shift`` lines fewer."""
        from dataclasses import replace

        from entrylint.cpp.resume import _copy_group

        groups = []
        for g in s.groups:
            c = _copy_group(g)
            c.conds, c.prior, c.outer = self.cond(g.conds), self.cond(g.prior), self.cond(g.outer)
            groups.append(c)
        peak = dict(s.peak)
        peak["cpp-lines"] -= self.shift  # (counted with the main file's lines)
        # (a snapshot's table is only read, and copied when it is restored)
        return replace(s, macros=_moved_in(s.macros, self.cpp_movers, self._compiled), groups=groups,
                       cond=self.cond(s.cond), peak=peak,
                       main_lines=s.main_lines - self.shift)

    def _compiled(self, m):
        """A compiled cpp macro (cpp.macros.Macro) with its ``#define``'s place moved."""
        got = self._macros.get(id(m))
        if got is None:
            from entrylint.cpp.macros import Macro

            d = self._defn(m.defn)
            got = self._macros[id(m)] = m if d is m.defn else Macro(m.name, m.params, m.variadic, m.body, d,
                                                                    m.builtin)
        return got

    def gas_snapshot(self, s):
        """A GNU as snapshot (gas.resume.Snapshot) of the last run, its state's places moved."""
        from dataclasses import replace

        from entrylint.gas.conditionals import _Entry

        conds = [_Entry(self.body_line(x.opener), x.outer, x.done, x.active, x.seen_else) for x in s.conds]
        c = s.collect
        if c is not None:  # (a body being collected: its lines so far, and the line that opened it)
            c = replace(c, opener=self.body_line(c.opener),
                        body=[self.body_line(b) for b in c.body] if c.body is not None else None)
        all_macros = _moved_in(s.all_macros, self.gas_movers, self.gas_macro)
        if all_macros is s.all_macros:
            return replace(s, conds=conds, collect=c)  # (no macro defined below the place yet)
        every = (*s.all_macros.values(), *s.purged, *s.macros.values())
        purged_ids = frozenset(id(self.gas_macro(m)) for m in every if id(m) in s.purged_ids)
        return replace(s, macros=_moved_in(s.macros, self.gas_movers, self.gas_macro), all_macros=all_macros,
                       purged=[self.gas_macro(m) for m in s.purged], purged_ids=purged_ids, conds=conds, collect=c)


def _moved_in(table: dict, names: set, move) -> dict:
    """``table`` with ``move`` of its entries named in ``names`` (the names
    whose definitions may move): a copy, or ``table`` itself when it holds
    none.  The names are looked up one by one: ``set.intersection`` of a dict
    goes through the dict (3k cpp macros, at every snapshot moved)."""
    here = [n for n in names if n in table]
    if not here:
        return table
    out = dict(table)
    for n in here:
        out[n] = move(table[n])
    return out


def line_free(macros: dict, text: str, lines: list) -> bool:
    """No line number can be in ``lines`` (preprocessed lines of the last
    run): ``__LINE__`` is not in the main file's text, and no macro expanded
    on them (their segments' macro chains) reaches it, directly or through
    the macros its body names (``macros``: name -> cpp.macros.MacroDef, the
    run's table)."""
    if "__LINE__" in text:
        return False
    todo = {n for ln in lines for seg in ln.segments for n in seg.macros}
    seen: set[str] = set()
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        seen.add(n)
        if n == "__LINE__":
            return False
        d = macros.get(n)
        if d is not None:
            todo |= _names(d) - seen
    return True


_NAMES: dict[int, tuple[object, frozenset]] = {}  # id(MacroDef) -> (it, the names its body holds)


def _names(d) -> frozenset:
    got = _NAMES.get(id(d))
    if got is None or got[0] is not d:
        import re

        if len(_NAMES) > 50_000:
            _NAMES.clear()
        got = _NAMES[id(d)] = (d, frozenset(re.findall(r"[A-Za-z_]\w*", d.body)))
    return got[1]
