"""The GNU as reading loop: macros, conditionals, repetitions, symbols and
sections, producing the flat statement list with expansion traces.

Input is a stack of sources (the preprocessed file, then each macro or
repetition expansion pushed on top, read one statement at a time) as GAS
does it: a macro body is substituted once when invoked and its statements
are then read like any others, so ``.if`` inside a body is decided when the
expanded statement is read.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from entrylint.cpp.types import Condition, PPLine
from entrylint.gas import lex, template
from entrylint.gas.conditionals import CondStack
from entrylint.gas.directives import PASS_THROUGH
from entrylint.gas.expr import evaluate
from entrylint.gas.macros import bind_args, parse_irp, parse_macro_header
from entrylint.gas.model import BodyLine, GasOptions, GasResult, MacroInfo
from entrylint.gas.template import merge_conds, remember
from entrylint.gas.types import Frame, Stmt, Trace
from entrylint.source import Location, Problem, ProblemKind
from entrylint.source.limits import hit, together
from entrylint.source.record import data

_REPT_OPEN = frozenset((".rept", ".rep", ".irp", ".irpc"))
_SECTION_NAME_RE = re.compile(r'\s*("[^"]*"|[^\s,]+)')


class UnknownDirective(Exception):
    """Raised under ``GasOptions.strict`` for a directive GAS does not know."""


class _Limit(Exception):
    """A limit that ends the expansion of the file (its output is full)."""


class _Cut(Exception):
    """A limit that ends the expansion in progress: the reading goes on with
    the next statement of the file."""


@data
class _Source:
    items: Iterator[BodyLine]
    kind: str = "file"  # "file", "macro", "rept"
    cond_depth: int = 0
    depth: int = 0  # macro nesting


@data
class _Collect:
    kind: str  # "macro" or "rept"
    opener: BodyLine
    directive: str
    args: str
    nest: int = 1
    body: list | None = None


def file_items(lines: Sequence[PPLine]) -> Iterator[BodyLine]:
    """The statements of preprocessed lines, each located at its start column."""
    for line in lines:
        text = lex.strip_comments(line.text)
        for col, stmt in lex.split_statements(text):
            start = col + lex.leading_blank(stmt)
            labels, rest, off = lex.peel_labels(stmt)
            if labels and rest:  # the statement after labels has its own column
                yield _located(line, start, stmt[:off].strip())
                yield _located(line, col + off, rest)
            else:
                yield _located(line, start, stmt.strip())


def _located(line: PPLine, start: int, text: str) -> BodyLine:
    seg = line.segment_at(start)
    loc = seg.origin
    if not seg.macros:
        loc = Location(loc.file, loc.line, loc.col + start - seg.col)
    return BodyLine(text, (Frame(loc),), line.cond, seg.macros)



def _parse(text: str) -> tuple:
    labels, rest, _ = lex.peel_labels(text)
    return labels, lex.classify(rest)


def _merged(a: Condition, b: Condition) -> tuple:
    return merge_conds(a, b), a, b  # (a and b kept: the key is their ids)

class Expander:
    def __init__(self, opts: GasOptions):
        self.opts = opts
        self.out: list[Stmt] = []
        self.problems: list[Problem] = []
        self.values: dict[str, int] = {}  # absolute symbol values
        self.altmacro = False  # .altmacro mode: %expr and <text> macro arguments
        self.defined: set[str] = set()  # assigned symbols and labels seen
        self.macros: dict[str, MacroInfo] = {}  # active, by lower-cased name
        self.all_macros: dict[str, MacroInfo] = {}
        self.purged: list[MacroInfo] = []
        self.conds = CondStack(self)
        self.stack: list[_Source] = []
        self.collect: _Collect | None = None
        self.macro_count = 0  # GAS's \@
        self.invoked: list[str] = []  # each macro invocation's lower-cased name (GasResult.invoked)
        # statements read and instructions emitted, counted from what the
        # check's other expansions spent (GasOptions.spent)
        self.work, self.insns = opts.spent
        self.together = together(any(opts.spent))
        self.bytes = 0  # text produced by macro and repetition expansion
        self.limits = opts.limits
        self.reported: set[str] = set()  # limits already reported (each once per file)
        # the largest use of each limit seen (tools/limits_survey.py)
        self.peak = {"macro-depth": 0, "expansion-bytes": 0, "repeat-count": 0, "line-length": 0,
                     "macro-invocations": 0, "repeat-statements": 0}
        self.repeated = 0  # statements produced by repetitions (limit repeat-statements)
        self.parsed: dict[str, tuple[list[str], lex.Parsed]] = {}  # statement text -> its parse
        # (macro name, parameters, argument text) -> bind_args (a recursion binds the same texts again)
        self.bound: dict[tuple, tuple[dict[str, str], list[str], bool]] = {}
        self.templates: dict[int, tuple[template.Line, ...]] = {}  # id(MacroInfo) -> its body made ready
        self.compiled: dict[tuple, tuple] = {}  # repetition body lines made ready (template.compile_body)
        self.irp_lists: dict[tuple[str, str], tuple] = {}  # .irp/.irpc header -> parse_irp (read again in bodies)
        # (id(a), id(b)) -> (merge_conds(a, b), a, b): an invocation's condition
        # with its body lines' is merged at every line of every invocation, of
        # few distinct pairs; the entry keeps a and b, so their ids stay theirs
        self.merged: dict[tuple[int, int], tuple] = {}
        self.section = ".text"
        self.previous = ".text"
        self.section_stack: list[tuple[str, str]] = []
        self.stopped = False  # a limit ended the reading of the file

    # -- reporting -------------------------------------------------------
    def problem(self, kind: ProblemKind, message: str, item: BodyLine | None) -> None:
        if item is None:
            self.problems.append(Problem(kind, message, None))
        else:
            self.problems.append(Problem(kind, message, item.trace[0].location, item.trace))

    def over(self, name: str, what: str, item: BodyLine | None, exc: type[Exception] | None = _Cut) -> None:
        """Report limit ``name`` (once per file) and, with ``exc``, stop what ran over."""
        if name not in self.reported:
            self.reported.add(name)
            self.problem(ProblemKind.LIMIT, hit(self.limits, name, what), item)
        if exc is not None:
            raise exc

    def emit(self, kind: str, name: str, args: str, item: BodyLine, section: str | None = None) -> None:
        if kind == "insn":
            self.insns += 1
            if self.insns > self.limits.program_instructions:
                self.over("program-instructions", f"the program has more than {self.limits.program_instructions} "
                          f"instructions{self.together}", item, _Limit)
        self.out.append(Stmt(kind, name, args, section or self.section, item.trace,
                             item.cond, item.cpp_macros))

    # -- main loop -------------------------------------------------------
    def run(self, lines: Sequence[PPLine]) -> GasResult:
        self.feed(lines)
        return self.result()

    def feed(self, lines: Sequence[PPLine]) -> None:
        """Read ``lines`` (the next preprocessed lines of the file) and every
        expansion they start: feeding a file in pieces reads it as one run
        (incremental.py snapshots the state between pieces, gas/resume.py)."""
        if self.stopped:
            return
        self.stack.append(_Source(file_items(lines)))
        budget = self.opts.limits.expansion_statements
        try:
            while self.stack:
                src = self.stack[-1]
                item = next(src.items, None)
                if item is None:
                    self.stack.pop()
                    if src.kind == "macro":
                        self.conds.truncate(src.cond_depth)
                    continue
                self.work += 1
                if self.work > budget:
                    self.over("expansion-statements", f"more than {budget} statements read{self.together}", item,
                              None)
                    self.stopped = True
                    break
                try:
                    self.statement(item)
                except _Cut:
                    self.unwind()
        except _Limit:
            self.stopped = True

    def result(self) -> GasResult:
        self.finish()
        self.peak["expansion-bytes"] = self.bytes
        self.peak["expansion-statements"] = self.work
        self.peak["program-instructions"] = self.insns
        return GasResult(self.out, self.problems, dict(self.values), self.all_macros, self.purged, dict(self.peak),
                         self.invoked)

    def unwind(self) -> None:
        """Drop every expansion in progress: back to the file's own statements."""
        if len(self.stack) > 1:
            self.conds.truncate(self.stack[1].cond_depth)
            del self.stack[1:]

    def _count_bytes(self, text: str, item: BodyLine, frames: int) -> None:
        """Count what an expanded statement costs: its text and its trace (a
        reference per frame: a deep expansion costs memory and time per frame)."""
        n = len(text)
        if n > self.peak["line-length"]:
            self.peak["line-length"] = n
            if n > self.limits.line_length:  # cut before it counts: the bytes stay within one line of their limit
                self.over("line-length", f"an expanded statement of {n} characters", item)
        self.bytes += n + 8 * (frames + 1)
        if self.bytes > self.limits.expansion_bytes:
            self.over("expansion-bytes", f"macro expansion produced more than {self.limits.expansion_bytes} bytes",
                      item)

    def finish(self) -> None:
        if self.collect is not None:
            c = self.collect
            end = ".endm" if c.kind == "macro" else ".endr"
            self.problem(ProblemKind.UNBALANCED_BLOCK,
                         f"{c.directive} at {c.opener.trace[0].location} has no {end}", c.opener)
        self.conds.unclosed()

    def statement(self, item: BodyLine) -> None:
        if len(item.text) > self.limits.line_length:
            self.over("line-length", f"a statement of {len(item.text)} characters", item, None)
            return
        # an expansion reads the same texts again and again: parse each once
        labels, p = remember(self.parsed, item.text, _parse, item.text)
        if self.collect is not None:
            self.collecting(item, p)
            return
        if self.conds.skipping:
            if p.kind == "directive" and p.name in self.conds.HANDLERS:
                self.conds.handle(p.name, p.args, item)
            return
        for label in labels:
            self.defined.add(label)
            self.emit("label", label, "", item)
        if p.kind == "directive":
            self.directive(p.name, p.args, item)
        elif p.kind == "assign":
            self.assign(p.name, p.args, item)
            self.emit("assign", p.name, p.args, item)
        elif p.kind == "word":
            macro = self.macros.get(p.name.lower())
            if macro is not None:
                self.invoke(macro, p.args, item)
            else:
                self.emit("insn", p.name.lower(), p.args, item)

    # -- bodies ----------------------------------------------------------
    def collecting(self, item: BodyLine, p: lex.Parsed) -> None:
        c = self.collect
        if p.kind == "directive":
            if c.kind == "macro":
                opens, closes = p.name == ".macro", p.name == ".endm"
            else:
                opens, closes = p.name in _REPT_OPEN, p.name == ".endr"
            if opens:
                c.nest += 1
            elif closes:
                c.nest -= 1
                if c.nest == 0:
                    self.collect = None
                    if c.kind == "macro":
                        self.define_macro(c)
                    else:
                        self.repeat(c)
                    return
        c.body.append(item)

    def define_macro(self, c: _Collect) -> None:
        name, params, errors = parse_macro_header(c.args)
        for e in errors:
            self.problem(ProblemKind.BAD_MACRO_ARGS, e, c.opener)
        if not name:
            return
        key = name.lower()
        if key in self.macros:
            self.problem(ProblemKind.ASM_ERROR, f"macro `{name}' was already defined", c.opener)
            return
        if key in self.all_macros:
            self.purged.append(self.all_macros[key])
        info = MacroInfo(name, params, tuple(c.body), c.opener.trace[-1].location, c.opener.cond)
        self.macros[key] = info
        self.all_macros[key] = info

    def _depth(self) -> int:
        return self.stack[-1].depth if self.stack else 0

    def invoke(self, macro: MacroInfo, args: str, item: BodyLine) -> None:
        self.invoked.append(macro.name.lower())  # (what it reads of the macro may change what comes out)
        depth = self._depth() + 1
        if depth > self.opts.limits.macro_depth:
            self.over("macro-depth", f"macro `{macro.name}' nested deeper than {self.opts.limits.macro_depth}", item, None)
            return
        if depth > self.peak["macro-depth"]:
            self.peak["macro-depth"] = depth
        key = (id(macro), args)  # (every MacroInfo is kept while the expander lives: ids are not reused)
        values, errors, expands = remember(self.bound, key, bind_args, macro, args)
        for e in errors:
            self.problem(ProblemKind.BAD_MACRO_ARGS, e, item)
        if not expands:
            return
        if self.altmacro:
            values = {k: self.alt_value(v, item) for k, v in values.items()}
        counter = self.macro_count
        self.macro_count += 1
        self.peak["macro-invocations"] = self.macro_count
        if self.macro_count > self.limits.macro_invocations:
            self.over("macro-invocations", f"more than {self.limits.macro_invocations} macro invocations", item)
        body = self.templates.get(id(macro))
        if body is None:
            body = self.templates[id(macro)] = template.compile_body(macro.body, [p.name for p in macro.params],
                                                                     counter=True)
        argv = [values[p.name] for p in macro.params]
        argv.append(str(counter))
        head = item.trace[:-1] + (Frame(item.trace[-1].location, "macro", macro.name),)
        cond = self.merge(item.cond, macro.cond)
        self.stack.append(_Source(iter(self.lines(body, argv, head, cond, item)), "macro", len(self.conds.stack),
                                  depth))

    def merge(self, a: Condition, b: Condition) -> Condition:
        """``merge_conds(a, b)``, worked out once per pair of objects."""
        return remember(self.merged, (id(a), id(b)), _merged, a, b)[0]

    def lines(self, body: tuple[template.Line, ...], argv: list[str], head: Trace, cond: Condition,
              item: BodyLine) -> list[BodyLine]:
        """The statements of ``body`` with ``argv`` substituted, read at ``item``
        under ``head`` and ``cond`` (as ``merge_conds`` makes it); each line's text counted (its bytes and
        its length, ``_count_bytes``) before it is split."""
        items = []
        fb = 8 * (len(head) + 1)
        last_bc = last_fc = None  # (the lines of a body mostly share one condition: merged once for a run of them)
        for b in body:
            if b.fmt is None:
                text, stmts = b.text, b.statements
            else:
                text = b.fmt.format(*argv)
                stmts = template.statements(text)
            n = len(text)
            if n > self.peak["line-length"] or self.bytes + n + fb > self.limits.expansion_bytes:
                self._count_bytes(text, item, len(head))
            else:
                self.bytes += n + fb
            if stmts:
                trace = head + (b.written,)
                bc = b.cond
                if bc is not last_bc or last_fc is None:
                    last_bc, last_fc = bc, bc if not cond else cond if not bc else self.merge(cond, bc)
                macros = b.cpp_macros or item.cpp_macros
                for s in stmts:
                    items.append(BodyLine(s, trace, last_fc, macros))
        return items

    def repeat(self, c: _Collect) -> None:
        item = c.opener
        if c.directive in (".rept", ".rep"):
            count = evaluate(c.args, self.values)
            if count is None:
                self.problem(ProblemKind.ASM_ERROR, f"non-constant .rept count `{c.args}'", item)
                return
            sym, times = None, max(count, 0)
        else:
            sym, values, err = remember(self.irp_lists, (c.directive, c.args), parse_irp, c.directive, c.args)
            if err:
                self.problem(ProblemKind.ASM_ERROR, err, item)
                return
            times = len(values)
        if times > self.peak["repeat-count"]:
            self.peak["repeat-count"] = times
        if times > self.limits.repeat_count:
            self.over("repeat-count", f"{c.directive} repeats its body {times} times", item, None)
            return
        total = times * max(len(c.body), 1)
        if total > self.opts.limits.expansion_statements - self.work:
            self.over("expansion-statements", f"{c.directive} would read {total} more statements{self.together}", item,
                      None)
            return
        if total + self.insns > self.limits.program_instructions:  # (as if every line were an instruction)
            self.over("program-instructions", f"{c.directive} would produce {total} statements{self.together}", item,
                      None)
            return
        self.repeated += total
        self.peak["repeat-statements"] = max(self.peak["repeat-statements"], self.repeated)
        if self.repeated > self.limits.repeat_statements:
            self.over("repeat-statements", f"repetitions would produce more than {self.limits.repeat_statements}"
                      " statements", item, None)
            return
        kind = c.directive[1:]
        head: Trace = item.trace[:-1] + (Frame(item.trace[-1].location, kind, sym),)
        body = template.compile_body(c.body, [sym] if sym else [], counter=False, substitute=sym is not None,
                                      memo=self.compiled)
        cond = merge_conds(item.cond)
        items = []
        if sym is None:
            for _ in range(times):
                items += self.lines(body, [], head, cond, item)
        else:
            for v in values:
                items += self.lines(body, [v], head, cond, item)
        self.stack.append(_Source(iter(items), "rept", len(self.conds.stack), self._depth()))

    # -- directives ------------------------------------------------------
    def directive(self, name: str, args: str, item: BodyLine) -> None:
        handler = _HANDLERS.get(name)
        if handler is not None:
            handler(self, name, args, item)
            return
        if name in self.conds.HANDLERS:
            self.conds.handle(name, args, item)
            return
        macro = self.macros.get(name)
        if macro is not None:
            self.invoke(macro, args, item)
            return
        if name not in PASS_THROUGH:
            if self.opts.strict:
                raise UnknownDirective(f"{item.trace[0].location}: unknown directive {name}")
            self.problem(ProblemKind.UNKNOWN_DIRECTIVE, f"unknown directive `{name}'", item)
        self.emit("directive", name, args, item)

    def alt_value(self, value: str, item: BodyLine) -> str:
        """An argument in ``.altmacro`` mode: ``%expr`` is replaced by the
        expression's value in decimal, ``<text>`` by its text."""
        v = value.strip()
        if v.startswith("%"):
            n = evaluate(v[1:], self.values)
            if n is None:
                self.problem(ProblemKind.ASM_ERROR, f"non-constant expression `{v[1:]}' after %", item)
                return v
            return str(n)
        if v.startswith("<") and v.endswith(">"):
            return v[1:-1]
        return value

    def set_altmacro(self, name: str, args: str, item: BodyLine) -> None:
        self.altmacro = name == ".altmacro"
        self.emit("directive", name, args, item)

    def open_macro(self, name: str, args: str, item: BodyLine) -> None:
        self.collect = _Collect("macro", item, name, args, body=[])

    def open_rept(self, name: str, args: str, item: BodyLine) -> None:
        self.collect = _Collect("rept", item, name, args, body=[])

    def stray_end(self, name: str, args: str, item: BodyLine) -> None:
        opener = ".macro" if name == ".endm" else ".rept/.irp"
        self.problem(ProblemKind.UNBALANCED_BLOCK, f"{name} without {opener}", item)

    def exitm(self, name: str, args: str, item: BodyLine) -> None:
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i].kind == "macro":
                self.conds.truncate(self.stack[i].cond_depth)
                del self.stack[i:]
                return
        self.problem(ProblemKind.UNBALANCED_BLOCK, ".exitm outside a macro", item)

    def purgem(self, name: str, args: str, item: BodyLine) -> None:
        for word in re.split(r"[\s,]+", args.strip()):
            if not word:
                continue
            info = self.macros.pop(word.lower(), None)
            if info is None:
                self.problem(ProblemKind.ASM_ERROR, f".purgem: macro `{word}' is not defined", item)
            else:
                info.purged = True

    def assign(self, sym: str, expr: str, item: BodyLine, equiv: bool = False) -> None:
        if equiv and sym in self.defined:
            self.problem(ProblemKind.ASM_ERROR, f"symbol `{sym}' is already defined", item)
            return
        value = evaluate(expr, self.values)
        self.defined.add(sym)
        if value is None:
            self.values.pop(sym, None)
        else:
            self.values[sym] = value

    def set_directive(self, name: str, args: str, item: BodyLine) -> None:
        sym, _, expr = args.partition(",")
        sym = sym.strip()
        if not sym or not _:
            self.problem(ProblemKind.ASM_ERROR, f"{name}: expected `symbol, expression'", item)
        else:
            self.assign(sym, expr.strip(), item, equiv=name == ".equiv")
        self.emit("directive", name, args, item)

    def section_directive(self, name: str, args: str, item: BodyLine) -> None:
        old = self.section
        if name in (".section", ".pushsection"):
            m = _SECTION_NAME_RE.match(args)
            if not m:
                self.problem(ProblemKind.ASM_ERROR, f"{name} without a name", item)
            else:
                if name == ".pushsection":
                    self.section_stack.append((self.section, self.previous))
                self.previous, self.section = self.section, m.group(1).strip('"')
        elif name == ".popsection":
            if not self.section_stack:
                self.problem(ProblemKind.ASM_ERROR, ".popsection without .pushsection", item)
            else:
                self.section, self.previous = self.section_stack.pop()
        elif name == ".previous":
            self.section, self.previous = self.previous, self.section
        elif name in (".text", ".data", ".bss"):
            self.previous, self.section = self.section, name
        self.emit("directive", name, args, item, section=old)


_HANDLERS = {
    ".macro": Expander.open_macro,
    ".rept": Expander.open_rept,
    ".rep": Expander.open_rept,  # an older spelling GNU as still accepts
    ".irp": Expander.open_rept,
    ".irpc": Expander.open_rept,
    ".endm": Expander.stray_end,
    ".endr": Expander.stray_end,
    ".exitm": Expander.exitm,
    ".purgem": Expander.purgem,
    ".set": Expander.set_directive,
    ".equ": Expander.set_directive,
    ".equiv": Expander.set_directive,
    ".eqv": Expander.set_directive,
    ".section": Expander.section_directive,
    ".pushsection": Expander.section_directive,
    ".popsection": Expander.section_directive,
    ".previous": Expander.section_directive,
    ".text": Expander.section_directive,
    ".data": Expander.section_directive,
    ".bss": Expander.section_directive,
    ".altmacro": Expander.set_altmacro,
    ".noaltmacro": Expander.set_altmacro,
}


def expand(lines: Sequence[PPLine], opts: GasOptions | None = None) -> GasResult:
    """Read preprocessed lines as GNU as does; never raises on bad input
    (except ``UnknownDirective`` under ``opts.strict``)."""
    return Expander(opts or GasOptions()).run(lines)
