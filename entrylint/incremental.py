"""Incremental re-reading of a file being edited (the language server's path).

An edit changes the main file from some line on; everything the
preprocessor and GNU as did before that line is the same as in the last run:
the headers read (the implicit ones and the ``#include``s at the top), the
macro table, the open ``#if`` groups, the ``.macro`` definitions, the symbol
values, ``\\@``.  A ``Session`` keeps, for the last text it read, snapshots of
the preprocessor (``cpp/resume.py``) and of the GNU as reading loop
(``gas/resume.py``) every ``STEP`` lines of the main file and past each of
its ``#include`` lines (an edit just after a header the middle of the file
includes is not read from before it), and reads an edited text from the
last snapshot before the first line that changed:

* the lines before the snapshot, and (after a text line) the line a
  function-like macro name at their end peeked at for its ``(``, must lex
  to the same tokens (the same text, at the same lines and columns);
* the headers the last run read must be unchanged on disk (their stamps);
* the options (profile, include paths, defines, limits) are part of the
  session's key.

Where the rest of the file is the last text's rest -- at the same lines (an
edit inside a line), or a few lines up or down (lines added or removed) --
the run rejoins the last one at the first snapshot there whose state it
equals (the preprocessor's, then GNU as's, up to the counts of what was read
before and the definitions of macros the rest does not invoke: an edit in a
``.macro`` body), and takes the last run's output for the rest: as it was, or with
every place below the edit moved (``relocate.py``; not where a line number
can be in that output, nor where it had problems).  Its snapshots after that
place are kept the same way, so the next edit further down resumes near it.

What comes out is what a run from the start gives (tests/test_incremental.py
and tools/incremental_check.py compare the two, findings and all).  The
stages after the expansion (program, CFG, walk, rules) run in full; the walk
looks up the steps the last runs made (``analysis.walking.StepMemo``).

A session's state is replaced in one assignment at the end of a run, so an
analysis cancelled part-way (faces/lsp/engine.py) leaves the last good state.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

STEP = 12  # main-file lines between two snapshots


@dataclass
class _State:
    key: tuple
    lexed: object  # cpp.lexer.LexedFile of the main file's last text
    points: list  # [(cpp Snapshot, gas Snapshot)] in line order
    stamps: tuple  # (file, mtime, size) of every header read
    pp: object  # the last PPResult
    gas: object  # the last GasResult
    headers_size: int  # the largest header the last run read
    purged: frozenset  # ids of the GNU as macros `.purgem` had marked at its end
    n_lex: int  # the problems lexing the main file gave (they come first among its problems)


class _Rejoined(Exception):
    """Raised from the preprocessor's line hook: the run's state equals the
    last run's at the same place of an unchanged rest of the file."""


