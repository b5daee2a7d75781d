"""Options and results of the GNU as macro layer."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from entrylint.cpp.types import Condition
from entrylint.gas.types import Stmt, Trace
from entrylint.source import Location, Problem
from entrylint.source.limits import DEFAULT, Limits


@dataclass
class GasOptions:
    max_depth: int | None = None  # macro nesting (limits.macro_depth unless given)
    max_statements: int | None = None  # total output (limits.expansion_statements unless given)
    strict: bool = False  # tests: raise on an unknown directive instead of a Problem
    limits: Limits = DEFAULT

    def __post_init__(self):
        over = {}
        if self.max_depth is not None:
            over["macro_depth"] = self.max_depth
        if self.max_statements is not None:
            over["expansion_statements"] = self.max_statements
        self.limits = replace(self.limits, **over) if over else self.limits
        self.max_depth = self.limits.macro_depth
        self.max_statements = self.limits.expansion_statements


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    default: str = ""
    required: bool = False
    vararg: bool = False


@dataclass(frozen=True, slots=True)
class BodyLine:
    """One statement of a macro or repetition body, before substitution."""

    text: str
    trace: Trace  # where it was read (its last frame is where it was written)
    cond: Condition = ()
    cpp_macros: tuple[str, ...] = ()

    @property
    def location(self) -> Location:
        return self.trace[-1].location


@dataclass
class MacroInfo:
    name: str
    params: tuple[Param, ...]
    body: tuple[BodyLine, ...]
    location: Location  # the .macro line
    cond: Condition = ()
    purged: bool = False


@dataclass
class GasResult:
    statements: list[Stmt]
    problems: list[Problem]
    symbols: dict[str, int]  # absolute values from .set/.equ/=/.equiv at end of input
    macros: dict[str, MacroInfo]  # every macro defined (lower-cased name -> last definition)
    purged: list[MacroInfo] = field(default_factory=list)  # earlier definitions, purged
    peak: dict[str, int] = field(default_factory=dict)  # the largest use of each limit (by name)
