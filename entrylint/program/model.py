"""The program: what the expanded statements mean as code (MODEL 2.4).

Plain data, built once by ``program.build`` and read by the analysis.
Instructions are numbered in program order (the order GNU as sees them,
across sections); an alternative's original and replacement instructions
are both present, tied together by an ``AltFork``.
"""

from __future__ import annotations

from dataclasses import field

from entrylint.cpp.types import Condition
from entrylint.gas.types import Stmt, Trace
from entrylint.source import Location
from entrylint.source.record import data


@data(frozen=True, slots=True)
class AltSide:
    """Where an instruction sits in an alternative: ``side`` is ``"orig"`` or
    ``"repl"``; ``feature`` is the CPU feature of the replacement (for the
    original side of a fork with several replacements, the first one's);
    ``negated`` when the replacement applies if the feature is *absent*."""

    fork: int
    side: str
    feature: str
    negated: bool = False
    replacement: int | None = None  # index into AltFork.replacements for side == "repl"


@data(frozen=True, slots=True)
class Replacement:
    feature: str
    feature_bit: int
    negated: bool
    flags: int  # the patching flags besides "not" (e.g. direct call)
    start: int  # position range [start, end) in the replacement section ...
    end: int
    insns: tuple[int, ...] = ()  # ... and the instructions of that section in it, in order


@data(frozen=True, slots=True)
class AltFork:
    """One patch site: the original instructions [orig_start, orig_end) and the
    replacements the kernel may patch in, in the order they are applied (for
    ALTERNATIVE_2 the later feature wins where both are on)."""

    index: int
    orig_start: int  # position range [orig_start, orig_end) in ``section``: instruction
    orig_end: int  # indices are global, so other sections' code may sit in between
    replacements: tuple[Replacement, ...]
    location: Location  # the line the reviewer wrote (the ALTERNATIVE invocation)
    section: str
    orig: tuple[int, ...] = ()  # the original instructions, in order
    trace: tuple = ()  # the expansion trace of the site's label (the macros it is written in)


@data(slots=True)
class Instruction:
    index: int
    stmt: Stmt
    mnemonic: str  # as written, lower case (e.g. "movq"); prefixes apart
    prefixes: tuple[str, ...]
    operands: tuple  # program.operands.Operand values
    section: str
    symbol: str | None = None
    alt: AltSide | None = None
    info: object | None = None  # program.effects.InsnInfo from the decoder, or None
    target: int | None = None  # resolved direct branch/call target (instruction index)
    target_name: str | None = None  # the label or symbol named by a direct branch/call
    imm_target: int | None = None  # a code label used as an immediate (pushq $1f) or lea'd: its position
    offset: int | None = None  # place in the section after assembling (layout), when known
    size: int | None = None
    args: str = ""  # operand text as the assembler reads it (register aliases resolved)
    mode: int = 64  # code mode: 16, 32 or 64 (.code16/.code32/.code64)
    merged: tuple[Stmt, ...] = ()  # prefix statements on lines of their own (``rep; movsb``)
    # written as bytes (``.byte 0xf3,0x0f,0x01,0xca`` for ERETU): ``stmt`` is the
    # directive (one directive may encode several instructions, all with that
    # stmt), ``mnemonic``/``args`` are the decoder's, ``info`` is set when built
    encoded: bool = False

    @property
    def location(self) -> Location:
        return self.stmt.location

    @property
    def trace(self) -> Trace:
        return self.stmt.trace

    @property
    def cond(self) -> Condition:
        return self.stmt.cond

    @property
    def text(self) -> str:
        words = " ".join((*self.prefixes, self.mnemonic))
        return f"{words} {self.args}".rstrip()

    @property
    def canonical(self) -> str | None:
        return getattr(self.info, "mnemonic", None)


@data(frozen=True, slots=True)
class Symbol:
    """A named code location.  ``kind`` is the annotation that made it, as the
    version's headers spell it (``SYM_CODE_START``, ``SYM_FUNC_START_LOCAL``,
    ``SYM_INNER_LABEL``, ``ENTRY``, ``GLOBAL``...), else ``function`` (from
    ``.type``) or ``label``."""

    name: str
    kind: str
    section: str
    start: int  # index of the first instruction at or after the label
    end: int | None  # one past the last instruction (from .size / the END annotation), if known
    location: Location
    is_global: bool = False
    type: str | None = None  # "function", "object", "notype" from .type


