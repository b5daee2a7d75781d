"""Scanning a text for a pattern that must start a line or a word.

``re.finditer(r"^\\s*config\\s+(\\w+)", text, re.M)`` and ``\\b(?:ENTRY|...)``
are tried at every position of the text: neither starts with letters, so
the engine cannot skip to where they are.  Searched from their first
letters, with the start of the line or word checked apart, they find the
same matches several times faster (a tree's Kconfig, its .S files and
headers are scanned this way once per tree)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

# accept(text, start of a match) -> what the match had before it (a head), or None: not a match here
# (the text may be bytes, for an accept that reads bytes: the C index's)
Accept = Callable[[str, int], "str | None"]

_WORD_CHAR = re.compile(r"\w")


def line_start(*heads: str) -> Accept:
    """A match with only white space before it on its line, then one of
    ``heads`` (tried in order; none: nothing) -- what ``^\\s*(?:heads)``
    before the pattern accepts; the head is returned."""
    heads = heads or ("",)

    def accept(text: str, p: int) -> str | None:
        pre = text[text.rfind("\n", 0, p) + 1:p]
        for h in heads:
            if pre.endswith(h) and (len(pre) == len(h) or pre[:len(pre) - len(h)].isspace()):
                return h
        return None

    return accept


def word_start(text: str, p: int) -> str | None:
    """A match no word character comes before (what ``\\b`` before a
    pattern that starts with a letter accepts)."""
    return None if p and _WORD_CHAR.match(text, p - 1) else ""


def search(rx: re.Pattern, text: str, at: int, accept: Accept) -> tuple[re.Match, str] | None:
    """The first match of ``rx`` at or after ``at`` that ``accept`` takes,
    with its head.  A match refused is tried again one character on (the
    next match may start inside it)."""
    while (m := rx.search(text, at)) is not None:
        head = accept(text, m.start())
        if head is not None:
            return m, head
        at = m.start() + 1
    return None


def finditer(rx: re.Pattern, text: str, accept: Accept) -> Iterator[tuple[re.Match, str]]:
    """Every match ``search`` takes, each searched after the last one's end
    (as ``re.finditer`` goes on)."""
    at = 0
    while (found := search(rx, text, at, accept)) is not None:
        yield found
        at = found[0].end()


__all__ = ["line_start", "word_start", "search", "finditer"]
