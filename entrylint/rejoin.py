"""GNU as's side of the incremental re-reading (incremental.py): reading
the preprocessed lines of an edited text from a snapshot, and taking the
last run's statements where its state is the last run's again.

The places GNU as can take the last run up again are its *points* (a
snapshot of the preprocessor and of GNU as every ``STEP`` lines of the main
file and past each ``#include``) and its *marks*: GNU as snapshots every
``MARK`` lines of preprocessed output inside a piece longer than twice
that between two points -- the lines of a header the file includes, which
the preprocessor's snapshots cannot cut (6.12's ``#include
<asm/idtentry.h>``: 15k statements of GNU as from one line of
entry_64.S).  An edit in a ``.macro`` body whose invocations are in such
a header is read only around them.
"""

from __future__ import annotations

MARK = 12  # lines of preprocessed output between two marks inside a long piece


def feed(e, lines: list, a: int, b: int, marks: list) -> None:
    """``lines[a:b]`` fed to GNU as loop ``e``, and a mark (position, GNU as
    snapshot) every MARK lines of a piece longer than 2 x MARK."""
    from entrylint.gas import resume as gas_resume

    if b - a > 2 * MARK:
        for c in range(a + MARK, b - MARK, MARK):
            e.feed(lines[a:c])
            a = c
            marks.append((c, gas_resume.snapshot(e)))
    e.feed(lines[a:b])


def read(res, gopts, start, snaps: list, st, join: int | None, pp, lexed, shift: int, reloc=None):
    """Read the preprocessed lines from ``start``'s gas snapshot on (None:
    from the beginning), snapshotting between the pieces the cpp snapshots
    cut (and marking long ones).  After the preprocessor rejoined the last
    run at old point ``join``, the pieces are cut at the old points and
    marks (moved to the new output), and the reading stops at the first
    where the state equals the last run's: the rest of the statements are
    the last run's.  (result, points, marks, the old point index where GNU
    as rejoined -- at a mark: the point before it -- or None)  With
    ``reloc`` (lines added or removed before the place the preprocessor
    rejoined) the last run's statements and its snapshots after that place
    are taken moved, and the preprocessor's snapshots this run keeps before
    GNU as rejoins too (the state is the last run's there, its places moved);
    GNU as's are this run's."""
    from entrylint.gas import resume as gas_resume
    from entrylint.gas.expander import Expander

    lines = res.lines
    e = Expander(gopts) if start is None else gas_resume.restore(start[1], gopts)
    points: list = []
    marks: list = []
    at = start[0].n_out if start is not None else 0
    for cs in snaps:
        feed(e, lines, at, cs.n_out, marks)
        at = cs.n_out
        points.append((cs, gas_resume.snapshot(e)))
    if join is None:
        feed(e, lines, at, len(lines), marks)
        return e.result(), points, marks, None
    base = st.points[join][0]
    moved = _Moved(base, pp, lexed, res, shift, reloc)
    dn = moved.n_out - base.n_out  # (a place of the last run's output after the join, in this one's)
    # where the last run can be taken up: (its output position, point index or None for a mark, GNU as snapshot)
    stops = [(cs.n_out, m, g) for m, (cs, g) in enumerate(st.points) if m >= join]
    stops = sorted(stops + [(p, None, g) for p, g in st.marks if p > base.n_out], key=lambda s: s[0])
    i = 0
    while i < len(stops):
        pos, m, og = stops[i]
        cs = moved.cpp(st.points[m][0]) if m is not None else None
        to = cs.n_out if cs is not None else pos + dn
        feed(e, lines, at, to, marks)  # (a long piece the last run kept no marks in, after a line added above it)
        at = to
        g = og if reloc is None else reloc.gas_snapshot(og)
        changed = _changed_macros(e, g, og, st)
        d = _gas_delta(e, g, st.gas) if changed is not None else None
        again = _next_invocation(st, og, changed) if d is not None else None
        if d is not None and again is None and (reloc is None or len(st.gas.problems) == og.n_problems):
            g = _gas_joined(e, st, og, reloc, d, changed)
            moved.gas_from(og, e, g, d)
            nxt = m if m is not None else next((k for _, k, _ in stops[i:] if k is not None), len(st.points))
            later = [(moved.cpp(c), moved.gas(x)) for c, x in st.points[nxt:]]
            marked = [(p + dn, moved.gas(x)) for p, x in st.marks if p > pos]
            if changed:
                later = [(c, _redefined(x, e, changed)) for c, x in later]
                marked = [(p, _redefined(x, e, changed)) for p, x in marked]
            return g, points + later, marks + marked, nxt if m is not None else nxt - 1
        if m is not None:
            points.append((cs, gas_resume.snapshot(e)))
        else:
            marks.append((at, gas_resume.snapshot(e)))
        t = _last_before(stops, i, again, reloc) if again is not None else None
        if t is not None:  # an edited .macro invoked further down: on to the last place before that
            e, made = _jump(e, st, og, [x for _, _, x in stops[i + 1:t + 1]], gopts, changed, d, reloc)
            for (p, k, _), x in zip(stops[i + 1:t + 1], made):
                if k is not None:
                    points.append((moved.cpp(st.points[k][0]), x))
                else:
                    marks.append((p + dn, x))
            at = points[-1][0].n_out if stops[t][1] is not None else stops[t][0] + dn
            i = t
        i += 1
    feed(e, lines, at, len(lines), marks)
    return e.result(), points, marks, None


