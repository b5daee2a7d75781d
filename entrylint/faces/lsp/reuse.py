"""What an edit can affect: an edit that changes no code (a comment, blank
lines, a suppression) cannot change what cpp, GNU as and the analysis see
except for line numbers.  Such an edit reuses the previous analysis: its
findings move to their new lines and the suppressions of the new text are
applied again; the analysis (for hover, hints) is kept with a line map.

The code of a file is its *skeleton*: every line with its comments removed
and its trailing blanks cut, blank results left out, each with its line
number.  Two texts with equal skeleton code (in order) differ only in
comments and blank lines.  A comment *before* code on a line is kept in the
skeleton (removing it would move the code's column).
"""

from __future__ import annotations

from dataclasses import replace

from entrylint.source import Location


def skeleton(text: str) -> list[tuple[int, str]]:
    """(1-based line, code) for every line that holds code.  Comments are
    ``/* */`` (a ``#`` at the start of a line is a cpp directive: code); a
    ``/*`` inside a string literal is taken as a comment, which can only make
    a reuse miss, never a wrong one (the code left is compared exactly)."""
    out = []
    in_comment = False
    for n, line in enumerate(text.splitlines(), 1):
        pieces, i, after_comment = [], 0, False
        while i <= len(line):
            if in_comment:
                end = line.find("*/", i)
                if end < 0:
                    break
                in_comment, i, after_comment = False, end + 2, True
                continue
            start = line.find("/*", i)
            piece = line[i:] if start < 0 else line[i:start]
            if after_comment and piece.strip():
                pieces = None  # code after a comment: the comment moves its column
                break
            pieces.append(piece)
            if start < 0:
                break
            in_comment, i = True, start + 2
        code = line.rstrip() if pieces is None else "".join(pieces).rstrip()
        if code.strip():
            out.append((n, code))
    return out


def line_map(old_text: str, new_text: str, a: list | None = None, b: list | None = None) -> dict[int, int] | None:
    """old line -> new line for every code line, when the two texts have the
    same code (None when an edit changed code).  ``a``, ``b``: their
    skeletons, when made before (the language server compares a new text
    with several older ones)."""
    a = skeleton(old_text) if a is None else a
    b = skeleton(new_text) if b is None else b
    if len(a) != len(b) or any(x[1] != y[1] for x, y in zip(a, b)):
        return None
    return {x[0]: y[0] for x, y in zip(a, b)}


def _move(loc: Location | None, file: str, moved: dict[int, int]) -> Location | None:
    if loc is None or loc.file != file:
        return loc
    new = moved.get(loc.line)
    if new is None:
        raise KeyError(loc.line)
    return Location(loc.file, new, loc.col)


def move_findings(findings, file: str, moved: dict[int, int]):
    """The findings with their lines in ``file`` moved; None when one sits on a
    line that is not code (nothing to move it with)."""
    out = []
    try:
        for f in findings:
            out.append(replace(
                f, location=_move(f.location, file, moved),
                trace=tuple(replace(t, location=_move(t.location, file, moved)) for t in f.trace),
                path=tuple(replace(s, location=_move(s.location, file, moved)) for s in f.path),
                sites=tuple(_move(s, file, moved) for s in f.sites),
                later=tuple(_move(s, file, moved) for s in f.later)))
    except KeyError:
        return None
    return out
