"""Reading C text without parsing it: its comments and strings
(comment_spans; strip_comments for the MSR and task-gate readers), and
where a file may define a function of a given name, which the C index
(cindex.py) asks of a file before it parses it.

A file is parsed for a name only where its text may define it; each test
here finds a superset of the places the parser (tree-sitter-c) or the
definer scan (cindex._macro_defined) read a definition of the name at, so
the answers are those of parsing every file (tests/test_cindex.py, and
every name the full index of each survey tree defines, compared):

* the name as an identifier, with no C identifier character beside it
  (``domain`` holds ``main``: as_identifier);
* outside comments and string literals (comment_spans: a scan that finds
  less than the parser's lexer wherever the two could differ);
* followed by a parameter list, and that by no ``;`` ``,`` ``=`` or
  operator: a call or a prototype is no definition (declares);
* or anywhere as a definer macro's first argument (definer_argument).
"""

from __future__ import annotations

import bisect
import re

from entrylint.source import textscan

_IDENT_CHARS = frozenset(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_C_IDENT = re.compile(rb"[A-Za-z_]\w*")


def ident_end(word: bytes) -> re.Pattern | None:
    """``word`` followed by no C identifier character, for as_identifier;
    None for a word that is not a C identifier (a substring test alone)."""
    return re.compile(re.escape(word) + rb"(?![A-Za-z0-9_])") if _C_IDENT.fullmatch(word) else None


def after_non_ident(text: bytes, p: int) -> bytes | None:
    """textscan's accept: no C identifier character before ``p``."""
    return None if p and text[p - 1] in _IDENT_CHARS else b""


# every byte but an identifier character made a blank (identifiers())
_NON_IDENT_BLANK = bytes(c if c in _IDENT_CHARS else 32 for c in range(256))


def identifiers(text: bytes) -> frozenset[bytes]:
    """The words ``as_identifier`` finds in ``text``, all at once: a word
    has no identifier character right before or after it exactly where it
    is one of the text's maximal runs of those characters
    (``re.findall(rb"[A-Za-z0-9_]+")``, split out at C speed: 47 ms for
    the 342 files of 6.12's C index against 80)."""
    return frozenset(text.translate(_NON_IDENT_BLANK).split())


def as_identifier(text: bytes, end: re.Pattern) -> bool:
    """The word ``end`` matches occurs in ``text`` with no C identifier
    character ([A-Za-z0-9_]) right before or after it: wherever tree-sitter
    reads it as an identifier (its identifiers take these and more, ``$`` and
    letters beyond ASCII) or a definer's argument holds it, and not inside
    ``domain`` when ``main`` is asked (100 of the 342 files hold that)."""
    return textscan.search(end, text, 0, after_non_ident) is not None


# a character literal or an #include's <header name> (passed over: a "/*"
# or '"' in it starts nothing), a comment (group c) or a string literal
# (group s).  Both literals end on their line, as C's do: an apostrophe or a
# quote in an #error text or an #if 0 block begins none there.  One pattern
# for the C index's bytes and the str of the other readers of C code.
_C_SKIP = (r"'(?:\\.|[^'\\\n])*'|#[ \t]*include[ \t]*<[^>\n]*>"
           r"|(?P<c>/\*.*?\*/|//[^\n]*)|(?P<s>\"(?:\\.|[^\"\\\n])*\")")
_C_SKIP_BYTES = re.compile(_C_SKIP.encode(), re.S)
_C_SKIP_STR = re.compile(_C_SKIP, re.S)
_NOT_NEWLINE = re.compile(r"[^\n]")


def comment_spans(text: bytes) -> list[tuple[int, int]]:
    """(start, end) of each comment and string literal of a C file, in
    order: the places the parser reads no function's name at.  Where this
    scan and the parser's lexer could differ, the scan finds less (a ``//``
    comment ends at its line here, where a backslash before the newline
    continues it; a ``/*`` never closed is no comment), so an occurrence
    outside these spans is kept wherever the parser may read it as code."""
    return [m.span(m.lastindex) for m in _C_SKIP_BYTES.finditer(text) if m.lastindex]


def strip_comments(text: str) -> str:
    """C code with its comments blanked and its lines kept (``/* */`` as
    spaces, ``//`` to the line's end removed), a comment opener in a string
    or a character literal left alone: the text the MSR and task-gate
    readers search."""
    return _C_SKIP_STR.sub(lambda m: m.group() if m.lastgroup != "c" else
                           "" if m.group().startswith("//") else _NOT_NEWLINE.sub(" ", m.group()), text)


_BLANK = frozenset(b" \t\n\r\f\v")
# what follows a call's or a prototype's closing parenthesis, and never a
# function definition's parameter list (``{``, an attribute or a K&R
# declaration, or the ``)`` of a function returning a function pointer)
_NOT_AFTER_PARAMETERS = frozenset(b";,=.-+*/%&|^?:<>![]}")
_PAREN = re.compile(rb"[()]")


def _skip_blank(text: bytes, q: int, spans: list[tuple[int, int]]) -> int:
    """The first place at or after ``q`` that is no white space, line
    continuation or comment (``spans``: comment_spans of ``text``)."""
    n = len(text)
    while q < n:
        c = text[q]
        if c in _BLANK:
            q += 1
        elif c == 0x5C and text[q + 1:q + 2] == b"\n":  # backslash-newline
            q += 2
        elif c == 0x5C and text[q + 1:q + 3] == b"\r\n":
            q += 3
        elif c == 0x2F:  # a comment starting here?
            k = bisect.bisect_right(spans, (q, n)) - 1
            if k < 0 or spans[k][0] != q:
                return q
            q = spans[k][1]
        else:
            return q
    return q


def _closing(text: bytes, q: int, spans: list[tuple[int, int]], reach: int = 8192) -> int | None:
    """The ``)`` that closes the ``(`` at ``q``, parentheses in comments
    and strings left out; None when it is not within ``reach`` bytes."""
    depth = 0
    k = bisect.bisect_right(spans, (q, len(text)))
    for m in _PAREN.finditer(text, q, min(len(text), q + reach)):
        p = m.start()
        while k < len(spans) and spans[k][1] <= p:
            k += 1
        if k < len(spans) and spans[k][0] <= p:
            continue  # inside a comment or a string
        depth += 1 if text[p] == 0x28 else -1
        if depth == 0:
            return p
    return None


def declares(text: bytes, q: int, spans: list[tuple[int, int]]) -> bool:
    """An identifier ending at ``q`` may be the name a function definition
    declares: a parameter list follows it, and what follows that is no
    call's or prototype's (_NOT_AFTER_PARAMETERS)."""
    q = _skip_blank(text, q, spans)
    if q >= len(text) or text[q] != 0x28:
        return False
    close = _closing(text, q, spans)
    if close is None:
        return True
    r = _skip_blank(text, close + 1, spans)
    return r >= len(text) or text[r] not in _NOT_AFTER_PARAMETERS


# what a definer macro's name ends with (it holds DEFINE: ``DEFINE_IDTENTRY_RAW(name) { }``):
# one spelling for cindex._macro_defined, which reads its invocations, and definer_argument
DEFINER_TAIL = r"DEFINE\w*"


def definer_argument(word: bytes) -> re.Pattern:
    """``word`` as the first argument of a definer macro (DEFINER_TAIL): where
    cindex._macro_defined may take it, which reads the text, comments too."""
    return re.compile(DEFINER_TAIL.encode() + rb"\(\s*" + re.escape(word) + rb"(?![A-Za-z0-9_])")


def may_define(text: bytes, spans: list[tuple[int, int]], word: bytes, end: re.Pattern) -> bool:
    """``text`` (as the parser reads it: attributes blanked) may define a
    function by the identifier ``word`` (``end``: ident_end's pattern of
    it; ``spans``: comment_spans of the text): outside comments and
    strings, the word is followed by a parameter list that no call's or
    prototype's continuation follows (declares), or it is a definer
    macro's first argument (the definer scan reads comments too)."""
    at = 0
    while (found := textscan.search(end, text, at, after_non_ident)) is not None:
        p, at = found[0].start(), found[0].end()
        k = bisect.bisect_right(spans, (p, len(text))) - 1
        if k >= 0 and p < spans[k][1]:
            at = spans[k][1]  # in a comment or a string
            continue
        if declares(text, at, spans):
            return True
    return b"DEFINE" in text and definer_argument(word).search(text) is not None


__all__ = ["DEFINER_TAIL", "as_identifier", "comment_spans", "declares", "definer_argument", "ident_end",
           "identifiers", "may_define", "strip_comments"]