def _next_invocation(st, og, changed: frozenset) -> int | None:
    """The place in the last run's list of invocations of the first one of a
    ``changed`` macro after its snapshot ``og``; None: the rest invokes none
    (it gives the statements the last run's gave)."""
    if not changed:
        return None
    inv = st.gas.invoked
    return next((k for k in range(og.n_invoked, len(inv)) if inv[k] in changed), None)


def _last_before(stops: list, i: int, at: int, reloc=None) -> int | None:
    """The last stop after ``stops[i]`` before the last run's ``at``-th
    macro invocation, or None: the reading goes on from there instead (an
    edit in a ``.macro`` body invoked further down, nothing else differing).
    The lines up to there are the last run's, read in the same state but
    for that macro, which they do not invoke: they give its statements
    (_jump).  With ``reloc`` (lines added or removed above) they are taken
    moved, so the lines up to the stop gave no problem (a problem's message
    may name a place)."""
    t = i
    while t + 1 < len(stops) and stops[t + 1][2].n_invoked <= at:
        t += 1
    if reloc is not None:
        og = stops[i][2]
        while t > i and stops[t][2].n_problems != og.n_problems:
            t -= 1
    return t if t > i else None


def _jump(e, st, g, between: list, gopts, changed: frozenset, d: tuple[int, int, int], reloc=None):
    """A reading loop at the last run's GNU as snapshot ``between[-1]``,
    from ``e`` at its snapshot ``g``: the last run's statements, problems
    and invocations between the two added to ``e``'s, its state there but
    for the ``changed`` macros (as ``e`` defines them) and the counts ``e``
    read more or less before (``d``: _gas_delta); and ``between`` so made
    (for the points and marks of this run)."""
    from entrylint.gas import resume as gas_resume

    old, h = st.gas, between[-1]
    taken = old.statements[g.n_out:h.n_out]
    if reloc is not None:
        taken, between = reloc.statements(taken), [reloc.gas_snapshot(x) for x in between]
    lists = (e.out + taken, e.problems + old.problems[g.n_problems:h.n_problems],
             e.invoked + old.invoked[g.n_invoked:h.n_invoked])
    made = [_shifted(_redefined(x, e, changed), g, _lens(e), lists, d) for x in between]
    return gas_resume.restore(made[-1], gopts), made


def _lens(e) -> tuple[int, int, int]:
    """What GNU as loop ``e`` has made so far: statements, problems, invocations."""
    return len(e.out), len(e.problems), len(e.invoked)


def _shifted(s, g, lens: tuple[int, int, int], lists: tuple, d: tuple[int, int, int]):
    """GNU as snapshot ``s`` of the last run (after its snapshot ``g``) taken
    onto this run's output: ``lists`` (statements, problems, invocations)
    are this run's, its counts moved by what this run had made at ``g``'s
    place (``lens``: _lens) more or less than the last run, and by ``d``
    (what it read more or less before: _gas_delta)."""
    from dataclasses import replace

    (dw, di, db), (out, problems, invoked), (no, np, ni) = d, lists, lens
    return replace(s, out=out, n_out=s.n_out - g.n_out + no, problems=problems,
                   n_problems=s.n_problems - g.n_problems + np, invoked=invoked,
                   n_invoked=s.n_invoked - g.n_invoked + ni, work=s.work + dw, insns=s.insns + di,
                   bytes=s.bytes + db)


def _gas_delta(e, g, old) -> tuple[int, int, int] | None:
    """The GNU as loop ``e`` is in the state snapshot ``g`` holds but for
    the counts of what was read before (statements read, instructions made,
    expansion bytes: a line added or removed, a macro invocation typed in
    place of an instruction): those differences, or None.  The rest of the
    last run (``old``) then gives the same statements, with the counts moved;
    where they differ, it must have hit no limit after ``g`` and its totals
    moved must stay within the limits."""
    if not (e.macro_count == g.macro_count and e.repeated == g.repeated
            and not e.stopped and not g.stopped and e.collect is None and g.collect is None
            and e.altmacro == g.altmacro and e.section == g.section and e.previous == g.previous
            and e.section_stack == g.section_stack and e.reported == g.reported and e.peak == g.peak
            and e.values == g.values and e.conds.stack == g.conds and e.purged == g.purged
            and e.defined == g.defined):  # (the macros: _changed_macros)
        return None
    d = (e.work - g.work, e.insns - g.insns, e.bytes - g.bytes)
    if d == (0, 0, 0):
        return d
    from entrylint.source import ProblemKind

    lim, pk = e.opts.limits, old.peak
    if any(p.kind is ProblemKind.LIMIT for p in old.problems[g.n_problems:]) \
            or pk["expansion-statements"] + d[0] > lim.expansion_statements \
            or pk["program-instructions"] + d[1] > lim.program_instructions \
            or pk["expansion-bytes"] + d[2] > lim.expansion_bytes:
        return None
    return d


