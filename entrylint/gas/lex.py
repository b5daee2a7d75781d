"""Lexical rules of GNU as (x86-64 ELF) for one logical line.

Everything here works on plain strings: comment removal, splitting a line into
statements at ``;``, peeling labels off a statement, telling directives,
assignments and instructions apart, splitting macro arguments the way GAS
does (``\\param`` substitution is gas/template.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from entrylint.source.record import data

NAME = r"[A-Za-z_.$][\w.$]*"
_LABEL_RE = re.compile(r"\s*(" + NAME + r"|\d+)\s*:(?![:=])")
_DIRECTIVE_RE = re.compile(r"\.[\w.$]+")
_ASSIGN_RE = re.compile(r"(" + NAME + r")\s*=(?!=)")
_WORD_RE = re.compile(NAME)
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.$")

# Measured with ``as`` 2.40: a blank between two macro arguments is dropped
# (the two words stay one argument) when the character before it or after it
# is one of these (the scrubber's symbol-character rule).
_JOIN_AFTER = frozenset("+/<>|&^!~\\@:?=,")
_JOIN_BEFORE = frozenset("+/<>!~&|^@:?=,")


def strip_comments(text: str) -> str:
    """Blank out ``#`` comments and ``/* */`` spans outside strings; columns
    are kept (removed characters become spaces, a ``#`` comment is cut)."""
    if "#" not in text and "/*" not in text:
        return text
    out = []
    i, n = 0, len(text)
    in_str = False
    while i < n:
        c = text[i]
        if in_str:
            out.append(c)
            if c == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 2
                continue
            if c == '"':
                in_str = False
        elif c == '"':
            in_str = True
            out.append(c)
        elif c == "#":
            break
        elif c == "/" and text.startswith("/*", i):
            end = text.find("*/", i + 2)
            stop = n if end < 0 else end + 2
            out.append(" " * (stop - i))
            i = stop
            continue
        else:
            out.append(c)
        i += 1
    return "".join(out)


def split_statements(text: str) -> list[tuple[int, str]]:
    """Split at ``;`` outside strings: ``[(start_col, statement_text), ...]``.
    Blank statements are dropped."""
    if ";" not in text:
        return [(0, text)] if text.strip() else []
    if '"' not in text:  # (no string: every ``;`` splits)
        parts, start = [], 0
        for s in text.split(";"):
            parts.append((start, s))
            start += len(s) + 1
        return [(c, s) for c, s in parts if s.strip()]
    parts = []
    start = 0
    in_str = False
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if in_str:
            if c == "\\":
                i += 1
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
        elif c == ";":
            parts.append((start, text[start:i]))
            start = i + 1
        i += 1
    parts.append((start, text[start:]))
    return [(c, s) for c, s in parts if s.strip()]


def leading_blank(text: str) -> int:
    return len(text) - len(text.lstrip())


def peel_labels(stmt: str) -> tuple[list[str], str, int]:
    """Labels at the start of a statement, the rest, and the offset of the
    rest in ``stmt``."""
    labels = []
    pos = 0
    while True:
        m = _LABEL_RE.match(stmt, pos)
        if not m:
            break
        labels.append(m.group(1))
        pos = m.end()
    rest = stmt[pos:]
    off = pos + leading_blank(rest)
    return labels, rest.strip(), off


@data(frozen=True, slots=True)
class Parsed:
    kind: str  # "directive", "assign", "word" (insn or macro), "empty"
    name: str  # directive lower-cased with its dot; the word as written
    args: str


def classify(rest: str) -> Parsed:
    if not rest:
        return Parsed("empty", "", "")
    if rest[0] == ".":
        m = _DIRECTIVE_RE.match(rest)
        if m:
            after = rest[m.end():]
            if not after.lstrip().startswith("=") or after.lstrip().startswith("=="):
                return Parsed("directive", m.group(0).lower(), after.strip())
    m = _ASSIGN_RE.match(rest)
    if m:
        return Parsed("assign", m.group(1), rest[m.end():].strip())
    m = _WORD_RE.match(rest)
    if m and (m.end() == len(rest) or not rest[m.end()].isalnum()):
        return Parsed("word", m.group(0), rest[m.end():].strip())
    word = rest.split(None, 1)
    return Parsed("word", word[0], word[1].strip() if len(word) > 1 else "")


@data(frozen=True, slots=True)
class Arg:
    text: str  # the argument as it substitutes (outer quotes removed)
    start: int  # offset in the argument string (for :vararg)
    keyword: str | None = None


_KEYWORD_RE = re.compile(r"(" + NAME + r")((?::\w+)?)=(?!=)")


def split_args(s: str) -> list[Arg]:
    """Split a macro argument list as GAS does: commas or blanks separate,
    blanks next to operator characters do not, parentheses protect blanks
    (not commas), ``"..."`` keeps everything and loses its quotes,
    ``name=value`` is a keyword argument (its qualifier ``:req`` etc. kept in
    ``keyword`` for parameter lists)."""
    return list(iter_args(s))


def iter_args(s: str) -> Iterator[Arg]:
    """``split_args``, one argument at a time: binding stops reading at a
    ``:vararg`` parameter, which takes the rest as it is (a macro that
    passes ``\\p\\p`` to itself doubles a text that would otherwise be
    split to its end at every level)."""
    i, n = 0, len(s)
    while i < n and s[i] in " \t":
        i += 1
    if i >= n:
        return
    while True:
        start = i
        buf: list[str] = []
        depth = 0
        closed = False  # last char closed a parenthesis
        while i < n:
            c = s[i]
            if c == '"':
                j = i + 1
                while j < n and s[j] != '"':
                    j += 2 if s[j] == "\\" else 1
                buf.append(s[i:j + 1])
                i = min(j + 1, n)
                closed = False
                continue
            if c == "'":  # 'x': kept to the matching quote, blanks and commas too (' ', as GAS scans it)
                j = s.find("'", i + 1)
                j = n - 1 if j < 0 else j
                buf.append(s[i:j + 1])
                i = j + 1
                closed = False
                continue
            if c in "([":
                depth += 1
            elif c in ")]" and depth:
                depth -= 1
                buf.append(c)
                i += 1
                closed = depth == 0
                continue
            elif c == ",":
                break
            elif c in " \t" and depth == 0:
                j = i
                while j < n and s[j] in " \t":
                    j += 1
                if j >= n:
                    i = j
                    break
                prev = buf[-1][-1] if buf else ","
                nxt = s[j]
                if nxt == "," or not (closed or prev in _JOIN_AFTER or nxt in _JOIN_BEFORE):
                    i = j
                    break
                i = j
                continue
            buf.append(c)
            closed = False
            i += 1
        text = "".join(buf)
        keyword = None
        m = _KEYWORD_RE.match(text)
        if m:
            keyword = m.group(1) + m.group(2)
            text = text[m.end():]
        yield Arg(unquote(text), start, keyword)
        if i < n and s[i] == ",":
            i += 1
        while i < n and s[i] in " \t":
            i += 1
        if i >= n:  # (a comma at the end starts no argument: ``m 1, 2,`` passes two)
            return


def unquote(text: str) -> str:
    """A quoted macro argument substitutes without its quotes; text after the
    closing quote is kept."""
    if len(text) >= 2 and text[0] == '"':
        j = 1
        while j < len(text) and text[j] != '"':
            j += 2 if text[j] == "\\" else 1
        if j < len(text):
            return text[1:j] + text[j + 1:]
    return text


def string_operand(s: str) -> tuple[str, str]:
    """One operand of ``.ifc``: a quoted string (unquoted) or the text up to
    the first comma; returns (value, rest after the comma)."""
    s = s.lstrip()
    if s.startswith('"'):
        j = 1
        while j < len(s) and s[j] != '"':
            j += 2 if s[j] == "\\" else 1
        val = s[1:j]
        rest = s[j + 1:].lstrip()
    else:
        k = s.find(",")
        if k < 0:
            return s.strip(), ""
        val, rest = s[:k].strip(), s[k:]
    if rest.startswith(","):
        rest = rest[1:]
    return val, rest
