"""EL9xx: the front end could not read the input as cpp and GNU as would.

Analysis goes on with what is known; these findings say where the model of
the file may be incomplete.  ``from_problem`` turns the plain ``Problem``
records of the front-end layers into findings (the way pyflakes' ``check()``
turns a SyntaxError into a report).
"""

from __future__ import annotations

from entrylint.findings.model import Finding, Severity, TraceStep
from entrylint.source import Problem, ProblemKind


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
