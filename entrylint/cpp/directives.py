"""Helpers for the directives: parsing ``#define``, finding include files,
spotting include guards, and the ``defined`` / ``__has_include`` operators of
``#if`` (which act on raw tokens, before macro expansion)."""

from __future__ import annotations

import os
from pathlib import Path

from entrylint.cpp.lexer import NAME, NUMBER, OP, STRING, Tok
from entrylint.cpp.macros import Macro, MacroDef
from entrylint.source import Location
from entrylint.source.tree import IncludeSearch
from entrylint.source.reader import is_source_file

DIRECTIVES = frozenset({
    "define", "undef", "include", "include_next", "import", "if", "ifdef", "ifndef",
    "elif", "elifdef", "elifndef", "else", "endif", "error", "warning", "line",
    "pragma", "ident", "sccs", "assert", "unassert",
})
CONDITIONALS = frozenset({"if", "ifdef", "ifndef", "elif", "elifdef", "elifndef", "else", "endif"})


def spell(toks: list[Tok]) -> str:
    """Tokens as text, one space where the source had white space."""
    parts = []
    for i, t in enumerate(toks):
        if i and t.ws:
            parts.append(" ")
        parts.append(t.text)
    return "".join(parts)


def parse_define(toks: list[Tok], loc: Location, cond) -> tuple[Macro | None, str | None]:
    """``toks`` are the tokens after ``define``.  Returns (macro, error)."""
    if not toks or toks[0].kind != NAME:
        return None, "macro names must be identifiers"
    name = toks[0].text
    if name == "defined":
        return None, '"defined" cannot be used as a macro name'
    i = 1
    params: tuple[str, ...] | None = None
    variadic = False
    if len(toks) > 1 and toks[1].kind == OP and toks[1].text == "(" and not toks[1].ws:
        plist: list[str] = []
        i = 2
        expect_name = True
        while True:
            if i >= len(toks):
                return None, "missing ')' in macro parameter list"
            t = toks[i]
            i += 1
            if t.kind == OP and t.text == ")" and (not expect_name or not plist):
                break
            if expect_name:
                if t.kind == NAME:
                    if t.text in plist:
                        return None, f'duplicate macro parameter "{t.text}"'
                    plist.append(t.text)
                    if i < len(toks) and toks[i].text == "...":
                        variadic = True
                        i += 1
                    expect_name = False
                    continue
                if t.kind == OP and t.text == "...":
                    plist.append("__VA_ARGS__")
                    variadic = True
                    expect_name = False
                    continue
                return None, f'"{t.text}" may not appear in macro parameter list'
            if t.kind == OP and t.text == ")":
                break
            if t.kind == OP and t.text == "," and not variadic:
                expect_name = True
                continue
            return None, "expected ',' or ')' in macro parameter list"
        params = tuple(plist)
    elif len(toks) > 1 and not toks[1].ws:
        pass  # gcc: "missing whitespace after the macro name" (a warning)
    raw = toks[i:]
    body: list[Tok] = []
    pset = set(params) if params else set()
    # the body shares the line's tokens (a header's macros live as long as
    # its lexed lines); a token the body changes is copied first
    j = 0
    while j < len(raw):
        t = raw[j]
        if t.kind == OP and t.text == "##":
            if not body or j == len(raw) - 1:
                return None, "'##' cannot appear at either end of a macro expansion"
            if not body[-1].pl:
                prev = body[-1] = body[-1].copy()
                prev.pl = True
            j += 1
            continue
        if (params is not None and t.kind == OP and t.text == "#" and j + 1 < len(raw)
                and raw[j + 1].kind == NAME and raw[j + 1].text in pset):
            p = raw[j + 1].copy()
            p.ws = t.ws
            p.src = "#"
            body.append(p)
            j += 2
            continue
        body.append(t)
        j += 1
    if body and body[0].ws:
        body[0] = body[0].copy()
        body[0].ws = False
    defn = MacroDef(name, params, variadic, spell(raw), loc, cond)
    return Macro(name, params, variadic, body, defn), None