@dataclass
class Session:
    """Re-reading of one file under one set of options."""

    state: _State | None = None
    stats: dict = field(default_factory=lambda: {"full": 0, "resumed": 0, "rejoined": 0, "lines_skipped": 0,
                                                 "patched": 0})
    last: str = ""  # how the last run went: "full", "resumed at ...", "..., rejoined at ..."
    steps: object = None  # analysis.walking.StepMemo: the walk's steps, kept from run to run
    built: object = None  # program.patch.Built: the last program built, for the next edit's

    def expand(self, text: str, name: str, copts, gopts, key: tuple):
        """(PPResult, GasResult) of ``text`` as the file ``name``: what
        ``preprocess_text`` and ``gas.expand`` give, read from the last
        snapshot the edit left valid."""
        from entrylint.cpp.lexer import lex_file_once

        name = os.path.abspath(name)
        lexed = lex_file_once(text, name, keep=False)  # as the preprocessor lexes the file checked: the same object
        st = self.state
        if st is not None and st.key == key and st.points and _stamps(f for f, _, _ in st.stamps) == st.stamps:
            j = _resume_point(st, lexed)
            if j is not None:
                got = self._run(st, j, text, name, copts, gopts, key, lexed)
                if got is not None:
                    return got
        return self._run(None, None, text, name, copts, gopts, key, lexed)

    def _run(self, st: _State | None, j: int | None, text, name, copts, gopts, key, lexed):
        """Read ``text`` from the snapshot ``st.points[j]`` (None: from the
        start); where the rest of the file is the last text's rest and the
        state equals the last run's there, take the last run's output for it
        (an edit inside a line: the file is read up to the next snapshot)."""
        from entrylint.cpp.preprocessor import Preprocessor
        from entrylint.cpp.resume import resume, snapshot

        pp = Preprocessor(copts)
        start = st.points[j] if j is not None else None
        snaps: list = []
        last = start[0].idx if start else -STEP
        join: list = []  # [old point index] where the preprocessor rejoined the last run
        tail_at, shift, at_old, reloc = len(lexed.lines) + 1, 0, {}, None
        if start is not None:
            tail_at, shift, dl, moved_from = _common_tail(st.lexed.lines, lexed.lines)
            at_old = {cs.idx: k for k, (cs, _) in enumerate(st.points) if k > j}
            if dl and moved_from is not None:  # lines added or removed: the rest is the last run's, moved
                from entrylint.relocate import Relocate

                reloc = Relocate(name, moved_from, dl, shift, st.lexed.lines, st.gas)

        def at_line(p, f, included: bool = False):
            nonlocal last
            k = at_old.get(f.idx + shift) if f.idx >= tail_at else None
            if k is not None:
                old = st.points[k][0] if reloc is None else reloc.cpp_snapshot(st.points[k][0])
                if _cpp_same(p, f, old) and _within_lines(st, p) \
                        and (reloc is None or _may_move(st, st.points[k][0], text, p, reloc)):
                    join.append(k)
                    raise _Rejoined
            # every STEP lines, and past each header the file includes (an
            # edit just after one is read from there: 6.12's idtentry.h is
            # 15k statements of GNU as, 55 ms)
            if f.idx - last >= STEP or included:
                snaps.append(snapshot(p, f, peeks=not included))
                last = f.idx

        pp.at_line = at_line
        try:
            res = resume(pp, start[0], name, text) if start is not None else pp.run(name, text)
        except _Rejoined:
            res = _cpp_joined(pp, st, join[0], text, reloc)
        if res is None:
            return None
        g, points, gas_join = _gas(res, gopts, start, snaps, st, join[0] if join else None, pp, lexed, shift,
                                   reloc)
        kept = st.points[:j + 1] if start is not None else []
        self._keep(key, name, lexed, res, g, kept + points,
                   st.headers_size if join else pp.headers_size)
        if pp.cache.get(name) is not lexed:  # the preprocessor read another text (a line cut by a limit)
            self.state = None
        self.stats["full" if start is None else "resumed"] += 1
        self.last = "full" if start is None else f"resumed at logical line {start[0].idx}"
        if start is not None:
            self.stats["lines_skipped"] += start[0].idx
        if join:
            self.last += f", cpp rejoined at logical line {st.points[join[0]][0].idx - shift}"
        if gas_join is not None:
            self.stats["rejoined"] += 1
            self.last += f", GNU as at {st.points[gas_join][0].idx - shift}"
        return res, g

    def _keep(self, key, name, lexed, res, g, points, headers_size) -> None:
        purged = frozenset(id(i) for i in (*g.macros.values(), *g.purged) if i.purged)
        self.state = _State(key, lexed, points, _stamps(f for f in res.files if f != name), res, g,
                            headers_size, purged, len(lexed.problems))


