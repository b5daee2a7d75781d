"""Macro and repetition bodies cut once where substitution puts values.

GAS substitutes a macro body at every invocation; the expander used to scan
each body line character by character to do it.  A body is read again at
every invocation with the same parameter names, so each line is scanned
once here into a ``str.format`` template whose fields are the parameters
(and ``\\@``), and an invocation formats it with its values: the same text
the scan gave, made in C.  A line that substitutes nothing keeps
its text and its split into statements.
"""

from __future__ import annotations

from collections.abc import Sequence

from entrylint.cpp.types import Condition
from entrylint.gas import lex
from entrylint.gas.model import BodyLine
from entrylint.gas.types import Frame
from entrylint.source.record import data


@data(frozen=True, slots=True)
class Line:
    """One body line ready to substitute: ``fmt`` formats it with the values
    (in the order of the names the body was compiled with); without ``fmt``
    the line is ``text``, already split into ``statements``."""

    fmt: str | None
    text: str
    statements: tuple[str, ...]
    written: Frame  # the line's last trace frame: where it was written
    cond: Condition  # the line's own, as merge_conds makes it
    cpp_macros: tuple[str, ...]


def merge_conds(*conds: Condition) -> Condition:
    """The conditions of ``conds`` in order, each once (by equality).  Where
    one of two extends the other (a body line under the ``#if``s of its
    invocation and more), that one is the answer: a file of nested ``#if``s
    and ``.rept``s (256 conditions a line, the if-depth limit) merged each
    statement's condition element by element (a fuzz input: minutes)."""
    nonempty = [c for c in conds if c]
    if not nonempty:
        return ()
    if len(nonempty) == 1:
        c = nonempty[0]
        return c if len(c) == 1 else _once(c)
    if len(nonempty) == 2:
        a, b = nonempty
        if len(a) <= len(b) and b[:len(a)] == a:
            return _once(b)
        if len(b) < len(a) and a[:len(b)] == b:
            return _once(a)
    return tuple(dict.fromkeys(c for cond in nonempty for c in cond))


# id(condition) -> (it, it with each condition once): a condition is made once
# and read by every statement under it (kept alive: its id stays its own)
_ONCE: dict[int, tuple] = {}


def _once(c: Condition) -> Condition:
    got = _ONCE.get(id(c))
    if got is None or got[0] is not c:
        if len(_ONCE) > 50_000:
            _ONCE.clear()
        got = _ONCE[id(c)] = (c, c if len(set(c)) == len(c) else tuple(dict.fromkeys(c)))
    return got[1]


def _field(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def compile_line(body: str, names: dict[str, int], counter: int | None) -> tuple[str | None, str]:
    """GAS's substitution of a macro body line, made ahead: ``\\param``
    (the whole name after the backslash) takes field ``names[param]``,
    ``\\()`` goes, ``\\@`` takes field ``counter`` (None: it stays as
    written); an unknown ``\\name`` and any other ``\\x`` stay.  (The
    format string, "") when a value goes into the line, else (None, its
    constant text)."""
    if "\\" not in body:
        return None, body
    out: list[str] = []
    lit: list[str] = []
    i, n = 0, len(body)
    while i < n:
        c = body[i]
        if c != "\\" or i + 1 >= n:
            lit.append(c)
            i += 1
            continue
        d = body[i + 1]
        if d == "(" and body.startswith("\\()", i):
            i += 3
            continue
        ref = None
        j = i + 2
        if d == "@" and counter is not None:
            ref = counter
        elif d in lex._NAME_CHARS:
            j = i + 1
            while j < n and body[j] in lex._NAME_CHARS:
                j += 1
            ref = names.get(body[i + 1:j])
        if ref is None:
            lit.append(body[i:j])
        else:
            out.append(_field("".join(lit)))
            out.append(f"{{{ref}}}")
            lit = []
        i = j
    if not out:
        return None, "".join(lit)
    out.append(_field("".join(lit)))
    return "".join(out), ""


def remember(table: dict, key, make, *args):
    """``table[key]``, made by ``make(*args)`` the first time; a table past
    50,000 entries starts again (the GNU as layer's memos of texts read
    again and again: what bounds them is the input, not a limit)."""
    got = table.get(key)
    if got is None:
        if len(table) > 50_000:
            table.clear()
        got = table[key] = make(*args)
    return got


def statements(text: str) -> tuple[str, ...]:
    """The statements of a substituted line, stripped, blank ones dropped
    (remembered per text: 6.12's entry_64.S substitutes 8,232 lines, 1,674
    texts)."""
    return remember(_STATEMENTS, text, _split, text)


def _split(text: str) -> tuple[str, ...]:
    return tuple([s.strip() for _, s in lex.split_statements(text)])


_STATEMENTS: dict[str, tuple[str, ...]] = {}


def compile_body(body: Sequence[BodyLine], names: Sequence[str], counter: bool,
                 substitute: bool = True, memo: dict | None = None) -> tuple[Line, ...]:
    """``body`` for values of ``names`` (in that order) and, with
    ``counter``, ``\\@`` as the field after them; without ``substitute``
    the lines stay as written (a ``.rept`` body: not even ``\\()`` goes).
    ``memo`` keeps the lines' compiled texts between calls (an ``.irp`` in a
    macro body is collected, and compiled, at every invocation)."""
    index: dict[str, int] = {}
    for k, name in enumerate(names):
        index.setdefault(name, k)
    at = len(names) if counter else None
    key = tuple(names), at
    out = []
    for b in body:
        if not substitute:
            fmt, text, stmts = None, b.text, statements(b.text)
        else:
            got = memo.get((b.text, key)) if memo is not None else None
            if got is None:
                fmt, text = compile_line(b.text, index, at)
                got = fmt, text, statements(text) if fmt is None else ()
                if memo is not None:
                    if len(memo) > 50_000:
                        memo.clear()
                    memo[(b.text, key)] = got
            fmt, text, stmts = got
        out.append(Line(fmt, text, stmts, b.trace[-1], merge_conds(b.cond), b.cpp_macros))
    return tuple(out)
