"""Where something is in a source file, and the plain problem records that the
front-end layers return instead of raising (pyflakes style: ``api`` turns them
into EL9xx findings)."""

from __future__ import annotations

import enum
from dataclasses import field

from entrylint.source.record import record


@record(order=True)
class Location:
    """A point in a source file. ``file`` is the path as resolved on disk;
    reporters make it relative to the tree root. ``line`` and ``col`` are 1-based."""

    file: str
    line: int
    col: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"

    def short(self) -> str:
        """``entry_64.S:530``: the file's name and the line, as a message names another place."""
        return f"{self.file.rsplit('/', 1)[-1]}:{self.line}"


class ProblemKind(enum.Enum):
    """The front-end problem kinds; each maps to one EL9xx finding class."""

    MISSING_INCLUDE = "missing-include"
    GENERATED_HEADER = "generated-header"  # a header only a kernel build writes is absent
    UNKNOWN_MNEMONIC = "unknown-mnemonic"  # unknown macro or mnemonic
    UNKNOWN_DIRECTIVE = "unknown-directive"
    UNBALANCED_BLOCK = "unbalanced-block"
    BAD_MACRO_ARGS = "bad-macro-arguments"
    LIMIT = "limit-hit"
    UNREADABLE = "unreadable-input"
    CPP_ERROR = "preprocessor-error"  # #error, a bad #if expression, bad directive
    ASM_ERROR = "assembler-error"  # GNU as rejected an expanded line
    NO_ASSEMBLER = "assembler-unavailable"


@record
class Problem:
    """Something the front end could not read as the real tools would.

    ``trace`` is an expansion trace (outermost first) when the problem arose
    inside a macro expansion; the primary location is then ``trace[0]``."""

    kind: ProblemKind
    message: str
    location: Location | None
    trace: tuple = field(default=())


def dedupe(problems: list[Problem]) -> list[Problem]:
    """``problems`` each once (by kind, message and place), in order."""
    seen = set()
    out = []
    for p in problems:
        key = (p.kind, p.message, p.location)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out
