"""Translation phases 1-3 for ``gcc -x assembler-with-cpp``: line splicing,
comment removal and the split of a file into logical lines of pp-tokens.

The whole file is scanned with one regular expression (fast in pure Python);
each token keeps the line and column it has in the file as written.  Quirks of
assembler mode reproduced here (checked against gcc 12):

* ``$`` is not an identifier character (``$FOO`` is ``$`` then ``FOO``);
* an unterminated ``'`` or ``"`` is one "other" token that runs to the end of
  the line (so ``# it's X`` in an asm comment does not expand ``X``);
* no digraphs.
"""

from __future__ import annotations

import bisect
import re
from collections import OrderedDict

# Token kinds (short strings: cheap to compare).
NAME = "n"
NUMBER = "0"
STRING = '"'
CHAR = "'"
OTHER = "?"
OP = "o"
PAD = "p"  # padding marker inside the expander (gcc's CPP_PADDING)
EOF = "e"


class Tok:
    """One pp-token.  ``ws``: preceded by white space; ``noexp``: painted blue
    (never expanded again); ``pl``: the left operand of ``##`` in a macro body;
    ``loc``: (file, line, col) where it was written (for macro output: the
    invocation site); ``chain``: the cpp macros that produced it;
    ``src``: for padding markers, the token whose white space they carry."""

    __slots__ = ("kind", "text", "ws", "noexp", "pl", "loc", "chain", "src")

    def __init__(self, kind, text, ws=False, loc=None, chain=()):
        self.kind = kind
        self.text = text
        self.ws = ws
        self.noexp = False
        self.pl = False
        self.loc = loc
        self.chain = chain
        self.src = None

    def copy(self) -> "Tok":
        return self.at(self.loc, self.chain)

    def at(self, loc, chain) -> "Tok":
        """A copy written at ``loc`` by the macros ``chain`` (a macro's
        output is its body re-stamped at the invocation: the expander makes
        millions, so no ``__init__`` call and each slot set once)."""
        t = _new_tok(Tok)
        t.kind = self.kind
        t.text = self.text
        t.ws = self.ws
        t.noexp = self.noexp
        t.pl = self.pl
        t.loc = loc
        t.chain = chain
        t.src = self.src
        return t

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"Tok({self.kind}{'_' if self.ws else ''}{self.text!r})"


_new_tok = object.__new__
_NEVER = float("inf")  # (no splice after the last)


_OPS = (r"\.\.\.|<<=|>>=|##|->|\+\+|--|<<|>>|<=|>=|==|!=|&&|\|\||[-*/%&^|+]=|"
        r"[-+*/%&|^~!=<>?:;,.()\[\]{}#]")

# One match per token, with the blanks before it (group 1): white space is
# no token of its own (one match fewer per token); a comment or a newline is
# a match that makes none.
# (An identifier, the commonest token, is tried first: none of the other
# alternatives starts with a letter or ``_``.)
_TOKEN_RE = re.compile(
    r"([ \t\f\v\r]*+)(?:"
    r"(?P<n>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<nl>\n)"
    r"|(?P<bc>/\*[\s\S]*?\*/)"
    r"|(?P<ubc>/\*[\s\S]*)"
    r"|(?P<lc>//[^\n]*)"
    r"|(?P<num>\.?[0-9](?:[eEpP][+-]|[0-9A-Za-z_.])*+)"
    r'|(?P<str>"(?:\\.|[^"\\\n])*+")'
    r"|(?P<chr>'(?:\\.|[^'\\\n])*+')"
    r"|(?P<uq>['\"][^\n]*)"
    rf"|(?P<op>{_OPS})"
    r"|(?P<other>.))"
)
_NL, _UBC, _LC, _UQ = (_TOKEN_RE.groupindex[g] for g in ("nl", "ubc", "lc", "uq"))
_KIND = {"n": NAME, "num": NUMBER, "str": STRING, "chr": CHAR, "uq": OTHER, "op": OP, "other": OTHER}
_KIND_AT = [None] * (_TOKEN_RE.groups + 1)  # group index -> token kind (None: no token)
for _g, _i in _TOKEN_RE.groupindex.items():
    _KIND_AT[_i] = _KIND.get(_g)

_SPLICE_RE = re.compile(r"\\[ \t\f\v]*\n")


class LexedFile:
    """A file split into logical lines.  ``lines[i]`` is a list of tokens (the
    first one carries the line's start); ``problems`` are (message, line, col)
    tuples for the caller to turn into Problem records."""

    __slots__ = ("lines", "problems", "starts", "guard", "rendered", "expanded")

    def __init__(self, lines, problems, starts=None):
        self.lines = lines
        self.problems = problems
        # where each logical line starts in the text as written, and one past
        # the last one's newline (len(lines) + 1 offsets): ``relex`` reads them
        self.starts = starts
        self.guard = False  # the include guard (directives.find_guard), once found; False: not looked for
        # id(a line's tokens) -> (condition, PPLine): a line without a macro
        # rendered once (the preprocessor's _expand_line) for every profile and
        # every file that reads it under the same condition
        self.rendered: dict[int, tuple] = {}
        # id(a line's tokens) -> what expanding its macros gave (the
        # preprocessor's _expand_line, for the file checked): the next profile
        # takes it where the macros it read are the same
        self.expanded: dict[int, tuple] = {}


