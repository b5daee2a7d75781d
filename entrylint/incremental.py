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
from dataclasses import field
from pathlib import Path

from entrylint import rejoin
from entrylint.source.reader import stamps
from entrylint.source.record import data

STEP = 12  # main-file lines between two snapshots


@data
class _State:
    key: tuple
    lexed: object  # cpp.lexer.LexedFile of the main file's last text
    points: list  # [(cpp Snapshot, gas Snapshot)] in line order
    marks: list  # [(output position, gas Snapshot)] inside long pieces (rejoin.py), in order
    stamps: tuple  # (file, mtime, size) of every header read
    pp: object  # the last PPResult
    gas: object  # the last GasResult
    headers_size: int  # the largest header the last run read
    purged: frozenset  # ids of the GNU as macros `.purgem` had marked at its end
    n_lex: int  # the problems lexing the main file gave (they come first among its problems)


class _Rejoined(Exception):
    """Raised from the preprocessor's line hook: the run's state equals the
    last run's at the same place of an unchanged rest of the file."""


@data
class Session:
    """Re-reading of one file under one set of options."""

    state: _State | None = None
    stats: dict = field(default_factory=lambda: {"full": 0, "resumed": 0, "rejoined": 0, "lines_skipped": 0,
                                                 "patched": 0, "moved": 0})
    last: str = ""  # how the last run went: "full", "resumed at ...", "..., rejoined at ..."
    steps: object = None  # analysis.walking.StepMemo: the walk's steps, kept from run to run
    built: object = None  # program.patch.Built: the last program built, for the next edit's
    analysis: object = None  # analysis.carry.Carried: of the last analysis, what the next edit's takes

    def step_memo(self):
        """``steps``, made on first use."""
        if self.steps is None:
            from entrylint.analysis.walking import StepMemo

            self.steps = StepMemo()
        return self.steps

    def expand(self, text: str, name: str, copts, gopts, key: tuple):
        """(PPResult, GasResult) of ``text`` as the file ``name``: what
        ``preprocess_text`` and ``gas.expand`` give, read from the last
        snapshot the edit left valid."""
        from entrylint.cpp.lexer import lex_file_once

        name = os.path.abspath(name)
        lexed = lex_file_once(text, name, keep=False)  # as the preprocessor lexes the file checked: the same object
        st = self.state
        if st is not None and st.key == key and st.points and stamps(f for f, _, _ in st.stamps) == st.stamps:
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
        g, points, marks, gas_join = rejoin.read(res, gopts, start, snaps, st, join[0] if join else None, pp, lexed,
                                                 shift, reloc)
        kept = st.points[:j + 1] if start is not None else []
        kept_marks = [(n, x) for n, x in st.marks if n <= start[0].n_out] if start is not None else []
        self._keep(key, name, lexed, res, g, kept + points, kept_marks + marks,
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

    def _keep(self, key, name, lexed, res, g, points, marks, headers_size) -> None:
        purged = frozenset(id(i) for i in (*g.macros.values(), *g.purged) if i.purged)
        self.state = _State(key, lexed, points, marks, stamps(f for f in res.files if f != name), res, g,
                            headers_size, purged, len(lexed.problems))


def outcome(res) -> tuple:
    """What a check (api.CheckResult) of a text gives that the incremental
    reading must give as a run from the start does: the findings, the
    preprocessed lines, the statements, the problems, the macros (cpp's and
    GNU as's), the files read, the figures, the symbols, the program
    (program/patch.py makes an edit's from the last one), the CFG's edges,
    the call structure, liveness and the flags' defs (an analysis of a
    patched program takes them from the last one: analysis/carry.py) and what
    the walk records.
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
            list(fw.exit_state.items()), list(fw.kernel_returns.items()),
            sorted((k, sorted(v)) for k, v in fw.frame_returns.items()), fw.contexts, fw.steps, fw.truncated,
            [an.cfg.succ(v) for v in range(an.cfg.n + len(an.program.forks))], an.procedures,
            an.liveness and (an.liveness.live_in, an.liveness.live_out), an.flags and an.flags.before)


def _same_line(a, b, dl: int = 0) -> bool:
    """Lexed lines ``a`` (the last text's) and ``b`` are the same tokens at
    the same columns, ``a`` ``dl`` physical lines further down."""
    if a is b:  # (a line the lexer took from the last text: cpp/lexer.py relex)
        return not dl
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
    return (len(old.problems) == s.problems_read() + st.n_lex and len(old.missing) == s.n_missing
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
    (The file size, a figure only, is left out: the main file's differs;
    the lines read are compared without the main file's, which the run
    counts as it starts it: a snapshot kept from an older run counted the
    lines the file had then.)"""
    return (p.counter == s.counter and p.exp.count == s.exp_count and p.exp.deepest == s.exp_deepest
            and p.limit_hit == s.limit_hit and p.headers_size == s.headers_size and p.cond == s.cond
            and f.guard == s.guard and _groups_same(f.groups, s.groups)
            and _figures(p.peak, p.main_lines) == _figures(s.peak, s.main_lines)
            and p.cache.keys() == s.cache.keys() and p.files == s.files[:s.n_files]
            and _macros_same(p.macros, s.macros))


def _figures(peak: dict, main_lines: int) -> dict:
    """A preprocessor's figures but the file size, its cpp-lines without the main file's."""
    out = {k: v for k, v in peak.items() if k != "file-size"}
    out["cpp-lines"] -= main_lines
    return out


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
    return PPResult(p.out + lines, p.problems + old.problems[s.problems_read() + st.n_lex:], macros,
                    list(old.files), p.missing + old.missing[s.n_missing:],
                    p.fallbacks + old.fallbacks[s.n_fallbacks:], peak)


class Sessions:
    """One session per (file, options): what ``api.expand(..., incremental=)`` takes."""

    def __init__(self, size: int = 8):
        self._by: dict[tuple, Session] = {}
        self._size = size
        self._held: list = []  # what the sessions held before the last check (hold())

    def hold(self) -> None:
        """Keep what every session holds now alive past the check about to
        replace it, until ``release()``: the last analysis of a file is tens
        of thousands of records, and freeing them one by one as the check
        replaces them cost 5 ms of a 100 ms re-analysis of 6.12's
        entry_64.S.  The language server frees them after it has published
        the check's diagnostics (faces/lsp/engine.py); a caller that does not
        frees them here, at its next check."""
        self.release()
        self._held = [list(vars(s).values()) + (list(vars(s.steps).values()) if s.steps is not None else [])
                      for s in self._by.values()]

    def release(self) -> None:
        """Free what ``hold()`` kept (what the last check replaced)."""
        self._held = []

    def session(self, path: Path, options) -> tuple[Session, tuple]:
        key = (str(Path(path).resolve()), repr(options))
        s = self._by.pop(key, None) or Session()
        self._by[key] = s  # most recent last
        while len(self._by) > self._size:
            self._by.pop(next(iter(self._by)))
        return s, key

    def program(self, path: Path, options, statements, macros, constants, decoder, mode: int, build):
        """(program, problems) of ``statements``: the last one's of the file
        under ``options`` made again where the edit allows it
        (program.patch: instructions retyped; program.shift: lines put in,
        taken out or moved), else ``build()``'s."""
        from entrylint.program.patch import built, patched
        from entrylint.program.shift import moved

        s, _ = self.session(path, options)
        for make, kind, how in ((patched, "patched", "made"), (moved, "moved", "moved")):
            got = make(s.built, statements, macros, constants, decoder, mode)
            if got is not None:
                s.stats[kind] += 1
                s.last += f", the program {how} from the last one"
                plain = True  # (as plain as the last one: it changed plain instructions only)
                break
        else:
            got, plain = build(), None
        s.built = built(statements, got[0], got[1], macros, constants, decoder, mode, plain=plain)
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
