"""Macro headers, argument binding and ``.irp``/``.irpc`` lists."""

from __future__ import annotations

import re

from entrylint.gas import lex
from entrylint.gas.model import MacroInfo, Param

_HEADER_RE = re.compile(r"\s*([^\s,]+)\s*,?\s*(.*)$", re.S)
_IRP_RE = re.compile(r"\s*(" + lex.NAME + r")\s*,?\s*(.*)$", re.S)


def parse_macro_header(args: str) -> tuple[str, tuple[Param, ...], list[str]]:
    """``name params`` of a ``.macro`` line: (name, params, errors)."""
    m = _HEADER_RE.match(args)
    if not m:
        return "", (), [".macro without a name"]
    name, rest = m.group(1), m.group(2)
    params: list[Param] = []
    errors: list[str] = []
    seen: set[str] = set()
    for a in lex.split_args(rest):
        if a.keyword is not None:
            pname, _, qual = a.keyword.partition(":")
            default = a.text
        else:
            pname, _, qual = a.text.partition(":")
            default = ""
        pname, qual = pname.strip(), qual.strip().lower()
        if not pname:
            continue
        if qual not in ("", "req", "vararg"):
            errors.append(f"`{qual}' is not a valid parameter qualifier for `{pname}'")
        if pname in seen:
            errors.append(f"parameter `{pname}' of macro `{name}' is repeated")
        seen.add(pname)
        params.append(Param(pname, default, qual == "req", qual == "vararg"))
    for p in params[:-1]:
        if p.vararg:
            errors.append(f"vararg parameter `{p.name}' of macro `{name}' is not the last")
    return name, tuple(params), errors


def bind_args(macro: MacroInfo, args: str) -> tuple[dict[str, str], list[str], bool]:
    """Values for every parameter of ``macro`` from an invocation's argument
    text, the complaints GAS would make, and whether GAS still expands the
    macro (it does not after too many positional arguments)."""
    values: dict[str, str] = {}
    errors: list[str] = []
    expands = True
    params = macro.params
    by_name = {p.name: p for p in params}
    pos = 0
    for a in lex.iter_args(args):
        if a.keyword is not None:
            p = by_name.get(a.keyword)
            if p is None:
                errors.append(f"parameter named `{a.keyword}' does not exist for macro `{macro.name}'")
            else:
                values[p.name] = a.text
            continue
        while pos < len(params) and params[pos].name in values:
            pos += 1
        if pos >= len(params):
            errors.append(f"too many positional arguments for macro `{macro.name}'")
            expands = False
            break
        p = params[pos]
        pos += 1
        if p.vararg:
            values[p.name] = args[a.start:].strip()
            break
        if a.text != "":
            values[p.name] = a.text
    for p in params:
        if p.name not in values:
            if p.required:
                errors.append(f"missing value for required parameter `{p.name}' of macro `{macro.name}'")
            values[p.name] = lex.unquote(p.default)
    return values, errors, expands


def parse_irp(directive: str, args: str) -> tuple[str | None, list[str], str | None]:
    """(symbol, values, error) of an ``.irp``/``.irpc`` header."""
    m = _IRP_RE.match(args)
    if not m:
        return None, [], f"{directive}: expected a symbol name"
    sym, rest = m.group(1), m.group(2)
    if directive == ".irpc":
        text = lex.unquote(rest.strip())
        return sym, (list(text) if text else [""]), None
    values = [a.text for a in lex.split_args(rest)]
    return sym, values or [""], None