def lex_file(text: str, file: str, line0: int = 1) -> LexedFile:
    """``text`` as the logical lines of ``file``; ``line0``: the line its
    first line is in the file (``relex``: a piece of it with no splice)."""
    # Phase 2: splice lines, remembering where text was removed.
    removed_at: list[int] = []  # offsets in the spliced text
    removed_len: list[int] = []  # cumulative removed length up to that point
    if "\\" in text:
        parts = []
        last = 0
        total = 0
        for m in _SPLICE_RE.finditer(text):
            parts.append(text[last:m.start()])
            total += m.end() - m.start()
            removed_at.append(m.start() - (total - (m.end() - m.start())))
            removed_len.append(total)
            last = m.end()
        if parts:
            parts.append(text[last:])
            spliced = "".join(parts)
        else:
            spliced = text
    else:
        spliced = text
    if spliced and not spliced.endswith("\n"):
        spliced += "\n"

    def position(off: int) -> tuple[int, int]:  # (for a problem: rare)
        line_starts = [0]
        find = text.find
        pos = find("\n")
        while pos >= 0:
            line_starts.append(pos + 1)
            pos = find("\n", pos + 1)
        if removed_at:
            k = bisect.bisect_right(removed_at, off)
            if k:
                off += removed_len[k - 1]
        ln = bisect.bisect_right(line_starts, off)
        return ln, off - line_starts[ln - 1] + 1

    lines: list[list[Tok]] = []
    problems: list[tuple[str, int, int]] = []
    starts = [0]
    cur: list[Tok] = []
    put = cur.append
    ws = False  # a comment since the last token
    # Where a token is: the line of the file as written and where that line
    # starts in the spliced text.  A line starts after each newline of the
    # spliced text (a newline match, or one inside a block comment) and at
    # each splice (the text after a splice's newline is at the splice's
    # offset): the splices are passed where the next token or newline
    # reaches them (``next_r``: the next one's offset), so a splice inside a
    # comment is counted after the comment's newlines, and a line's start is
    # the furthest of them.  ``shift``: the length the splices passed removed
    # (a logical line's start in the text as written).
    lineno = line0
    line_start = 0
    if removed_at and line0 != 1:
        raise ValueError("a piece of a file with a line splice is lexed with the file")
    k, shift, n_removed = 0, 0, len(removed_at)
    next_r = removed_at[0] if removed_at else _NEVER
    kinds = _KIND_AT
    new = _new_tok
    for m in _TOKEN_RE.finditer(spliced):
        i = m.lastindex
        kind = kinds[i]
        if kind is not None:  # a token (most matches): made without an __init__ call
            start = m.end(1)  # (past the blanks before it)
            while start >= next_r:
                lineno += 1
                if next_r > line_start:
                    line_start = next_r
                shift = removed_len[k]
                k += 1
                next_r = removed_at[k] if k < n_removed else _NEVER
            t = new(Tok)
            t.kind = kind
            t.text = m.group(i)
            t.ws = ws or start != m.start()
            t.noexp = t.pl = False
            t.loc = (file, lineno, start - line_start + 1)
            t.chain = ()
            t.src = None
            put(t)
            ws = False
        elif i == _NL:
            lines.append(cur)
            cur = []
            put = cur.append
            ws = False
            e = m.end()
            while e >= next_r:
                lineno += 1
                shift = removed_len[k]
                k += 1
                next_r = removed_at[k] if k < n_removed else _NEVER
            lineno += 1
            line_start = e
            starts.append(e + shift)  # (in the text as written)
        else:  # a comment
            ws = True
            if i != _LC:
                start = m.end(1)
                if i == _UBC:
                    problems.append(("unterminated comment",) + position(start))
                body = m.group(i)
                n = body.count("\n")
                if n:
                    lineno += n
                    line_start = start + body.rfind("\n") + 1
    if cur:
        lines.append(cur)
    return LexedFile(lines, problems, starts)


_CHUNK = 4096


def _prefix(a: str, b: str) -> int:
    """The length of the longest common prefix (slices compared a chunk at a time)."""
    n = min(len(a), len(b))
    k = 0
    while k < n and a[k:k + _CHUNK] == b[k:k + _CHUNK]:
        k += _CHUNK
    k = min(k, n)
    while k < n and a[k] == b[k]:
        k += 1
    return k


def _suffix(a: str, b: str, most: int) -> int:
    """The length of the longest common suffix, at most ``most``."""
    k = 0
    la, lb = len(a), len(b)
    while k < most and a[max(la - k - _CHUNK, la - most):la - k] == b[max(lb - k - _CHUNK, lb - most):lb - k]:
        k = min(k + _CHUNK, most)
    while k < most and a[la - k - 1] == b[lb - k - 1]:
        k += 1
    return k


