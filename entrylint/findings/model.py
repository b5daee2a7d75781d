"""The finding: what every rule and the front end report (MODEL 2.8).

One subclass per kind of finding (pyflakes' messages.py style): the class
carries id, slug, severity and a message template; an instance carries the
facts.  Reporters render findings; they never re-analyze.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import field
from typing import Any, ClassVar

from entrylint.source import Location
from entrylint.source.record import data


class Severity(enum.Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@data(frozen=True, slots=True)
class TraceStep:
    """One frame of the expansion trace: where, and which macro was invoked there."""

    location: Location
    macro: str | None = None
    kind: str = "source"


@data(frozen=True, slots=True)
class PathStep:
    """One step of the path from an entry point to the fault (state rules)."""

    location: Location
    note: str
    state: str = ""


@data(frozen=True)
class Finding:
    """Base of every finding kind.  Subclasses set ``id``, ``slug``,
    ``severity`` and ``template`` (a ``str.format`` string over ``args``)."""

    id: ClassVar[str] = "EL000"
    slug: ClassVar[str] = "finding"
    severity: ClassVar[Severity] = Severity.WARNING
    template: ClassVar[str] = "{message}"
    # (state field, bad value) when the fault is a bad state value (MODEL 3):
    # later steps that only inherit it become sites of the first (group.py)
    state_fault: ClassVar[tuple[str, str] | None] = None

    location: Location | None
    args: dict[str, Any] = field(default_factory=dict)
    trace: tuple[TraceStep, ...] = ()
    path: tuple[PathStep, ...] = ()
    profiles: tuple[str, ...] = ()
    assumptions: tuple[str, ...] = ()
    symbol: str | None = None
    context: str = ""  # normalized instruction/source text the fingerprint is built from
    # one fault, one finding (MODEL 8): the expansion sites of a macro line
    # every expansion of which yields this finding (reported at the macro line)
    sites: tuple[Location, ...] = ()
    # what the sites are: "expansions" (of the macro line reported), or
    # "places" (one fault of the file, e.g. a mitigation the tree lacks)
    sites_kind: str = "expansions"
    # one fault along a path (MODEL 8): the later steps that only inherit this
    # finding's state fault (group.py: group_inherited), reported as its sites
    later: tuple[Location, ...] = ()
    # the instructions (indexes in the analysed program) this finding stands
    # for, and the walk's (node, tuple, context) its path ends at
    # (analysis.forward.pred leads back to the entry): how group.py tells that
    # a later finding came through this one (not shown, not part of the
    # fingerprint)
    nodes: tuple[int, ...] = field(default=(), compare=False, repr=False)
    key: tuple | None = field(default=None, compare=False, repr=False)

    @property
    def message(self) -> str:
        return self.template.format(**self.args)

    @property
    def sites_phrase(self) -> str:
        """``in 3 expansions`` / ``in 1 expansion`` / ``in 2 places``."""
        n = len(self.sites)
        return f"in {n} {self.sites_kind if n != 1 else self.sites_kind.removesuffix('s')}"

    @property
    def later_phrase(self) -> str:
        """``in 2 later steps`` / ``in 1 later step``."""
        n = len(self.later)
        return f"in {n} later step{'s' if n != 1 else ''}"

    @property
    def fingerprint(self) -> str:
        """Stable across unrelated edits: rule, file name, symbol and the
        normalized context, not line numbers."""
        fname = self.location.file.rsplit("/", 1)[-1] if self.location else ""
        key = "\x1f".join((self.id, fname, self.symbol or "", " ".join(self.context.split()) or self.message))
        return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:16]

    def sort_key(self) -> tuple:
        loc = self.location or Location("", 0, 0)
        return (loc.file, loc.line, loc.col, self.id, self.message)

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        return f"{where}{self.severity.value}: {self.message} [{self.id} {self.slug}]"


def numbered(findings) -> list[tuple[tuple[str, str, int], Finding]]:
    """Each finding with (rule, fingerprint, how many before it in
    ``findings`` have both).  A fingerprint leaves line numbers out (MODEL
    2.8), so a second fault with the same text in the same symbol shares the
    first one's: the count tells them apart where findings are matched
    (baselines, patch review)."""
    seen: dict[tuple[str, str], int] = {}
    out = []
    for f in findings:
        k = (f.id, f.fingerprint)
        seen[k] = seen.get(k, -1) + 1
        out.append(((*k, seen[k]), f))
    return out
