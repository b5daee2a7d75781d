"""EL9xx: the front end could not read the input as cpp and GNU as would.

Analysis goes on with what is known; these findings say where the model of
the file may be incomplete.  ``from_problem`` turns the plain ``Problem``
records of the front-end layers into findings (the way pyflakes' ``check()``
turns a SyntaxError into a report).
"""

from __future__ import annotations

from entrylint.findings.model import Finding, Severity, TraceStep
from entrylint.source import Problem, ProblemKind
from entrylint.source.limits import hit


class FrontEndFinding(Finding):
    severity = Severity.ERROR
    template = "{message}"


class MissingInclude(FrontEndFinding):
    id, slug = "EL901", "missing-include"


class UnknownMnemonic(FrontEndFinding):
    id, slug = "EL902", "unknown-mnemonic"


class UnknownDirective(FrontEndFinding):
    id, slug = "EL903", "unknown-directive"


class UnbalancedBlock(FrontEndFinding):
    id, slug = "EL904", "unbalanced-block"


class BadMacroArguments(FrontEndFinding):
    id, slug = "EL905", "bad-macro-arguments"


class LimitHit(FrontEndFinding):
    id, slug = "EL906", "limit-hit"


class UnreadableInput(FrontEndFinding):
    id, slug = "EL907", "unreadable-input"


class PreprocessorError(FrontEndFinding):
    id, slug = "EL908", "preprocessor-error"


class AssemblerError(FrontEndFinding):
    id, slug = "EL909", "assembler-error"


class AssemblerUnavailable(FrontEndFinding):
    id, slug = "EL910", "assembler-unavailable"
    severity = Severity.WARNING


class GeneratedHeaderMissing(FrontEndFinding):
    """Expected in a source tree without a build: what the header would define
    (asm-offsets constants, syscall numbers) stays unknown."""

    id, slug = "EL911", "generated-header-missing"
    severity = Severity.INFO


BY_KIND: dict[ProblemKind, type[FrontEndFinding]] = {
    ProblemKind.MISSING_INCLUDE: MissingInclude,
    ProblemKind.UNKNOWN_MNEMONIC: UnknownMnemonic,
    ProblemKind.UNKNOWN_DIRECTIVE: UnknownDirective,
    ProblemKind.UNBALANCED_BLOCK: UnbalancedBlock,
    ProblemKind.BAD_MACRO_ARGS: BadMacroArguments,
    ProblemKind.LIMIT: LimitHit,
    ProblemKind.UNREADABLE: UnreadableInput,
    ProblemKind.CPP_ERROR: PreprocessorError,
    ProblemKind.ASM_ERROR: AssemblerError,
    ProblemKind.NO_ASSEMBLER: AssemblerUnavailable,
    ProblemKind.GENERATED_HEADER: GeneratedHeaderMissing,
}

ALL = tuple(BY_KIND.values())


def from_problem(p: Problem, profiles: tuple[str, ...] = ()) -> FrontEndFinding:
    cls = BY_KIND[p.kind]
    trace = tuple(TraceStep(f.location, getattr(f, "name", None), getattr(f, "kind", "source"))
                  for f in p.trace)
    loc = trace[0].location if trace else p.location
    return cls(location=loc, args={"message": p.message}, trace=trace, profiles=profiles,
               context=p.message)


def capped(problems: list[Problem], limits) -> list[Problem]:
    """The first ``limits.problems`` problems of each kind, in order, and for
    a kind with more, one limit problem at the first left out that says how
    many more there are: 100k lines of a mnemonic GNU as does not know are one
    fault to fix, not 100k findings to make, sort and print (as a compiler's
    error limit)."""
    cap = limits.problems
    counts: dict[ProblemKind, int] = {}
    first_cut: dict[ProblemKind, Problem] = {}
    out = []
    for p in problems:
        n = counts[p.kind] = counts.get(p.kind, 0) + 1
        if n <= cap:
            out.append(p)
        elif n == cap + 1:
            first_cut[p.kind] = p
    for kind, p in first_cut.items():
        out.append(Problem(ProblemKind.LIMIT, hit(limits, "problems", f"{counts[kind] - cap} more {kind.value} "
                                                  "problems are not shown"), p.location, p.trace))
    return out