def relex(old_text: str, old: LexedFile, text: str, file: str) -> LexedFile | None:
    """``lex_file(text, file)`` made from ``old`` (``lex_file(old_text,
    file)``) where the edit between them lies in whole logical lines and
    keeps the number of lines: those lines are lexed again and every other
    line is ``old``'s (its tokens: the same place, the same objects).  A
    logical line starts where the scan is outside any comment, so the lines
    from one such start on lex as they did, and the edited piece is lexed on
    its own -- when it has no line splice and its scan ends at its last
    newline (no comment left open).  None: lexed whole (the caller's)."""
    starts = old.starts
    if old.problems or starts is None or len(starts) != len(old.lines) + 1:
        return None
    p = _prefix(old_text, text)
    n0, n1 = len(old_text), len(text)
    if p == n0 == n1:
        return None
    e0 = n0 - _suffix(old_text, text, min(n0, n1) - p)  # the edit: old_text[p:e0], in its lines i..j
    i = bisect.bisect_right(starts, p) - 1
    j = bisect.bisect_right(starts, e0 - 1) - 1 if e0 > p else i
    if j + 2 >= len(starts):  # (the last line: the scan's end is lex_file's)
        return None
    a, b = starts[i], starts[j + 1]
    delta = n1 - n0
    piece = text[a:b + delta]
    if old_text.count("\n", a, b) != piece.count("\n") or not piece.endswith("\n") or _SPLICE_RE.search(piece):
        return None
    got = lex_file(piece, file, old_text.count("\n", 0, a) + 1)
    if got.problems or got.starts[-1] != len(piece):
        return None
    return LexedFile(old.lines[:i] + got.lines + old.lines[j + 1:], [],
                     starts[:i] + [a + x for x in got.starts[:-1]] + [x + delta for x in starts[j + 1:]])


def lex_text(text: str) -> list[Tok]:
    """Tokens of a short piece of text on one line (pasted tokens, -D values)."""
    out = []
    ws = False  # a comment or a newline since the last token
    for m in _TOKEN_RE.finditer(text):
        kind = _KIND_AT[m.lastindex]
        if kind is None:
            ws = True
            continue
        start = m.end(1)
        out.append(Tok(kind, m.group(m.lastindex), ws or start != m.start()))
        ws = False
    return out


def lex_one(text: str) -> Tok | None:
    """The single token ``text`` spells, or None if it is not exactly one token."""
    m = _TOKEN_RE.match(text)
    if m is None or m.end() != len(text) or m.end(1) != 0:  # (blanks before it: not one token)
        return None
    i = m.lastindex
    if _KIND_AT[i] is None or i == _UQ:
        return None
    return Tok(_KIND_AT[i], text)


# path -> (text, its LexedFile): the headers every file of a tree includes are
# lexed once per process (the text is compared, so an edit is lexed again)
_LEXED: dict[str, tuple[str, LexedFile]] = {}


def lex_file_once(text: str, file: str, keep: bool = True) -> LexedFile:
    """``lex_file``, remembered per file name and text.  ``keep=False`` (a
    file checked, not a header): only the last ``CHECKED_KEPT`` such files
    are remembered -- the file checked, and the files of the tree its
    profiles expand beside it (the callees' asm, the helpers followed
    through another file: expanded once per profile, between the profiles'
    runs of the file checked) -- so a run over a whole tree does not keep the
    tokens of every file it checked (``checking`` drops an earlier check's)."""
    if keep:
        got = _LEXED.get(file)
    else:
        got = _CHECKED.get(file)
        if got is not None:
            _CHECKED.move_to_end(file)
    if got is not None and got[0] == text:
        return got[1]
    # a file checked again after an edit inside its lines (the language
    # server's keystrokes): those lines lexed again, the others taken
    lexed = (relex(got[0], got[1], text, file) if got is not None and not keep else None) or lex_file(text, file)
    if keep:
        _LEXED[file] = (text, lexed)
    else:
        _CHECKED[file] = (text, lexed)
        _CHECKED.move_to_end(file)
        while len(_CHECKED) > CHECKED_KEPT:
            _CHECKED.popitem(last=False)
    return lexed


def text_lexed(file: str, lexed: LexedFile) -> str | None:
    """The text ``lex_file_once`` made ``lexed`` from for the header
    ``file``, while it keeps it (None: not kept)."""
    got = _LEXED.get(file)
    return got[0] if got is not None and got[1] is lexed else None


def checking(file: str) -> None:
    """A check of ``file`` starts (api.check): the files an earlier check
    read with keep=False go, but ``file`` itself (the language server checks
    a buffer once per profile it is set to), so a run over a tree keeps one
    check's files at a time."""
    for f in [f for f in _CHECKED if f != file]:
        del _CHECKED[f]


CHECKED_KEPT = 8
_CHECKED: OrderedDict[str, tuple[str, LexedFile]] = OrderedDict()  # file -> (text, LexedFile), lexed with keep=False

