"""Where each instruction and code datum sits (``--layout``): offsets and
sizes from assembling the whole expansion in one GNU as run.

``assemble_program(lines)`` assembles a whole flattened program and gives
each line's section, offset and bytes (also the objdump oracle's)."""

from __future__ import annotations

import re
from typing import Mapping, Sequence

from entrylint.program.decode import AS_TIMEOUT, find_assembler, run_as
from entrylint.source import Problem, ProblemKind
from entrylint.source.record import data

_CPP_MARKER = re.compile(r"^\s*#\s*\d+\s+\"")


def apply_layout(program, dec) -> list[Problem]:
    """Offsets and sizes of instructions and code data, from assembling the
    whole expansion in one run (alignment and alternative padding included)."""
    stmts = program.statements
    listing = assemble_program([st.text() for st in stmts], as_path=getattr(dec, "as_path", None))
    at = {id(st): i for i, st in enumerate(stmts)}
    taken: dict[int, int] = {}  # bytes of a `.byte` line given to its earlier encoded instructions
    for item in (*program.instructions, *program.data):
        i = at[id(item.stmt)]
        if i < len(listing.lines):
            line = listing.lines[i]
            item.offset, item.size = line.offset, len(line.bytes)
            if getattr(item, "encoded", False) and item.info is not None and line.offset is not None:
                # one `.byte` line may encode several instructions, in program order
                size = len(item.info.bytes or b"")
                item.offset, item.size = line.offset + taken.get(i, 0), size
                taken[i] = taken.get(i, 0) + size
    problems = []
    for i, msg in listing.errors:
        st = stmts[i] if 0 <= i < len(stmts) else None
        problems.append(Problem(ProblemKind.ASM_ERROR, msg, st.location if st else None,
                                st.trace if st else ()))
    return problems


@data(frozen=True, slots=True)
class AsmLine:
    """One input line of ``assemble_program``: the section it is in, its
    offset in that section (None if unknown) and the bytes it emitted."""

    section: str
    offset: int | None
    bytes: bytes


@data(frozen=True, slots=True)
class AsmListing:
    lines: tuple[AsmLine, ...]
    errors: tuple[tuple[int, str], ...]  # (input line index or -1, message)
    available: bool = True


_SECTION_DIRECTIVES = {".text": ".text", ".data": ".data", ".bss": ".bss"}


def _section_name(args: str) -> str:
    arg = args.strip()
    if arg.startswith('"'):
        end = arg.find('"', 1)
        return arg[1:end] if end > 0 else arg[1:]
    return re.split(r"[\s,]", arg, maxsplit=1)[0] if arg else ""


class _Sections:
    """Tracks the current section through .section/.pushsection/.popsection/
    .previous/.text/.data/.bss, as GNU as does.  Lines inside a ``.macro``
    definition are skipped; section switches made by macro *invocations* are
    not seen, which is why the input must be the flattened program."""

    def __init__(self) -> None:
        self.current = ".text"
        self.previous = ".text"
        self.stack: list[tuple[str, str]] = []
        self.macro_depth = 0

    def feed(self, line: str) -> None:
        stmt = line.strip()
        word, _, args = stmt.replace("\t", " ").partition(" ")
        word = word.lower()
        if word == ".macro":
            self.macro_depth += 1
        elif word == ".endm":
            self.macro_depth = max(0, self.macro_depth - 1)
        elif self.macro_depth:
            return
        elif word in _SECTION_DIRECTIVES:
            self._switch(_SECTION_DIRECTIVES[word])
        elif word == ".section" and args.strip():
            self._switch(_section_name(args))
        elif word == ".pushsection" and args.strip():
            self.stack.append((self.current, self.previous))
            self._switch(_section_name(args))
        elif word == ".popsection" and self.stack:
            self.current, self.previous = self.stack.pop()
        elif word == ".previous":
            self.current, self.previous = self.previous, self.current

    def _switch(self, name: str) -> None:
        self.previous, self.current = self.current, name


def assemble_program(
    lines: Sequence[str],
    defines: Mapping[str, int] | None = None,
    as_path: str | None = None,
    timeout: float = AS_TIMEOUT,
) -> AsmListing:
    """Assemble a flattened program (one statement per line: labels,
    directives, instructions) in one ``as --64`` run.  ``defines`` become
    ``.set NAME, VALUE`` lines in front (asm-offsets stand-ins and the like).
    cpp line markers (``# 12 "file"``) are blanked so line numbers stay ours."""
    as_path = as_path or find_assembler()
    clean = ["" if _CPP_MARKER.match(line) else line.replace("\n", " ") for line in lines]
    if not as_path:
        return AsmListing(tuple(AsmLine(".text", None, b"") for _ in clean), (), False)
    header = [f".set {name}, {value}" for name, value in (defines or {}).items()]
    run = run_as(as_path, "\n".join(header + clean) + "\n", timeout)
    first = len(header) + 1
    if run.failed:
        return AsmListing(
            tuple(AsmLine(".text", None, b"") for _ in clean), ((-1, run.failed),), True
        )
    sections = _Sections()
    counters: dict[str, int] = {}
    out: list[AsmLine] = []
    for i, line in enumerate(clean):
        sections.feed(line)
        addr, data = run.listing.get(first + i, (None, b""))
        section = sections.current
        offset = int(addr, 16) if addr else counters.get(section, 0)
        if data or addr:
            counters[section] = offset + len(data)
        out.append(AsmLine(section, offset, data))
    errors = tuple((line - first if line >= first else -1, msg) for line, msg in run.errors)
    return AsmListing(tuple(out), errors, True)
