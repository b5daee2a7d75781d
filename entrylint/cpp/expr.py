"""``#if`` expressions: integer arithmetic as C does it in the preprocessor
(intmax_t / uintmax_t, 64 bits), with C precedence, ``?:``, ``,``, character
constants and the usual suffixes.  Names left after macro expansion are 0.

``evaluate`` raises ``ExprError`` with a message; the caller turns it into a
CPP_ERROR problem and takes the group as false (as gcc does)."""

from __future__ import annotations

import re

from entrylint.cpp.lexer import CHAR, NAME, NUMBER, OP, Tok

MASK = (1 << 64) - 1
SIGN = 1 << 63


class ExprError(Exception):
    pass


def _signed(v: int) -> int:
    v &= MASK
    return v - (1 << 64) if v & SIGN else v


_INT_RE = re.compile(r"(0[xX][0-9a-fA-F]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)([uUlL]*)$")
_ESC = {"n": 10, "t": 9, "r": 13, "0": 0, "a": 7, "b": 8, "f": 12, "v": 11, "\\": 92,
        "'": 39, '"': 34, "?": 63, "e": 27}


def _number(text: str) -> tuple[int, bool]:
    m = _INT_RE.match(text)
    if not m:
        raise ExprError(f'invalid integer constant "{text}" in #if')
    digits, suffix = m.groups()
    sl = suffix.lower()
    if sl not in ("", "u", "l", "ul", "lu", "ll", "ull", "llu"):
        raise ExprError(f'invalid suffix "{suffix}" on integer constant')
    if digits[:2] in ("0x", "0X"):
        v = int(digits[2:], 16)
    elif digits[:2] in ("0b", "0B"):
        v = int(digits[2:], 2)
    elif digits.startswith("0"):
        v = int(digits, 8)
    elif len(digits) > 20:  # (past 64 bits: and Python refuses to read 4300 digits or more)
        raise ExprError("integer constant is too large for its type")
    else:
        v = int(digits)
    if v > MASK:
        raise ExprError("integer constant is too large for its type")
    unsigned = "u" in sl or v > (SIGN - 1)
    return v, unsigned


def _char(text: str) -> int:
    body = text[1:-1]
    vals = []
    i = 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            e = body[i + 1]
            if e in "01234567":
                j = i + 1
                while j < len(body) and j < i + 4 and body[j] in "01234567":
                    j += 1
                vals.append(int(body[i + 1:j], 8) & 0xFF)
                i = j
                continue
            if e == "x":
                j = i + 2
                while j < len(body) and body[j] in "0123456789abcdefABCDEF":
                    j += 1
                vals.append(int(body[i + 2:j] or "0", 16) & 0xFF)
                i = j
                continue
            vals.append(_ESC.get(e, ord(e)))
            i += 2
            continue
        vals.append(ord(c) & 0xFF)
        i += 1
    if not vals:
        raise ExprError("empty character constant")
    v = 0
    for x in vals:
        v = ((v << 8) | x) & 0xFFFFFFFF
    if len(vals) == 1:  # plain char is signed on x86
        v = v - 256 if v >= 128 else v
    elif v & 0x80000000:
        v -= 1 << 32
    return v


_BINARY = {
    "*": 10, "/": 10, "%": 10,
    "+": 9, "-": 9,
    "<<": 8, ">>": 8,
    "<": 7, ">": 7, "<=": 7, ">=": 7,
    "==": 6, "!=": 6,
    "&": 5, "^": 4, "|": 3, "&&": 2, "||": 1,
}