def object_macro(name: str, value: str, loc: Location, lex) -> Macro:
    body = lex(value)
    if body:
        body[0].ws = False
    return Macro(name, None, False, body, MacroDef(name, None, False, value, loc, ()))


def header_name(toks: list[Tok]) -> tuple[str, bool] | None:
    """(name, angled) of an include operand, or None if it is not one."""
    if not toks:
        return None
    if toks[0].kind == STRING and len(toks[0].text) >= 2:
        return toks[0].text[1:-1], False
    if toks[0].kind == OP and toks[0].text == "<":
        parts = []
        for k, t in enumerate(toks[1:]):
            if t.kind == OP and t.text == ">":
                return "".join(parts), True
            if k and t.ws:
                parts.append(" ")
            parts.append(t.text)
    return None


def find_include(name: str, angled: bool, cur_dir: str | None, search: IncludeSearch,
                 after: int | None = None) -> tuple[str | None, int | None]:
    """Resolve an include: (path as gcc would spell it, index in the search
    chain or None for the including file's own folder).  ``after`` is the index
    to search after (``#include_next``)."""
    if os.path.isabs(name):
        return (name if is_source_file(name) else None), None
    chain: list[Path] = []
    if not angled:
        chain.extend(search.quote_dirs)
    nquote = len(chain)
    chain.extend(search.dirs)
    start = 0
    if after is not None:
        start = after + 1
    elif not angled and cur_dir is not None:
        p = os.path.join(cur_dir, name) if cur_dir else name
        if is_source_file(p):
            return p, None
    if angled:
        start = max(start, nquote)
    for k in range(start, len(chain)):
        p = os.path.join(str(chain[k]), name)
        if is_source_file(p):
            return p, k
    return None, None


def find_guard(lines: list[list[Tok]]) -> tuple[str, int] | None:
    """The include-guard macro of a file (``#ifndef G`` / ``#define G`` around
    everything) and the index of its ``#ifndef`` line."""
    first = None
    for k, ln in enumerate(lines):
        if ln:
            first = k
            break
    if first is None:
        return None
    ln = lines[first]
    if len(ln) < 3 or ln[0].text != "#" or ln[1].text not in ("ifndef", "if"):
        return None
    if ln[1].text == "ifndef":
        if len(ln) != 3 or ln[2].kind != NAME:
            return None
        guard = ln[2].text
    else:
        rest = [t.text for t in ln[2:]]
        if rest[:2] == ["!", "defined"] and len(rest) in (3, 5):
            guard = rest[3] if rest[2] == "(" else rest[2]
            if len(rest) == 5 and (rest[2] != "(" or rest[4] != ")"):
                return None
        else:
            return None
    nxt = None
    for k in range(first + 1, len(lines)):
        if lines[k]:
            nxt = lines[k]
            break
    if not nxt or len(nxt) < 3 or nxt[0].text != "#" or nxt[1].text != "define" or nxt[2].text != guard:
        return None
    depth = 0
    last_close = None
    for k in range(first, len(lines)):
        t = lines[k]
        if not t:
            continue
        if depth == 0 and k != first:
            return None  # something after the guard's #endif
        if t[0].text == "#" and len(t) > 1:
            d = t[1].text
            if d in ("if", "ifdef", "ifndef"):
                depth += 1
            elif d == "endif":
                depth -= 1
                if depth == 0:
                    last_close = k
            elif d in ("else", "elif", "elifdef", "elifndef") and depth == 1:
                return None
    if last_close is None:
        return None
    return guard, first


def defined_operand(toks: list[Tok], i: int) -> tuple[str | None, int]:
    """After ``defined`` at ``toks[i-1]``: the macro name and the index past it."""
    if i < len(toks) and toks[i].kind == NAME:
        return toks[i].text, i + 1
    if (i + 2 < len(toks) and toks[i].text == "(" and toks[i + 1].kind == NAME
            and toks[i + 2].text == ")"):
        return toks[i + 1].text, i + 3
    return None, i


def number(v: int) -> Tok:
    return Tok(NUMBER, str(v))