@data(slots=True)
class DataItem:
    """A directive that emits bytes into an executable section (padding,
    alternative ``.skip``, ``.byte`` that is not whole instructions).  A
    ``.byte`` whose bytes decode into whole instructions is not data: it
    becomes ``Instruction``s with ``encoded`` set."""

    stmt: Stmt
    section: str
    symbol: str | None
    offset: int | None = None
    size: int | None = None


@data(slots=True)
class Program:
    statements: list[Stmt]
    instructions: list[Instruction] = field(default_factory=list)
    symbols: dict[str, Symbol] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)  # named label -> instruction index
    forks: list[AltFork] = field(default_factory=list)
    data: list[DataItem] = field(default_factory=list)
    code_sections: set[str] = field(default_factory=set)
    features: dict[int, str] = field(default_factory=dict)  # CPU feature bit -> name
    disabled: set[str] = field(default_factory=set)  # features the configuration compiles out
    constants: dict[str, int] = field(default_factory=dict)  # absolute .set/.equ values
    # paravirt patch sites made forks (program.paravirt): (fork index, pv op named, e.g. "iret")
    paravirt: list[tuple[int, str | None]] = field(default_factory=list)
    extable: list[tuple[int, int]] = field(default_factory=list)  # (faulting instruction, fixup) from __ex_table
    # what later stages compute from the finished program once, not once each
    # (a macro program's traces are 100 frames deep: 100k instructions x 100 frames x 8 readers);
    # a function of the names in the traces, the symbols and the branch targets'
    # names: an edit's program made from the last one carries it (program/patch.py)
    memo: dict = field(default_factory=dict, repr=False, compare=False)
    # this program's own object, for a later one to say which it was made from
    token: object = field(default_factory=object, repr=False, compare=False)
    # (the token of the program this one was made from, the indices of the
    # instructions made again): every other instruction, label, edge and
    # section is that program's (program/patch.py); None: built
    patched_from: tuple | None = field(default=None, repr=False, compare=False)
    # (the token of the program this one was moved from by program/shift.py,
    # its nodes' new numbers -- instructions then forks, None for one taken
    # out --, the old nodes next to a line put in or taken out, whose places
    # may be another node's now -- instructions and the alternatives whose
    # site they are --, and the instructions put in): every
    # other node is that program's, numbered anew (analysis/carry.py)
    moved_from: tuple | None = field(default=None, repr=False, compare=False)
    # where in the build's problems the decoder's errors start: one for each
    # instruction it left without a record, in order (program/patch.py
    # replaces an edited instruction's); None: not decoded
    decode_errors: int | None = field(default=None, repr=False, compare=False)
    # the statements the build read them from: (the statement index of each
    # instruction, of each data item, each symbol's label by name, each
    # alternative's site label); None: a program build_program did not make
    # (program/shift.py moves them onto an edited text's statements)
    stmt_at: tuple | None = field(default=None, repr=False, compare=False)

    def trace_names(self, kind: str | None = None, instructions: bool = False) -> frozenset[str]:
        """The names in the statements' traces (``instructions``: only the
        instructions'), of frames of ``kind`` (e.g. ``"macro"``; None: every
        kind).  The program must be finished."""
        key = ("trace-names", kind, instructions)
        got = self.memo.get(key)
        if got is None:
            names: set[str] = set()
            seen: set[int] = set()
            head = None  # the head of the last statement's expansion
            for st in (i.stmt for i in self.instructions) if instructions else self.statements:
                tr = st.trace
                if not tr:
                    continue
                last = tr[-1]
                if last.name and (kind is None or last.kind == kind):
                    names.add(last.name)
                if len(tr) < 2 or tr[-2] is head:  # (the common case: the next line of one expansion)
                    continue
                head = tr[-2]
                # An expansion's statements share its head: every frame but
                # the last was made once, with the frames before it, by the
                # invocation or repetition it stands for.  Read back to the
                # first one met before (a 100-deep recursion is read once).
                # (Frames are told apart by ``id``, which is audited: one
                # call per statement cost a check 10 ms under cache.recorded.)
                for k in range(len(tr) - 2, -1, -1):
                    f = tr[k]
                    i = id(f)
                    if i in seen:
                        break
                    seen.add(i)
                    if f.name and (kind is None or f.kind == kind):
                        names.add(f.name)
            got = self.memo[key] = frozenset(names)
        return got