class _Parser:
    def __init__(self, toks: list[Tok]):
        self.toks = toks
        self.i = 0

    def peek(self) -> Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> Tok:
        t = self.peek()
        if t is None:
            raise ExprError("#if with no expression" if not self.toks else "missing expression in #if")
        self.i += 1
        return t

    def expect(self, text: str):
        t = self.peek()
        if t is None or t.text != text:
            raise ExprError(f"missing '{text}' in expression")
        self.i += 1

    # Values are (int, unsigned) pairs; ints are kept in signed form.
    def comma(self, live=True):
        v = self.cond(live)
        while self.peek() is not None and self.peek().text == ",":
            self.i += 1
            v = self.cond(live)
        return v

    def cond(self, live):
        c = self.binary(1, live)
        t = self.peek()
        if t is not None and t.text == "?":
            self.i += 1
            a = self.comma(live and c[0] != 0)
            self.expect(":")
            b = self.cond(live and c[0] == 0)
            uns = a[1] or b[1]
            v = a if c[0] else b
            return (_signed(v[0]) if not uns else v[0] & MASK, uns)
        return c

    def binary(self, minprec, live):
        lhs = self.unary(live)
        while True:
            t = self.peek()
            if t is None or t.kind != OP:
                return lhs
            prec = _BINARY.get(t.text)
            if prec is None or prec < minprec:
                return lhs
            self.i += 1
            op = t.text
            if op == "&&":
                rhs = self.binary(prec + 1, live and lhs[0] != 0)
                lhs = (int(lhs[0] != 0 and rhs[0] != 0), False)
                continue
            if op == "||":
                rhs = self.binary(prec + 1, live and lhs[0] == 0)
                lhs = (int(lhs[0] != 0 or rhs[0] != 0), False)
                continue
            rhs = self.binary(prec + 1, live)
            lhs = self.apply(op, lhs, rhs, live)

    def apply(self, op, a, b, live):
        if op in ("<<", ">>"):
            uns = a[1]
        else:
            uns = a[1] or b[1]
        x, y = a[0], b[0]
        if uns:
            x &= MASK
            y &= MASK
        if op == "*":
            r = x * y
        elif op in ("/", "%"):
            if y == 0:
                if live:
                    raise ExprError("division by zero in #if")
                return (0, uns)
            q = abs(x) // abs(y)
            if (x < 0) != (y < 0):
                q = -q
            r = q if op == "/" else x - q * y
        elif op == "+":
            r = x + y
        elif op == "-":
            r = x - y
        elif op == "<<":  # (a shift count of 64 or more gives 0: never a 2**y-bit number)
            r = 0 if y >= 64 else x << y if y >= 0 else x >> min(-y, 64)
        elif op == ">>":
            if y < 0:
                r = x << -y if y > -64 else 0
            elif y >= 64:
                r = -1 if (x < 0 and not uns) else 0
            else:
                r = x >> y
        elif op in ("<", ">", "<=", ">=", "==", "!="):
            r = {"<": x < y, ">": x > y, "<=": x <= y, ">=": x >= y, "==": x == y, "!=": x != y}[op]
            return (int(r), False)
        elif op == "&":
            r = x & y
        elif op == "^":
            r = x ^ y
        else:
            r = x | y
        return (r & MASK, True) if uns else (_signed(r), False)

    def unary(self, live):
        t = self.take()
        if t.kind == OP:
            op = t.text
            if op == "(":
                v = self.comma(live)
                self.expect(")")
                return v
            if op in ("+", "-", "~", "!"):
                v = self.unary(live)
                if op == "+":
                    return v
                if op == "-":
                    return ((-v[0]) & MASK, True) if v[1] else (_signed(-v[0]), False)
                if op == "~":
                    return ((~v[0]) & MASK, True) if v[1] else (_signed(~v[0]), False)
                return (int(v[0] == 0), False)
            raise ExprError(f'token "{op}" is not valid in preprocessor expressions')
        if t.kind == NUMBER:
            v, uns = _number(t.text)
            return (v, True) if uns else (_signed(v), False)
        if t.kind == CHAR:
            return (_char(t.text), False)
        if t.kind == NAME:
            return (0, False)
        raise ExprError(f'token "{t.text}" is not valid in preprocessor expressions')


def evaluate(toks: list[Tok]) -> int:
    """The value of a fully expanded ``#if`` expression."""
    if not toks:
        raise ExprError("#if with no expression")
    p = _Parser(toks)
    try:
        v = p.comma()
    except RecursionError:  # found by tools/fuzz.py: `#if` and thousands of `(`
        raise ExprError("#if expression nested too deeply") from None
    if p.peek() is not None:
        t = p.peek()
        raise ExprError(f'missing binary operator before token "{t.text}"')
    return v[0]
