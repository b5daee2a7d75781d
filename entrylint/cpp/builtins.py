"""The preprocessor's built-in macros: the table a run starts from (GCC's
predefined macros, ``__FILE__`` and the other builtins, the configuration's
``CONFIG_*`` when no ``kconfig.h`` is read, ``-D`` and ``-U``) and what a
builtin expands to (``__LINE__`` ... and ``IS_ENABLED``, with kconfig.h's
meaning)."""

from __future__ import annotations

import os

from entrylint.cpp import directives as D, headermemo
from entrylint.cpp.lexer import NAME, NUMBER, STRING, Tok, lex_text
from entrylint.cpp.macros import Macro, MacroDef
from entrylint.cpp.predefines import PREDEFINES
from entrylint.source import Location, ProblemKind

KCONFIG_BUILTINS = ("IS_ENABLED", "IS_BUILTIN", "IS_MODULE", "IS_REACHABLE")

_PREDEFINED: dict | None = None


def _predefined() -> dict:
    """GCC's predefined macros, compiled once per process (a file's run
    only reads them: an expansion copies a body's tokens before it changes
    them); compiling them took ~2 ms of every preprocessed text."""
    global _PREDEFINED
    if _PREDEFINED is None:
        where = Location("<built-in>", 0, 1)
        _PREDEFINED = {name: D.object_macro(name, value, where, lex_text) for name, value in PREDEFINES}
    return _PREDEFINED


def _predefine(pp, name, value, where):
    pp.macros[name] = D.object_macro(name, value, where, lex_text)


def setup(pp) -> None:
    """Fill ``pp.macros`` with the table a run starts from."""
    cmd = Location("<command-line>", 0, 1)
    pp.macros.update(_predefined())
    for name in ("__FILE__", "__LINE__", "__COUNTER__", "__INCLUDE_LEVEL__", "__BASE_FILE__"):
        pp.macros[name] = Macro(name, None, False, [], MacroDef(name, None, False, "", cmd), builtin=name)
    for name in ("__has_include", "__has_include_next"):
        pp.macros[name] = Macro(name, ("x",), False, [], MacroDef(name, ("x",), False, "", cmd),
                                builtin=name)
    kc = pp.opts.kconfig
    has_kconfig_h = any(os.path.basename(str(p)) == "kconfig.h" for p in pp.opts.search.implicit)
    if not has_kconfig_h:
        if kc is not None:
            for name, value in kc.defines().items():
                _predefine(pp, name, value, Location(f"<kconfig:{kc.name}>", 0, 1))
        for name in KCONFIG_BUILTINS:
            pp.macros[name] = Macro(name, ("option",), False, [],
                                    MacroDef(name, ("option",), False, "", cmd), builtin=name)
    for name, value in pp.opts.defines.items():
        value = "1" if value is None else str(value)
        if "(" in name:  # -D'F(x)=body'
            m, err = D.parse_define(lex_text(f"{name} {value}"), cmd, ())
            if m is not None:
                pp.macros[m.name] = m
            else:
                pp.problem(ProblemKind.CPP_ERROR, f"-D{name}: {err}")
        else:
            _predefine(pp, name, value, cmd)
    for name in pp.opts.undefines:
        pp.macros.pop(name, None)


def value(pp, m: Macro, name: Tok, args) -> list[Tok]:
    """What the builtin ``m`` expands to at ``name`` (its arguments ``args``)."""
    b = m.builtin
    if b == "__LINE__":
        return [Tok(NUMBER, str(name.loc[1] if name.loc else 0))]
    if b == "__BASE_FILE__" and pp._recs:
        headermemo.taint(pp)  # the file checked: not the header's own
    if b == "__FILE__" or b == "__BASE_FILE__":
        p = pp.main if b == "__BASE_FILE__" else (pp.stack[-1].path if pp.stack else "")
        return [Tok(STRING, '"' + p.replace("\\", "\\\\").replace('"', '\\"') + '"')]
    if b == "__COUNTER__":
        pp.counter += 1
        return [Tok(NUMBER, str(pp.counter - 1))]
    if b == "__INCLUDE_LEVEL__":
        return [Tok(NUMBER, str(max(0, len(pp.stack) - 1)))]
    if b.startswith("__has_include"):
        pp.problem(ProblemKind.CPP_ERROR, f'"{b}" used outside of preprocessing directive', name)
        return [Tok(NUMBER, "0")]
    # IS_ENABLED and friends, with kconfig.h semantics
    arg = args[0] if args else []
    real = [t for t in arg if t.kind != "p"]
    opt = real[0].text if len(real) == 1 and real[0].kind == NAME else None

    def is_one(n):
        if pp._recs:
            pp._recs[-1].valued.add(n)
        mm = pp.macros.get(n)
        if mm is None or mm.params is not None or mm.builtin:
            return False
        body = [t for t in mm.body]
        if len(body) == 1 and body[0].kind == NAME and body[0].text != n:
            return is_one(body[0].text)
        return len(body) == 1 and body[0].text == "1"

    builtin = opt is not None and is_one(opt)
    module = opt is not None and is_one(opt + "_MODULE")
    if b == "IS_BUILTIN":
        v = builtin
    elif b == "IS_MODULE":
        v = module
    elif b == "IS_ENABLED":
        v = builtin or module
    else:
        v = builtin or (module and is_one("MODULE"))
    return [Tok(NUMBER, "1" if v else "0")]