def _gas(res, gopts, start, snaps: list, st, join: int | None, pp, lexed, shift: int, reloc=None):
    """Read the preprocessed lines from ``start``'s gas snapshot on (None:
    from the beginning), snapshotting between the pieces the cpp snapshots
    cut.  After the preprocessor rejoined the last run at old point ``join``,
    the pieces are the old points' (moved to the new output), and the reading
    stops at the first where the state equals the last run's: the rest of the
    statements are the last run's.  (result, points, the old point index
    where GNU as rejoined or None)  With ``reloc`` (lines added or removed
    before the place the preprocessor rejoined) the last run's statements and
    its snapshots after that place are taken moved.  (Until GNU as rejoins,
    the pieces it reads are cut at the last run's moved snapshots, and no
    snapshot is kept there: their states would hold the old places.)"""
    from entrylint.gas import resume as gas_resume
    from entrylint.gas.expander import Expander

    lines = res.lines
    e = Expander(gopts) if start is None else gas_resume.restore(start[1], gopts)
    points = []
    at = start[0].n_out if start is not None else 0
    for cs in snaps:
        e.feed(lines[at:cs.n_out])
        at = cs.n_out
        points.append((cs, gas_resume.snapshot(e)))
    if join is None:
        e.feed(lines[at:])
        return e.result(), points, None
    base = st.points[join][0]
    moved = _Moved(base, pp, lexed, res, shift)
    m = join
    while m < len(st.points):
        ocs, ogs = st.points[m]
        cs = moved.cpp(ocs)
        e.feed(lines[at:cs.n_out])
        at = cs.n_out
        g = ogs if reloc is None else reloc.gas_snapshot(ogs)
        changed = _changed_macros(e, g, ogs, st)
        d = _gas_delta(e, g, st.gas) if changed is not None else None
        if d is not None and (reloc is None or len(st.gas.problems) == ogs.n_problems):
            g = _gas_joined(e, st, ogs, reloc, d, changed)
            moved.gas_from(ogs, e, g, d)
            later = [(moved.cpp(c), moved.gas(x)) for c, x in st.points[m:]]
            later = later if reloc is None else reloc.points(later)
            points += [(c, _redefined(x, e, changed)) for c, x in later] if changed else later
            return g, points, m
        if reloc is None:
            points.append((cs, gas_resume.snapshot(e)))
            k = _skip_to(e, st, m, ogs)
            if k is not None:  # an edited .macro invoked further down: on to the last point before that
                e, snaps = _jump(e, st, m, k, gopts)
                points += [(moved.cpp(c), x) for (c, _), x in zip(st.points[m + 1:k + 1], snaps)]
                at, m = points[-1][0].n_out, k
        m += 1
    e.feed(lines[at:])
    return e.result(), points, None


def outcome(res) -> tuple:
    """What a check (api.CheckResult) of a text gives that the incremental
    reading must give as a run from the start does: the findings, the
    preprocessed lines, the statements, the problems, the macros (cpp's and
    GNU as's), the files read, the figures, the symbols, the program
    (program/patch.py makes an edit's from the last one) and what the walk
    records.
    tests/test_incremental.py, tools/incremental_check.py and tools/fuzz.py
    compare it."""
    an = res.analysis
    if an is None:
        return (res.findings,)
    exp, fw = an.expansion, an.forward
    return (res.findings, [(ln.text, ln.segments, ln.cond) for ln in exp.pp.lines], exp.gas.statements, exp.program,
            exp.problems, exp.pp.macros, exp.pp.files, exp.pp.peak, exp.gas.symbols, exp.gas.peak,
            exp.gas.macros, exp.gas.purged, exp.gas.invoked,
            # (in order: the rules read them in the order the walk made them)
            list(fw.before.items()), list(fw.after.items()), list(fw.events.items()), list(fw.pred.items()),
            list(fw.exit_state.items()), list(fw.kernel_returns.items()), fw.contexts, fw.steps, fw.truncated)


