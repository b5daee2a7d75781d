"""What the GNU as macro layer hands to the program layer.

Macro-control directives (``.macro``, ``.if``..., ``.irp``, ``.rept``,
``.exitm``, ``.purgem``) are consumed here; everything else arrives as a flat
list of statements in the order the assembler sees them, each with its
expansion trace.
"""

from __future__ import annotations

from typing import Literal

from entrylint.cpp.types import Condition
from entrylint.source import Location
from entrylint.source.record import record


@record
class Frame:
    """One step of an expansion trace.  ``kind`` is ``"source"`` for the line
    as written in a file, ``"macro"`` for a GAS macro invocation (``name`` is
    the macro), ``"irp"``/``"irpc"``/``"rept"`` for a repetition, ``"cpp"``
    for a cpp macro invocation on that line (``name`` is the macro)."""

    location: Location
    kind: str = "source"
    name: str | None = None


# Outermost first: trace[0] is the line the reviewer sees (in the file that was
# analyzed); the last frame is where the statement's text was written (a macro
# body line in calling.h, say).  A statement written directly has one frame.
Trace = tuple[Frame, ...]


@record
class Stmt:
    """One assembler statement after expansion.

    kind:  ``"label"`` (``name`` is the label, numeric local labels included),
           ``"insn"`` (``name`` is the first word, lower-cased: a mnemonic or
           prefix; ``args`` the rest), ``"directive"`` (``name`` like
           ``".long"``, ``".section"``, ``".set"``), ``"assign"`` (``name =
           args``).
    section: the section the statement is in (after .section/.pushsection/...).
    cond: the presence condition: the conjunction of the line's own ``#if``s
          and those of every macro definition along the trace.
    cpp_macros: the cpp macros that produced the statement's text (e.g.
          ``("SYM_CODE_START",)``), outermost first: those of the line where it
          was written (a macro body line) when that line used any, else those
          of the invocation line.
    """

    kind: Literal["label", "insn", "directive", "assign"]
    name: str
    args: str
    section: str
    trace: Trace
    cond: Condition = ()
    cpp_macros: tuple[str, ...] = ()

    @property
    def location(self) -> Location:
        """The line the reviewer wrote: the outermost invocation site."""
        return self.trace[0].location

    @property
    def written_at(self) -> Location:
        """Where the statement's text was written (innermost frame)."""
        return self.trace[-1].location

    def text(self) -> str:
        if self.kind == "label":
            return f"{self.name}:"
        if self.kind == "assign":
            return f"{self.name} = {self.args}"
        return f"{self.name} {self.args}".rstrip()
