"""Options and results of the GNU as macro layer."""

from __future__ import annotations

from dataclasses import field

from entrylint.cpp.types import Condition
from entrylint.gas.types import Stmt, Trace
from entrylint.source import Location, Problem
from entrylint.source.limits import DEFAULT, Limits
from entrylint.source.record import data, record


@data
class GasOptions:
    strict: bool = False  # tests: raise on an unknown directive instead of a Problem
    limits: Limits = DEFAULT  # every bound the expander keeps (macro depth, statements, ...)
    # (statements read, instructions made) by the other GNU as expansions of
    # the same check (its earlier profiles): expansion-statements and
    # program-instructions bound a check, not each of its profiles
    spent: tuple[int, int] = (0, 0)


@data(frozen=True, slots=True)
class Param:
    name: str
    default: str = ""
    required: bool = False
    vararg: bool = False


@record
class BodyLine:
    """One statement of a macro or repetition body, before substitution."""

    text: str
    trace: Trace  # where it was read (its last frame is where it was written)
    cond: Condition = ()
    cpp_macros: tuple[str, ...] = ()

    @property
    def location(self) -> Location:
        return self.trace[-1].location


@data
class MacroInfo:
    name: str
    params: tuple[Param, ...]
    body: tuple[BodyLine, ...]
    location: Location  # the .macro line
    cond: Condition = ()
    purged: bool = False


@data
class GasResult:
    statements: list[Stmt]
    problems: list[Problem]
    symbols: dict[str, int]  # absolute values from .set/.equ/=/.equiv at end of input
    macros: dict[str, MacroInfo]  # every macro defined (lower-cased name -> last definition)
    purged: list[MacroInfo] = field(default_factory=list)  # earlier definitions, purged
    peak: dict[str, int] = field(default_factory=dict)  # the largest use of each limit (by name)
    # the lower-cased name of each macro invocation, in order (incremental.py:
    # a run that differs from the last one in a macro's definition only takes
    # the last run's rest where that rest invokes none of those macros)
    invoked: list[str] = field(default_factory=list, repr=False, compare=False)
