"""Resuming a preprocessor run part-way through its main file.

The state of a run after a text line of its main file (the macro table, the
open ``#if`` groups and their condition, what was output so far) depends only
on the headers read and on the main file's lines up to there.  A snapshot of
it lets a run of an edited text skip everything before the first line the
edit changed: the implicit headers, the ``#include``s at the top and the
unchanged lines.  ``entrylint/incremental.py`` decides when a snapshot may be
used (the lines before it, and the one a macro name at their end peeked at,
unchanged; the headers unchanged on disk); this module only takes and
restores the state, next to the internals it copies.

The output lists (lines, problems, files read) only grow during a run, so a
snapshot keeps the run's own lists with their lengths, and a resumed run
starts from copies cut at those lengths.
"""

from __future__ import annotations


from entrylint.cpp.conditionals import Group
from entrylint.cpp.preprocessor import Preprocessor, PPResult, _File
from entrylint.source import Location, ProblemKind
from entrylint.source.record import data


@data
class Snapshot:
    """A run's state after a text line of its main file."""

    idx: int  # the main file's next (logical) line
    macros: dict
    groups: list  # the main file's open #if groups (copies)
    cond: tuple
    guard: object  # the main file's include guard (a resumed text must have the same)
    out: list
    n_out: int
    problems: list
    n_problems: int
    files: list
    n_files: int
    missing: list
    n_missing: int
    fallbacks: list
    n_fallbacks: int
    counter: int
    exp_count: int
    exp_deepest: int
    peak: dict
    limit_hit: bool
    cache: dict  # the files lexed so far (a header read again later must give its problems again)
    headers_size: int  # the largest file read other than the main file
    before_main: tuple  # (problems before the main file, problems lexing the main file gave)
    main_lines: int = 0  # the lines of the main file counted for cpp-lines (the run counts them as it starts it)
    # whether the state depends on the next non-empty line too: after a text
    # line, a function-like macro name ending it has peeked there for its
    # "("; after an #include line nothing has
    peeks: bool = True

    def problems_read(self) -> int:
        """The problems before this snapshot other than the main file's
        lexing ones, which come first and depend on all of its text: the
        same for every text with the same lines before it (the snapshot may
        be an older run's)."""
        return self.n_problems - self.before_main[1]


def _copy_group(g: Group) -> Group:
    c = Group(g.parent, g.guard)
    c.active, c.taken, c.else_seen, c.conds, c.prior, c.outer = g.active, g.taken, g.else_seen, g.conds, g.prior, \
        g.outer
    return c


def snapshot(pp: Preprocessor, f: _File, peeks: bool = True) -> Snapshot:
    """The state of ``pp`` after a text or ``#include`` line of its main file ``f`` (called from ``Preprocessor.at_line``)."""
    return Snapshot(f.idx, dict(pp.macros), [_copy_group(g) for g in f.groups], pp.cond, f.guard,
                    pp.out, len(pp.out), pp.problems, len(pp.problems), pp.files, len(pp.files),
                    pp.missing, len(pp.missing), pp.fallbacks, len(pp.fallbacks), pp.counter,
                    pp.exp.count, pp.exp.deepest, dict(pp.peak), pp.limit_hit, dict(pp.cache), pp.headers_size,
                    (pp.before_main, len(pp.cache[pp.main].problems)), pp.main_lines, peeks)


def resume(pp: Preprocessor, s: Snapshot, main: str, text: str) -> PPResult | None:
    """Run ``text`` as the main file on a fresh ``pp`` (same options as the
    run ``s`` was taken in), from that state on: its lines from ``s.idx``.
    None when the text cannot be resumed there (its include guard differs,
    the file-size or line-length limit cut it, it is shorter)."""
    pp.main = main
    at, n_lex = s.before_main
    pp.macros.clear()  # the expander holds this dict
    pp.macros.update(s.macros)
    pp.out, pp.problems = s.out[:s.n_out], s.problems[:at]
    pp.files, pp.missing, pp.fallbacks = s.files[:s.n_files], s.missing[:s.n_missing], s.fallbacks[:s.n_fallbacks]
    pp._seen_files = set(pp.files)
    pp.counter, pp.exp.count, pp.exp.deepest = s.counter, s.exp_count, s.exp_deepest
    pp.peak, pp.limit_hit, pp.cache = dict(s.peak), s.limit_hit, dict(s.cache)
    pp.peak["file-size"] = pp.headers_size = s.headers_size
    pp.cache.pop(main, None)
    pp.before_main = at
    n_problems = len(pp.problems)
    lexed = pp._lex(main, text)
    if lexed is None or len(pp.problems) - n_problems != len(lexed.problems) or len(lexed.lines) < s.idx:
        return None  # a limit cut the text: read it from the start
    f = _File(main, lexed, (), None)
    if f.guard != s.guard:
        return None
    before = s.peak["cpp-lines"] - s.main_lines  # what the run had read when it started the main file
    if before + len(f.lines) > pp.opts.limits.cpp_lines:
        return None  # the cpp-lines limit cuts the text: read it from the start
    pp.peak["cpp-lines"], pp.main_lines = before + len(f.lines), len(f.lines)
    pp.problems += s.problems[at + n_lex:s.n_problems]
    f.idx, f.groups, pp.cond = s.idx, [_copy_group(g) for g in s.groups], s.cond
    pp.stack.append(f)
    try:  # the rest of Preprocessor.run_file's loop
        while True:
            toks = pp._next_line(f, False)
            if toks is None:
                break
            pp._expand_line(f, toks)
            if pp.at_line is not None:
                pp.at_line(pp, f)
        if f.groups:
            pp.problem(ProblemKind.UNBALANCED_BLOCK, "unterminated conditional directive",
                       Location(main, len(lexed.lines), 1))
    finally:
        pp.stack.pop()
        pp.cond = ()
    return pp._result()