def _changed_macros(e, g, og, st) -> frozenset | None:
    """The macros (lower-cased names) whose definitions in the GNU as loop
    ``e`` differ from the last run's at its snapshot ``g`` (``og``: the same
    before its places were moved), where the last run's rest neither
    redefines nor purges one of them: where it does not invoke one either
    (_next_invocation), its statements are what ``e`` makes of the rest (an
    edit inside a ``.macro`` body whose invocations all come before the
    place).  None where one is defined on one side only, or redefined or
    purged later; empty where the tables are the same."""
    if e.macros == g.macros and e.all_macros == g.all_macros:
        return frozenset()
    changed = frozenset(k for k in e.macros.keys() | g.macros.keys() | e.all_macros.keys() | g.all_macros.keys()
                        if e.macros.get(k) != g.macros.get(k) or e.all_macros.get(k) != g.all_macros.get(k))
    old = st.gas
    for k in changed:
        mine, last = e.macros.get(k), og.macros.get(k)
        if mine is None or last is None or e.all_macros.get(k) is not mine or og.all_macros.get(k) is not last \
                or old.macros.get(k) is not last or id(last) in st.purged:
            return None
    return changed


def _redefined(s, e, changed: frozenset):
    """GNU as snapshot ``s`` of the last run (after the place this run
    rejoined it) with the ``changed`` macros as ``e`` defines them."""
    from dataclasses import replace

    macros, all_macros = dict(s.macros), dict(s.all_macros)
    for k in changed:
        macros[k] = all_macros[k] = e.macros[k]
    return replace(s, macros=macros, all_macros=all_macros)


def _gas_joined(e, st, g, reloc=None, d=(0, 0, 0), changed=frozenset()):
    """The result of ``e``'s run: its statements so far, then the last run's
    from snapshot ``g`` on, with the last run's symbols, macros and figures
    (``reloc``: its statements and macros moved to the edited text's lines;
    ``d``: what ``e`` read before more than the last run, _gas_delta;
    ``changed``: the macros ``e`` defines otherwise, _changed_macros)."""
    from entrylint.gas.model import GasResult

    old = st.gas
    for info in (*old.macros.values(), *old.purged):  # a restore may have reset a flag the old run set later
        info.purged = id(info) in st.purged
    stmts, macros, purged = old.statements[g.n_out:], old.macros, old.purged
    if reloc is not None:
        stmts = reloc.statements(stmts)
        macros = {k: reloc.gas_macro(m) for k, m in macros.items()}
        purged = [reloc.gas_macro(m) for m in purged]
    if changed:
        macros = {k: e.all_macros[k] if k in changed else m for k, m in macros.items()}
    peak = dict(old.peak)
    for name, more in zip(("expansion-statements", "program-instructions", "expansion-bytes"), d):
        peak[name] += more
    return GasResult(e.out + stmts, e.problems + old.problems[g.n_problems:], old.symbols, macros, purged, peak,
                     e.invoked + old.invoked[g.n_invoked:])


class _Moved:
    """The last run's snapshots after the place the preprocessor rejoined it,
    moved onto this run's output (their states are this run's there; the
    output before them differs in length), and with ``reloc`` (lines added
    or removed above) their states' places moved too."""

    def __init__(self, base, pp, lexed, res, shift: int, reloc=None):
        self.base, self.res, self.shift, self.reloc = base, res, shift, reloc
        self.n_out, self.n_problems = len(pp.out), len(pp.problems)
        self.n_missing, self.n_fallbacks = len(pp.missing), len(pp.fallbacks)
        self.before_main = (pp.before_main, len(lexed.problems))
        self.g = None

    def cpp(self, s):
        from dataclasses import replace

        b = self.base
        s = replace(s, idx=s.idx - self.shift, out=self.res.lines, n_out=s.n_out - b.n_out + self.n_out,
                    problems=self.res.problems,
                    n_problems=s.problems_read() - b.problems_read() + self.n_problems,
                    files=self.res.files, missing=self.res.missing,
                    n_missing=s.n_missing - b.n_missing + self.n_missing, fallbacks=self.res.fallbacks,
                    n_fallbacks=s.n_fallbacks - b.n_fallbacks + self.n_fallbacks, before_main=self.before_main)
        return s if self.reloc is None else self.reloc.cpp_snapshot(s)

    def gas_from(self, g, e, result, d) -> None:
        self.g, self.lens, self.d = g, _lens(e), d
        self.lists = (result.statements, result.problems, result.invoked)

    def gas(self, s):
        s = _shifted(s, self.g, self.lens, self.lists, self.d)
        return s if self.reloc is None else self.reloc.gas_snapshot(s)
