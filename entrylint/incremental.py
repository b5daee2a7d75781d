"""Incremental re-reading of a file being edited (the language server's path).

An edit changes the main file from some line on; everything the
preprocessor and GNU as did before that line is the same as in the last run:
the headers read (the implicit ones and the ``#include``s at the top), the
macro table, the open ``#if`` groups, the ``.macro`` definitions, the symbol
values, ``\\@``.  A ``Session`` keeps, for the last text it read, snapshots of
the preprocessor (``cpp/resume.py``) and of the GNU as reading loop
(``gas/resume.py``) every ``STEP`` lines of the main file, and reads an
edited text from the last snapshot before the first line that changed:

* the lines before the snapshot, and the line a function-like macro name at
  their end peeked at for its ``(``, must lex to the same tokens (the same
  text, at the same lines and columns);
* the headers the last run read must be unchanged on disk (their stamps);
* the options (profile, include paths, defines, limits) are part of the
  session's key.

What comes out is what a run from the start gives (tests/test_incremental.py
and tools/incremental_check.py compare the two, findings and all).  The
stages after the expansion (program, CFG, walk, rules) run in full.

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


@dataclass
class Session:
    """Re-reading of one file under one set of options."""

    state: _State | None = None
    stats: dict = field(default_factory=lambda: {"full": 0, "resumed": 0, "lines_skipped": 0})
    last: str = ""  # how the last run went: "full" or "resumed at line N"

    def expand(self, text: str, name: str, copts, gopts, key: tuple):
        """(PPResult, GasResult) of ``text`` as the file ``name``: what
        ``preprocess_text`` and ``gas.expand`` give, read from the last
        snapshot the edit left valid."""
        from entrylint.cpp.lexer import lex_file_once

        name = os.path.abspath(name)
        lexed = lex_file_once(text, name)
        st = self.state
        if st is not None and st.key == key and st.points and _stamps(f for f, _, _ in st.stamps) == st.stamps:
            j = _resume_point(st, lexed)
            if j is not None:
                got = self._resumed(st, j, text, name, copts, gopts, key, lexed)
                if got is not None:
                    return got
        return self._full(text, name, copts, gopts, key, lexed)

    def _full(self, text, name, copts, gopts, key, lexed):
        from entrylint.cpp.preprocessor import Preprocessor

        pp = Preprocessor(copts)
        snaps = _snapshots(pp, -STEP)
        res = pp.run(name, text)
        g, points = _gas(res.lines, gopts, None, 0, snaps)
        self._keep(key, name, lexed, res, points)
        self.stats["full"] += 1
        self.last = "full"
        return res, g

    def _resumed(self, st: _State, j: int, text, name, copts, gopts, key, lexed):
        from entrylint.cpp.preprocessor import Preprocessor
        from entrylint.cpp.resume import resume

        cs, gs = st.points[j]
        pp = Preprocessor(copts)
        snaps = _snapshots(pp, cs.idx)
        res = resume(pp, cs, name, text)
        if res is None:
            return None
        g, points = _gas(res.lines, gopts, gs, cs.n_out, snaps)
        self._keep(key, name, lexed, res, st.points[:j + 1] + points)
        self.stats["resumed"] += 1
        self.stats["lines_skipped"] += cs.idx
        self.last = f"resumed at logical line {cs.idx}"
        return res, g

    def _keep(self, key, name, lexed, res, points) -> None:
        self.state = _State(key, lexed, points, _stamps(f for f in res.files if f != name))


def _snapshots(pp, last: int) -> list:
    """Hook ``pp`` to take a snapshot every STEP lines of its main file after line ``last``."""
    from entrylint.cpp.resume import snapshot

    snaps: list = []
    at = [last]

    def at_line(p, f):
        if f.idx - at[0] >= STEP:
            snaps.append(snapshot(p, f))
            at[0] = f.idx

    pp.at_line = at_line
    return snaps


def _gas(lines, gopts, start, n0: int, snaps: list):
    """Read ``lines`` from ``n0`` on (from the state ``start``, else from the
    beginning), snapshotting between the pieces the cpp snapshots cut."""
    from entrylint.gas import resume as gas_resume
    from entrylint.gas.expander import Expander

    e = Expander(gopts) if start is None else gas_resume.restore(start, gopts)
    points = []
    at = n0
    for cs in snaps:
        e.feed(lines[at:cs.n_out])
        at = cs.n_out
        points.append((cs, gas_resume.snapshot(e)))
    e.feed(lines[at:])
    return e.result(), points


def _same_line(a, b) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if x.text != y.text or x.loc != y.loc or x.ws != y.ws or x.kind != y.kind:
            return False
    return True


def _resume_point(st: _State, lexed) -> int | None:
    """The last snapshot whose lines before it, and the first non-empty line
    at or after it (what a macro name ending the line before peeks at), lex
    the same in the new text."""
    old, new = st.lexed.lines, lexed.lines
    n = min(len(old), len(new))
    d = 0
    while d < n and _same_line(old[d], new[d]):
        d += 1
    best = None
    for j, (cs, _) in enumerate(st.points):
        la = cs.idx
        while la < len(old) and not old[la]:
            la += 1
        if la < d:
            best = j
        else:
            break
    return best


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

    def expand(self, path: Path, options, text: str, name: str, copts, gopts):
        s, key = self.session(path, options)
        return s.expand(text, name, copts, gopts, key)
