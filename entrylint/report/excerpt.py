"""A highlighted source excerpt for the terminal (deps.md 7).

pygments guesses R for ``.S``, so the lexer is GasLexer, chosen explicitly.
GasLexer marks much of kernel asm as Error (``scratch_reg=%rdi``, ``\\@``,
``1:``, ``+`` in operands); the terminal formatters draw Error underlined in
bright red, which would look like a finding, so a filter turns Error into
Text.  The formatters ignore ``linenostart``, so the gutter is our own.
"""

from __future__ import annotations

from pygments import highlight
from pygments.filter import simplefilter
from pygments.formatters import TerminalFormatter
from pygments.lexers.asm import GasLexer
from pygments.token import Error, Text


@simplefilter
def _no_error(self, lexer, stream, options):  # noqa: ARG001 - pygments' filter signature
    for ttype, value in stream:
        yield (Text if ttype in Error else ttype), value


def highlight_lines(lines: list[str]) -> list[str]:
    """The same lines with ANSI colours, one output line per input line."""
    if not lines:
        return []
    lexer = GasLexer(stripnl=False, ensurenl=True)
    lexer.add_filter(_no_error())
    # TerminalFormatter closes and reopens colours at each newline, so a
    # /* ... */ comment over several lines splits cleanly.
    out = highlight("\n".join(lines) + "\n", lexer, TerminalFormatter()).split("\n")
    return out[:len(lines)] if len(out) >= len(lines) else list(lines)


def excerpt(source: list[str], line: int, before: int = 2, after: int = 1, color: bool = True) -> list[str]:
    """Lines ``line-before .. line+after`` of ``source`` with a gutter:
    ``+`` marks the reported line (checkpatch's added-line sign)."""
    if not 0 < line <= len(source):
        return []
    lo, hi = max(1, line - before), min(len(source), line + after)
    chunk = source[lo - 1:hi]
    shown = highlight_lines(chunk) if color else chunk
    width = len(str(hi))
    dim, reset = ("\x1b[2m", "\x1b[0m") if color else ("", "")
    return [f"{'+' if n == line else ' '}{dim}{n:>{width}} |{reset} {text}"
            for n, text in zip(range(lo, hi + 1), shown)]