def _same_line(a, b, dl: int = 0) -> bool:
    """Lexed lines ``a`` (the last text's) and ``b`` are the same tokens at
    the same columns, ``a`` ``dl`` physical lines further down."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if x.text != y.text or x.ws != y.ws or x.kind != y.kind or (
                x.loc != y.loc if not dl else (x.loc[0], x.loc[1] - dl, x.loc[2]) != y.loc):
            return False
    return True


def _resume_point(st: _State, lexed) -> int | None:
    """The last snapshot whose lines before it, and (but past an #include
    line) the first non-empty line at or after it (what a macro name ending
    the line before peeks at), lex the same in the new text."""
    old, new = st.lexed.lines, lexed.lines
    n = min(len(old), len(new))
    d = 0
    while d < n and _same_line(old[d], new[d]):
        d += 1
    best = None
    for j, (cs, _) in enumerate(st.points):
        la = cs.idx
        while cs.peeks and la < len(old) and not old[la]:
            la += 1
        if la < d or not cs.peeks and la <= d:
            best = j
        else:
            break
    return best


def _common_tail(old: list, new: list) -> tuple[int, int, int, int | None]:
    """(the first line of ``new`` from which every line lexes as the line
    ``shift`` further in ``old`` -- same tokens at the same columns, each
    ``dl`` physical lines further --, ``shift``, ``dl``, the physical line of
    that first line in ``old``: where the places the last run's output holds
    start to move).  ``dl`` is read off the last lines with tokens: 0 for
    an edit inside a line, the lines added (negative) or removed else."""
    shift = len(old) - len(new)
    dl = 0
    for i in range(len(new) - 1, max(-1, -shift - 1), -1):
        a, b = old[i + shift], new[i]
        if a or b:
            if a and b and a[0].text == b[0].text and a[0].loc[0] == b[0].loc[0]:
                dl = a[0].loc[1] - b[0].loc[1]
            break
    k = len(new)
    while k > 0 and k + shift > 0 and _same_line(old[k - 1 + shift], new[k - 1], dl):
        k -= 1
    first = next((ln[0].loc[1] for ln in old[k + shift:] if ln), None)
    return k, shift, dl, first


def _may_move(st: _State, s, text: str, p, reloc) -> bool:
    """The last run's output after snapshot ``s`` may be taken with its places
    moved: it had no problems there (their messages may name places), no
    missing header or fallback, and no line number can be in it."""
    from entrylint.relocate import line_free

    old = st.pp
    return (len(old.problems) == _read_problems(s) + st.n_lex and len(old.missing) == s.n_missing
            and len(old.fallbacks) == s.n_fallbacks and line_free(old.macros, text, old.lines[s.n_out:]))


def _within_lines(st: _State, p) -> bool:
    """The lines the last run read, with the main file's counted as many
    as it has now, stay within cpp-lines (_cpp_joined's count)."""
    return st.pp.peak["cpp-lines"] + p.main_lines - len(st.lexed.lines) <= p.opts.limits.cpp_lines


def _groups_same(a: list, b: list) -> bool:
    return len(a) == len(b) and all(
        (x.parent, x.active, x.taken, x.else_seen, x.guard, x.conds, x.prior)
        == (y.parent, y.active, y.taken, y.else_seen, y.guard, y.conds, y.prior) for x, y in zip(a, b))


def _cpp_same(p, f, s) -> bool:
    """The preprocessor ``p`` (at the main file's line ``f.idx``) is in the
    state snapshot ``s`` holds: what it reads next gives what it gave then.
    (The file size, a figure only, is left out: the main file's differs.)"""
    return (p.counter == s.counter and p.exp.count == s.exp_count and p.exp.deepest == s.exp_deepest
            and p.limit_hit == s.limit_hit and p.headers_size == s.headers_size and p.cond == s.cond
            and f.guard == s.guard and _groups_same(f.groups, s.groups)
            and {k: v for k, v in p.peak.items() if k != "file-size"}
            == {k: v for k, v in s.peak.items() if k != "file-size"}
            and p.cache.keys() == s.cache.keys() and p.files == s.files[:s.n_files]
            and _macros_same(p.macros, s.macros))


def _macros_same(a: dict, b: dict) -> bool:
    """The same macro table: each macro the same object, or one compiled from
    an equal ``#define`` (same text at the same place: a line read again)."""
    if len(a) != len(b):
        return False
    for name, m in a.items():
        o = b.get(name)
        if o is not m and (o is None or o.builtin != m.builtin or o.defn != m.defn):
            return False
    return True


def _cpp_joined(p, st: _State, k: int, text: str, reloc=None):
    """The result of ``p``'s run: its output so far, then the last run's from
    snapshot ``k`` on (``reloc``: moved to the lines of ``text``)."""
    from entrylint.cpp.preprocessor import PPResult

    s, old = st.points[k][0], st.pp
    peak = dict(old.peak)
    peak["file-size"] = max(st.headers_size, len(text))
    # the main file's logical lines counted as many as it has now: the last
    # run's differ by the lines added or removed, or by a line continuation
    # or comment across lines changed in place (the snapshot rejoined may be
    # an older run's, that had as many lines as now: tests/test_incremental.py)
    peak["cpp-lines"] += p.main_lines - len(st.lexed.lines)
    lines, macros = old.lines[s.n_out:], old.macros
    if reloc is not None:
        lines, macros = reloc.pp_lines(lines), reloc.cpp_macros(macros)
    return PPResult(p.out + lines, p.problems + old.problems[_read_problems(s) + st.n_lex:], macros,
                    list(old.files), p.missing + old.missing[s.n_missing:],
                    p.fallbacks + old.fallbacks[s.n_fallbacks:], peak)


def _read_problems(s) -> int:
    """The problems before snapshot ``s`` other than the main file's lexing
    ones, which come first and depend on all of its text: the same for every
    text with the same lines before ``s`` (``s`` may come from an older run)."""
    return s.n_problems - s.before_main[1]


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


def _changed_macros(e, g, og, st: _State, later: bool = False) -> frozenset | None:
    """The macros (lower-cased names) whose definitions in the GNU as loop
    ``e`` differ from the last run's at its snapshot ``g`` (``og``: the same
    before its places were moved), where the last run's rest neither invokes,
    redefines nor purges one of them: its statements are then what ``e``
    makes of the rest (an edit inside a ``.macro`` body whose invocations
    all come before the place -- entry_64.S's idtentry macros, invoked by
    the ``#include <asm/idtentry.h>`` under them).  None where one is
    defined on one side only, or the rest reads one; empty where the
    tables are the same.  ``later``: the rest may invoke them (_skip_to)."""
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
    if not later and not changed.isdisjoint(old.invoked[og.n_invoked:]):
        return None
    return changed


def _skip_to(e, st: _State, m: int, og) -> int | None:
    """Where the reading at old point ``m`` (its GNU as snapshot ``og``)
    can go on from instead: the last point before the next invocation of a
    macro it defines otherwise than the last run (an edit in a ``.macro``
    body invoked further down), when that is past this one and
    nothing else differs.  The lines up to there are the last run's, read
    in the same state but for that macro, which they do not invoke: they
    give the last run's statements (_jump).  None: read on."""
    g = st.points[m][1]
    changed = _changed_macros(e, g, og, st, later=True)
    if not changed or _gas_delta(e, g, st.gas) is None:
        return None
    old = st.gas
    at = next((i for i in range(og.n_invoked, len(old.invoked)) if old.invoked[i] in changed), None)
    if at is None:
        return None
    k = m
    while k + 1 < len(st.points) and st.points[k + 1][1].n_invoked <= at:
        k += 1
    return k if k > m else None


def _jump(e, st: _State, m: int, k: int, gopts):
    """A reading loop at old point ``k``, from ``e`` at old point ``m``: the
    last run's statements, problems and invocations between the two added to
    ``e``'s, its state at ``k`` but for the macros ``e`` defines otherwise
    and the counts ``e`` read more or less before (_gas_delta); and the GNU
    as snapshots of the points after ``m`` up to ``k``, so made."""
    from dataclasses import replace

    from entrylint.gas import resume as gas_resume

    old, g, h = st.gas, st.points[m][1], st.points[k][1]
    dw, di, db = _gas_delta(e, g, old)
    changed = _changed_macros(e, g, g, st, later=True)
    out = e.out + old.statements[g.n_out:h.n_out]
    problems = e.problems + old.problems[g.n_problems:h.n_problems]
    invoked = e.invoked + old.invoked[g.n_invoked:h.n_invoked]
    no, np, ni = len(e.out) - g.n_out, len(e.problems) - g.n_problems, len(e.invoked) - g.n_invoked
    snaps = [replace(_redefined(x, e, changed), out=out, n_out=x.n_out + no, problems=problems,
                     n_problems=x.n_problems + np, invoked=invoked, n_invoked=x.n_invoked + ni, work=x.work + dw,
                     insns=x.insns + di, bytes=x.bytes + db) for _, x in st.points[m + 1:k + 1]]
    return gas_resume.restore(snaps[-1], gopts), snaps


def _redefined(s, e, changed: frozenset):
    """GNU as snapshot ``s`` of the last run (after the place this run
    rejoined it) with the ``changed`` macros as ``e`` defines them."""
    from dataclasses import replace

    macros, all_macros = dict(s.macros), dict(s.all_macros)
    for k in changed:
        macros[k] = all_macros[k] = e.macros[k]
    return replace(s, macros=macros, all_macros=all_macros)


def _gas_joined(e, st: _State, g, reloc=None, d=(0, 0, 0), changed=frozenset()):
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
    output before them differs in length)."""

    def __init__(self, base, pp, lexed, res, shift: int):
        self.base, self.res, self.shift = base, res, shift
        self.n_out, self.n_problems = len(pp.out), len(pp.problems)
        self.n_missing, self.n_fallbacks = len(pp.missing), len(pp.fallbacks)
        self.before_main = (pp.before_main, len(lexed.problems))
        self.g = None

    def cpp(self, s):
        from dataclasses import replace

        b = self.base
        return replace(s, idx=s.idx - self.shift, out=self.res.lines, n_out=s.n_out - b.n_out + self.n_out,
                       problems=self.res.problems,
                       n_problems=_read_problems(s) - _read_problems(b) + self.n_problems,
                       files=self.res.files, missing=self.res.missing,
                       n_missing=s.n_missing - b.n_missing + self.n_missing, fallbacks=self.res.fallbacks,
                       n_fallbacks=s.n_fallbacks - b.n_fallbacks + self.n_fallbacks, before_main=self.before_main)

    def gas_from(self, g, e, result, d) -> None:
        self.g, self.g_out, self.g_problems, self.result, self.d = g, len(e.out), len(e.problems), result, d
        self.g_invoked = len(e.invoked)

    def gas(self, s):
        from dataclasses import replace

        dw, di, db = self.d
        return replace(s, out=self.result.statements, n_out=s.n_out - self.g.n_out + self.g_out,
                       problems=self.result.problems, n_problems=s.n_problems - self.g.n_problems + self.g_problems,
                       work=s.work + dw, insns=s.insns + di, bytes=s.bytes + db, invoked=self.result.invoked,
                       n_invoked=s.n_invoked - self.g.n_invoked + self.g_invoked)


def _stamps(files) -> tuple:
    out = []
    for f in files:
        try:
            s = os.stat(f)
            out.append((f, s.st_mtime_ns, s.st_size))
        except OSError:
            out.append((f, None, None))
    return tuple(out)


class Sessions:
    """One session per (file, options): what ``api.expand(..., incremental=)`` takes."""

    def __init__(self, size: int = 8):
        self._by: dict[tuple, Session] = {}
        self._size = size

    def session(self, path: Path, options) -> tuple[Session, tuple]:
        key = (str(Path(path).resolve()), repr(options))
        s = self._by.pop(key, None) or Session()
        self._by[key] = s  # most recent last
        while len(self._by) > self._size:
            self._by.pop(next(iter(self._by)))
        return s, key

    def step_memo(self, path: Path, options):
        """The walk's steps kept for the file under ``options`` (walking.StepMemo)."""
        from entrylint.analysis.walking import StepMemo

        s, _ = self.session(path, options)
        if s.steps is None:
            s.steps = StepMemo()
        return s.steps

    def program(self, path: Path, options, statements, macros, constants, decoder, mode: int, build):
        """(program, problems) of ``statements``: the last one's of the file
        under ``options`` made again where the edit allows it
        (program.patch), else ``build()``'s."""
        from entrylint.program.patch import built, patched

        s, _ = self.session(path, options)
        got = patched(s.built, statements, macros, constants, decoder, mode)
        if got is None:
            got = build()
        else:
            s.stats["patched"] += 1
            s.last += ", the program made from the last one"
        s.built = built(statements, got[0], got[1], macros, constants, decoder, mode)
        return got

    def expand(self, path: Path, options, text: str, name: str, copts, gopts):
        s, key = self.session(path, options)
        try:
            # what the check's earlier profiles spent of the budgets is part of
            # the state's key: a snapshot's counters include it
            return s.expand(text, name, copts, gopts, (*key, copts.spent, gopts.spent))
        except Exception:  # noqa: BLE001 - never worse than a run from the start: that one, without the state
            from entrylint.cpp import preprocess_text
            from entrylint.gas import expand as gas_expand

            s.state, s.last = None, "from the start (the incremental reading failed)"
            pp = preprocess_text(text, name, copts)
            return pp, gas_expand(pp.lines, gopts)
