"""How tokens are spelled when printed (assembler-mode cpp, as gcc's
libcpp): whether two tokens printed side by side would lex as others
(``avoid_paste``: the printer puts a space between them, render.py), and
an argument spelled as a string literal (``#param``: ``stringify``)."""

from __future__ import annotations

from entrylint.cpp.lexer import CHAR, NAME, OP, OTHER, PAD, STRING, Tok


# First characters of operators, for gcc's cpp_avoid_paste.
_EQ_LHS = {"=", "!", ">", "<", "+", "-", "*", "/", "%", "&", "|", "^", ">>", "<<"}


def avoid_paste(a: Tok, b: Tok) -> bool:
    """Whether printing ``a`` and ``b`` without a space would lex differently
    (libcpp's cpp_avoid_paste for the token types assembler mode has)."""
    ka, kb = a.kind, b.kind
    c = b.text[0] if kb == OP else ""
    if ka == OP:
        t = a.text
        if c == "=" and t in _EQ_LHS:
            return True
        if t == ">":
            return c == ">"
        if t == "<":
            return c in ("<", "%", ":")
        if t == "+":
            return c == "+"
        if t == "-":
            return c in ("-", ">")
        if t == "/":
            return c in ("/", "*")
        if t == "%":
            return c in (":", "%")
        if t == "&":
            return c == "&"
        if t == "|":
            return c == "|"
        if t == ":":
            return c in (":", ">")
        if t == "->":
            return c == "*"
        if t == ".":
            return c in (".", "%") or kb == "0"
        if t == "#":
            return c in ("#", "%")
        if t == "<=":
            return c == ">"
        return False
    if ka == NAME:
        return kb in (NAME, "0", CHAR, STRING)
    if ka == "0":
        return kb in ("0", NAME, CHAR) or c in (".", "+", "-")
    if ka == OTHER:
        return a.text[0] == "\\" and kb == NAME
    return False


def stringify(tokens: list[Tok]) -> Tok:
    """``#param``: spell the raw argument as a string literal (libcpp's stringify_arg)."""
    out = ['"']
    source = None
    backslashes = 0
    for t in tokens:
        if t.kind == PAD:
            if source is None or (not source.ws and t.src is None):
                source = t.src
            continue
        if len(out) > 1:
            if source is None:
                source = t
            if source.ws:
                out.append(" ")
        source = None
        text = t.text
        if t.kind == STRING or t.kind == CHAR:
            text = text.replace("\\", "\\\\").replace('"', '\\"')
        out.append(text)
        if t.kind == OTHER and text[0] == "\\":
            backslashes += 1
        else:
            backslashes = 0
    if backslashes & 1:
        out.pop()
    out.append('"')
    return Tok(STRING, "".join(out))
