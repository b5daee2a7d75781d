"""What the preprocessor hands to the GNU as layer.

A ``PPLine`` is one logical output line.  Its ``segments`` map each column of
``text`` back to the place in the source it came from: plain text maps to
itself; the output of a macro invocation maps to the invocation's name token
(the line a reviewer sees) and records the chain of cpp macros expanded.
Its ``cond`` is the presence condition: every ``#if`` branch around it.
"""

from __future__ import annotations

from bisect import bisect_right
from operator import attrgetter

from entrylint.source import Location
from entrylint.source.record import data, record

_COL = attrgetter("col")


@data(frozen=True, slots=True)
class Cond:
    """One ``#if``-family branch around a line.  ``text`` is the controlling
    expression as written (comments removed, continuations joined; for
    ``#ifdef X`` it is ``defined(X)``); ``taken`` says whether the line sits
    where ``text`` is true (``#if`` side) or false (``#else`` side).  A line in
    an ``#elif`` branch carries one Cond per earlier branch (false) plus its own
    (true)."""

    text: str
    taken: bool
    location: Location

    def __str__(self) -> str:
        return self.text if self.taken else f"!({self.text})"


Condition = tuple[Cond, ...]  # a conjunction; () is "always"


@record
class Segment:
    col: int  # 0-based column in PPLine.text where this segment starts
    origin: Location  # where the characters come from (invocation site for macro output)
    macros: tuple[str, ...] = ()  # cpp macros expanded to produce them, outermost first


@record
class PPLine:
    text: str
    segments: tuple[Segment, ...]  # sorted by col; the first starts at col 0
    cond: Condition = ()

    @property
    def origin(self) -> Location:
        return self.segments[0].origin

    def segment_at(self, col: int) -> Segment:
        """The segment that covers column ``col`` (0-based): the last one that
        starts at or before it (a binary search: a line one macro expands
        to many statements has hundreds of segments, each statement asks)."""
        segs = self.segments
        k = bisect_right(segs, col, key=_COL)
        return segs[k - 1] if k else segs[0]


def line_conditions(lines) -> list[Cond]:
    """Every Cond on the lines, once, each line's from the innermost out.

    By identity, and without reading a line's conditions past one already
    seen: while a Cond is open, everything outside it on a line (the
    including files' conditions, the enclosing groups', the earlier
    branches of its own group) is the same objects, so a Cond seen before
    has had its outer ones seen with it.  A header nested 200 deep puts 200
    Conds on each of its lines; reading them all cost seconds."""
    seen: dict[int, Cond] = {}
    for cond in {id(ln.cond): ln.cond for ln in lines}.values():
        for c in reversed(cond):
            if id(c) in seen:
                break
            seen[id(c)] = c
    return list(seen.values())


def plain_lines(text: str, file: str) -> list[PPLine]:
    """Lines of ``text`` as if preprocessed with nothing to do (for tests of the
    layers above cpp, and for input that is already preprocessed)."""
    return [PPLine(line, (Segment(0, Location(file, i, 1)),), ())
            for i, line in enumerate(text.split("\n"), 1)]
