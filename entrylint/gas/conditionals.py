"""``.if`` and friends: the conditional stack of the GAS reading loop.

Inside a skipped branch only conditional directives are looked at (to keep
their nesting), as GAS does; everything else is dropped unread.
"""

from __future__ import annotations

import re
import weakref
from typing import TYPE_CHECKING

from entrylint.gas import lex
from entrylint.gas.expr import evaluate
from entrylint.source import ProblemKind
from entrylint.source.record import data

if TYPE_CHECKING:
    from entrylint.gas.expander import Expander
    from entrylint.gas.model import BodyLine

NON_CONSTANT = "non-constant expression in"  # an .if* GNU as cannot evaluate (unknown_generated)


def unknown_generated(gas: list, problems: list) -> list:
    """GNU as's problems; where a header only a kernel build writes is
    missing (its definitions are unknown: ``problems``, the preprocessor's,
    say so), an ``.if`` whose value could not be worked out reads symbols
    that header may define (``ZO_*`` of ``zoffset.h``): a check that says
    so, not an assembler error of the tree."""
    from entrylint.source import Problem

    if not any(p.kind is ProblemKind.GENERATED_HEADER for p in problems):
        return gas
    return [Problem(ProblemKind.GENERATED_HEADER, f"{p.message}: a header a kernel build writes may define "
                    f"its symbols (give an O= build folder with --build DIR); read as false", p.location, p.trace)
            if p.kind is ProblemKind.ASM_ERROR and p.message.startswith(NON_CONSTANT) else p for p in gas]


_SYMBOL_RE = re.compile(r"\s*(" + lex.NAME + r")\s*$")


@data
class _Entry:
    opener: BodyLine
    outer: bool  # the enclosing branch is live
    done: bool  # some branch of this .if was taken already
    active: bool  # the current branch is live
    seen_else: bool = False


class CondStack:
    HANDLERS = frozenset((".if", ".ifeq", ".ifne", ".ifge", ".ifgt", ".ifle", ".iflt",
                          ".ifdef", ".ifndef", ".ifnotdef", ".ifc", ".ifnc", ".ifeqs",
                          ".ifnes", ".ifb", ".ifnb", ".else", ".elseif", ".endif"))

    def __init__(self, owner: Expander):
        self.owner = weakref.proxy(owner)  # (the expander owns this stack: no cycle)
        self.stack: list[_Entry] = []

    @property
    def skipping(self) -> bool:
        return bool(self.stack) and not self.stack[-1].active

    def truncate(self, depth: int) -> None:
        del self.stack[depth:]

    def unclosed(self) -> None:
        for e in self.stack:
            self.owner.problem(ProblemKind.UNBALANCED_BLOCK,
                               f".if at {e.opener.trace[0].location} has no .endif", e.opener)
        self.stack.clear()

    def handle(self, name: str, args: str, item: BodyLine) -> None:
        if name == ".endif":
            if not self.stack:
                self.owner.problem(ProblemKind.UNBALANCED_BLOCK, ".endif without .if", item)
            else:
                self.stack.pop()
            return
        if name in (".else", ".elseif"):
            if not self.stack:
                self.owner.problem(ProblemKind.UNBALANCED_BLOCK, f"{name} without .if", item)
                return
            top = self.stack[-1]
            if top.seen_else:
                self.owner.problem(ProblemKind.UNBALANCED_BLOCK, f"{name} after .else", item)
            if name == ".else":
                top.seen_else = True
                top.active = top.outer and not top.done
            elif top.done or not top.outer:
                top.active = False
            else:
                top.active = self.test(".if", args, item)
            top.done = top.done or top.active
            return
        outer = not self.skipping
        taken = self.test(name, args, item) if outer else False
        self.stack.append(_Entry(item, outer, taken or not outer, taken))

    def test(self, name: str, args: str, item: BodyLine) -> bool:
        if name in (".ifdef", ".ifndef", ".ifnotdef"):
            m = _SYMBOL_RE.match(args)
            if not m:
                self.owner.problem(ProblemKind.ASM_ERROR, f"{name}: expected a symbol name", item)
                return False
            return (m.group(1) in self.owner.defined) == (name == ".ifdef")
        if name in (".ifc", ".ifnc", ".ifeqs", ".ifnes"):
            a, rest = lex.string_operand(args)
            b, _ = lex.string_operand(rest)
            return (a == b) == (name in (".ifc", ".ifeqs"))
        if name in (".ifb", ".ifnb"):
            return (args.strip() == "") == (name == ".ifb")
        value = evaluate(args, self.owner.values)
        if value is None:
            self.owner.problem(ProblemKind.ASM_ERROR, f"{NON_CONSTANT} {name}: `{args}'", item)
            value = 0
        return {".if": value != 0, ".ifne": value != 0, ".ifeq": value == 0,
                ".ifge": value >= 0, ".ifgt": value > 0, ".ifle": value <= 0,
                ".iflt": value < 0}[name]
