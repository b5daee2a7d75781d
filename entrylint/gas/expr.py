"""Absolute expressions as GNU as evaluates them for ``.if``, ``.rept`` and
assignments.

Precedence (binutils expr.c ranks, highest first): unary ``- ~ ! +``;
``* / % << >>``; ``| & ^ !`` (binary ``!`` is or-not); ``+ -``;
``== <> != < > >= <=`` (true is -1); ``&&``; ``||`` (0 or 1).  Registers
(``%rsp``) compare equal to themselves, as GAS does in ``.if \\base == %rsp``.
Anything that is not absolute (an undefined symbol, ``.``, a label) makes the
result ``None``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_MASK = (1 << 64) - 1
_TOKEN_RE = re.compile(
    r"\s*(?:(0[xX][0-9a-fA-F]+|0[bB][01]+|\d+[bf]?|'\\?.)"
    r"|(%[A-Za-z_][\w]*)"
    r"|([A-Za-z_.$][\w.$]*)"
    r"|(<<|>>|<>|!=|==|<=|>=|&&|\|\||[-+*/%~!<>&|^()]))")


class Reg(str):
    """A register operand (lower-cased name)."""


class NotAbsolute(Exception):
    pass


def _signed(v: int) -> int:
    v &= _MASK
    return v - (1 << 64) if v >> 63 else v


def _number(tok: str) -> int:
    if tok[0] == "'":
        ch = tok[1:]
        if ch.startswith("\\") and len(ch) == 2:
            return ord({"n": "\n", "t": "\t", "0": "\0"}.get(ch[1], ch[1]))
        return ord(ch[-1])
    if tok[-1] in "bf" and tok[:-1].isdigit():
        raise NotAbsolute(tok)  # local label reference 1b / 1f
    low = tok.lower()
    if low.startswith("0x"):
        return int(tok, 16)
    if low.startswith("0b"):
        return int(tok[2:], 2)
    if len(tok) > 1 and tok[0] == "0":
        return int(tok, 8)
    return int(tok)


_RANK = {"*": 9, "/": 9, "%": 9, "<<": 9, ">>": 9,
         "|": 7, "&": 7, "^": 7, "!": 7,
         "+": 5, "-": 5,
         "==": 4, "<>": 4, "!=": 4, "<": 4, ">": 4, ">=": 4, "<=": 4,
         "&&": 3, "||": 2}


def _tokens(text: str) -> list[str]:
    toks = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if not m or m.end() == pos:
            raise NotAbsolute(text[pos:])
        toks.append(m.group(m.lastindex) if m.lastindex else m.group(0).strip())
        pos = m.end()
        if not text[pos:].strip():
            break
    return toks


class _Compiler:
    """Reads an expression's tokens once into a function of the symbol values
    (``.set cnt, cnt+1`` in a repetition is read once and computed each
    time).  What does not depend on the values, a missing operand or an
    unbalanced parenthesis, is found here; a symbol without a value, a
    division by zero or arithmetic on a register when the function runs."""

    def __init__(self, toks: list[str]):
        self.toks = toks
        self.i = 0

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self):
        tok = self.peek()
        self.i += 1
        return tok

    def primary(self):
        tok = self.take()
        if tok is None:
            raise NotAbsolute("missing operand")
        if tok == "(":
            inner = self.binary(0)
            if self.take() != ")":
                raise NotAbsolute("missing )")
            return inner
        if tok in ("-", "~", "!", "+"):
            return _unary(tok, self.primary())
        if tok[0] == "%":
            reg = Reg(tok[1:].lower())
            return lambda symbols: reg
        if tok[0].isdigit() or tok[0] == "'":
            value = _number(tok)
            return lambda symbols: value
        if tok in _RANK or tok == ")":
            raise NotAbsolute(tok)
        return _symbol(tok)

    def binary(self, min_rank: int):
        left = self.primary()
        while True:
            op = self.peek()
            rank = _RANK.get(op or "")
            if rank is None or rank <= min_rank:
                return left
            self.i += 1
            left = _binary(op, left, self.binary(rank))


def _unary(op: str, operand):
    def value(symbols):
        v = operand(symbols)
        if isinstance(v, Reg):
            raise NotAbsolute(op)
        return -v if op == "-" else ~v if op == "~" else int(not v) if op == "!" else v
    return value


def _symbol(name: str):
    def value(symbols):
        v = symbols.get(name)
        if v is None:
            raise NotAbsolute(name)
        return v
    return value


def _binary(op: str, left, right):
    return lambda symbols: _apply(op, left(symbols), right(symbols))


def _apply(op: str, a, b):
    if isinstance(a, Reg) or isinstance(b, Reg):
        if op in ("==", "!=", "<>") and isinstance(a, Reg) and isinstance(b, Reg):
            same = str(a) == str(b)
            return -1 if same == (op == "==") else 0
        raise NotAbsolute(op)
    if op == "*":
        r = a * b
    elif op in ("/", "%"):
        if b == 0:
            raise NotAbsolute("division by zero")
        q = abs(a) // abs(b) * (1 if (a < 0) == (b < 0) else -1)
        r = q if op == "/" else a - q * b
    elif op == "<<":
        r = a << b if 0 <= b < 64 else 0
    elif op == ">>":
        r = (a & _MASK) >> b if 0 <= b < 64 else 0
    elif op == "|":
        r = a | b
    elif op == "&":
        r = a & b
    elif op == "^":
        r = a ^ b
    elif op == "!":
        r = a | ~b
    elif op == "+":
        r = a + b
    elif op == "-":
        r = a - b
    elif op == "&&":
        return int(bool(a) and bool(b))
    elif op == "||":
        return int(bool(a) or bool(b))
    else:
        sa, sb = _signed(a), _signed(b)
        r = -1 if {"==": sa == sb, "<>": sa != sb, "!=": sa != sb, "<": sa < sb,
                   ">": sa > sb, ">=": sa >= sb, "<=": sa <= sb}[op] else 0
    return _signed(r)


_COMPILED: dict[str, object] = {}  # expression text -> its function, or None (a pure function of the text)


def _compiled(text: str):
    got = _COMPILED.get(text, _COMPILED)
    if got is _COMPILED:  # a macro expansion evaluates the same texts again and again
        try:
            c = _Compiler(_tokens(text))
            got = c.binary(0) if c.toks else None
            if c.peek() is not None:
                got = None
        except (NotAbsolute, ValueError, RecursionError):
            got = None
        if len(_COMPILED) > 50_000:
            _COMPILED.clear()
        _COMPILED[text] = got
    return got


def evaluate(text: str, symbols: Mapping[str, int | None]) -> int | None:
    """The absolute value of ``text`` or ``None`` when it is not absolute
    (or not an expression at all)."""
    f = _compiled(text)
    if f is None:
        return None
    try:
        v = f(symbols)
    except (NotAbsolute, ValueError, RecursionError):
        return None
    return None if isinstance(v, Reg) else _signed(v)
