"""A preprocessed line as gcc -E prints it, from the tokens the expander
gave, with where each part of it comes from."""

from __future__ import annotations

from entrylint.cpp.lexer import PAD
from entrylint.cpp.spelling import avoid_paste
from entrylint.cpp.types import PPLine, Segment
from entrylint.source import Location


def location(locs: dict, key: tuple) -> Location:
    """The Location of a token's place ``key`` (file, line, col): one object
    per place, kept in ``locs`` (the preprocessor's)."""
    got = locs.get(key)
    if got is None:
        got = locs[key] = Location(*key)
    return got


def render(out, cond, locs: dict) -> PPLine | None:
    """The line gcc -E prints for the expanded tokens ``out`` (spaced as
    gcc -E spaces them: libcpp's padding and cpp_avoid_paste), with the
    segments that say where each run of its characters comes from
    (``locs``: the preprocessor's Location of each token place, looked up
    here without a call: a line of a crypto file's macros starts a segment
    every other token).  The expander
    stamps a macro's output with one (loc, chain) pair of objects, so a run
    of it is told by identity before equality."""
    text: list[str] = []
    put = text.append
    segs: list[Segment] = []
    col = 0
    # the last segment's key: kind 1 (loc, chain) of macro output, kind 2
    # (file, line, col0 - textcol) of a plain run
    seg_kind, seg_loc, seg_chain, seg_file, seg_line, seg_off = 0, None, None, None, 0, 0
    prev = None
    ploc = pchain = None
    source = None
    avoid = False
    for t in out:
        if t.kind == PAD:
            avoid = True
            if source is None or (not source.ws and t.src is None):
                source = t.src
            continue
        loc, chain = t.loc, t.chain
        if prev is None:
            pad = loc[2] - 1 if loc else 0
        else:
            if avoid:
                space = (t if source is None else source).ws or avoid_paste(prev, t)
            else:
                space = t.ws
            if not space:
                pad = 0
            elif not chain and not pchain and loc and ploc and loc[1] == ploc[1] and loc[0] == ploc[0]:
                pad = max(1, loc[2] - ploc[2] - len(prev.text))
            else:
                pad = 1
        avoid = False
        source = None
        if pad:
            put(" " * pad)
            col += pad
        if chain:  # macro output: a segment where its (loc, chain) changes
            start = not (seg_kind == 1 and ((loc is seg_loc and chain is seg_chain)
                                            or (loc == seg_loc and chain == seg_chain)))
            if start:
                seg_kind, seg_loc, seg_chain = 1, loc, chain
        elif loc:  # a plain run: one segment while the columns follow the source's
            off = loc[2] - col
            start = not (seg_kind == 2 and off == seg_off and loc[1] == seg_line and loc[0] == seg_file)
            if start:
                seg_kind, seg_file, seg_line, seg_off = 2, loc[0], loc[1], off
        else:
            start = False
            if not segs:
                segs.append(Segment(col, Location("<built-in>", 0, 1)))
        if start:
            segs.append(Segment(col, locs.get(loc) or location(locs, loc), chain or ()))
        tx = t.text
        put(tx)
        col += len(tx)
        prev, ploc, pchain = t, loc, chain
    if prev is None:
        return None
    if segs[0].col != 0:
        # the first segment must start at column 0: move its origin back by the
        # same amount, so that columns inside it still map to the source
        first = segs[0]
        o = first.origin
        origin = o if first.macros else Location(o.file, o.line, max(1, o.col - first.col))
        segs[0] = Segment(0, origin, first.macros)
    return PPLine("".join(text), tuple(segs), cond)
