"""Where each instruction and code datum sits (``--layout``): offsets and
sizes from assembling the whole expansion in one GNU as run."""

from __future__ import annotations

from entrylint.program.decode import assemble_program
from entrylint.source import Problem, ProblemKind


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
