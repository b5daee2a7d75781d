"""The program of an edited text made from the last one (the language
server's path: an operand retyped, a register read instead of another).

``build_program`` is a pass over every statement (12k for 6.12's
entry_64.S: 18 ms of an 80 ms re-analysis).  Where the new statements are
the last build's but for instructions that only fall through -- in both
texts: no jump, call, return or label named, no prefix on a line of its
own -- every label, symbol, alternative, section and exception-table entry
is where it was, and the program is the last one with those instructions
made again (what ``build_program`` would give: tests/test_program_patch.py
builds both).  An instruction the assembler refuses is one of them: a line
being typed (``movq %rax, %r``) is refused at most keystrokes, and the
build reads it as falling through, with the assembler's message as a
problem; the patched program's problems are the last build's with the
errors of the instructions made again replaced, in the build's order
(from ``Program.decode_errors``, where they start).  Anything else (a statement added
or removed, a label, a directive, a register alias in the file, paravirt
sites, whose native side is read from the text) is built from the start.
The program says which instructions were made again (``patched_from``):
its analysis takes the last one's CFG, call structure and per-node effects
but at those (analysis/carry.py).
"""

from __future__ import annotations

from dataclasses import replace

from entrylint.program.build import decode_problem, instruction, label_operand
from entrylint.program.effects import Flow
from entrylint.program.model import Instruction, Program
from entrylint.source.record import data


@data
class Built:
    """One build_program call and what it read: the next edit's patched()
    and shift.moved() compare them."""

    statements: list  # the GNU as statements it was given
    program: Program  # as build_program left it
    problems: list
    macros: object  # the cpp macros, the symbol values, the decoder and the code mode it was given
    constants: object
    decoder: object
    mode: int
    disabled: frozenset  # program.disabled as built (api.expand adds the configuration's to it)
    constants_built: dict  # program.constants as built
    plain: bool  # no paravirt site and no register alias (``X = %reg``, ``.set X, %reg``) in the statements


_EQUATES = (".set", ".equ", ".equiv", ".eqv")  # (``X = %reg`` and these: a register alias)


def built(statements, program: Program, problems: list, macros, constants, decoder, mode: int,
          plain: bool | None = None) -> Built:
    """``plain``: known (a program patched() made: as plain as the last one, it changed instructions only)."""
    if plain is None:
        plain = not program.paravirt and not any(
            (st.kind == "assign" or st.kind == "directive" and st.name in _EQUATES) and "%" in st.args
            for st in statements)
    return Built(list(statements), program, list(problems), macros, constants, decoder, mode,
                 frozenset(program.disabled), dict(program.constants), plain)


def patched(last: Built | None, statements, macros, constants, decoder, mode: int):
    """(program, problems) of ``statements`` from ``last``; None where it must be built."""
    if last is None or not last.plain or decoder is None or decoder is not last.decoder or mode != last.mode \
            or len(statements) != len(last.statements) \
            or not (macros is last.macros or macros == last.macros) \
            or not (constants is last.constants or constants == last.constants):
        return None
    old = last.statements
    moved: dict[int, object] = {}  # id(old statement) -> the new one, equal to it
    changed: list[tuple[object, object]] = []  # (old, new) statements that differ
    for a, b in zip(old, statements):
        if a is not b:
            if a == b:
                moved[id(a)] = b
            elif a.kind != "insn" or b.kind != "insn":
                return None  # (no instruction retyped: lines moved -- shift.py's -- or anything else)
            else:
                changed.append((a, b))
    if not changed and not moved:
        return None  # (the same statements: the program was taken whole before this is asked)
    prog = last.program
    by_stmt = {id(i.stmt): i for i in prog.instructions} if changed else {}
    made: dict[int, Instruction] = {}  # instruction index -> made again
    problems, start = list(last.problems), prog.decode_errors
    if changed:
        # the instructions the assembler refused: those the decoder left
        # without a record (with an assembler at hand, each has its error)
        refused = [i.index for i in prog.instructions if i.info is None]
        if start is None or not getattr(decoder, "available", True) or start + len(refused) > len(problems) \
                or any(problems[start + k].location != prog.instructions[i].location for k, i in enumerate(refused)):
            return None
        messages: dict[int, str] = {}  # instruction made again -> the assembler's refusal of it
        for a, b in changed:
            ins = by_stmt.get(id(a))
            if ins is None or not _plain(ins) or b.kind != "insn" or b.section != a.section \
                    or (not b.args and _is_prefix(b.name)):
                return None
            got = _insn(ins, b, decoder)
            if got is None:
                return None
            made[ins.index], msg = got
            if msg is not None:
                messages[ins.index] = msg
        # a problem at an edited place, but the decoder's error of an
        # instruction made again, is not carried over: built
        places = {a.location for a, _ in changed}
        own = {start + k for k, i in enumerate(refused) if i in made}
        if any(p.location in places for k, p in enumerate(problems) if k not in own):
            return None
        # the decoder's errors, in instruction order as the build gives them:
        # those of the instructions made again as they are now
        was = dict(zip(refused, problems[start:start + len(refused)]))
        problems[start:start + len(refused)] = [decode_problem(made[i], messages[i]) if i in messages else was[i]
                                                for i in sorted([i for i in refused if i not in made] + list(messages))]
    out = Program(statements=list(statements),
                  instructions=[made.get(i.index) or (replace(i, stmt=moved[id(i.stmt)]) if id(i.stmt) in moved
                                                      else i) for i in prog.instructions],
                  symbols=dict(prog.symbols), labels=dict(prog.labels), forks=list(prog.forks),
                  data=[replace(d, stmt=moved[id(d.stmt)]) if id(d.stmt) in moved else d for d in prog.data],
                  code_sections=set(prog.code_sections), features=dict(prog.features),
                  disabled=set(last.disabled), constants=dict(last.constants_built),
                  paravirt=list(prog.paravirt), extable=list(prog.extable),
                  patched_from=(prog.token, frozenset(made)), decode_errors=start, stmt_at=prog.stmt_at)
    if all(_names(a.trace) == _names(b.trace) for a, b in changed):
        # what later stages worked out once from the names in the traces
        # (Program.trace_names, the memory model): the same names
        out.memo.update(prog.memo)
    return out, problems


def _names(trace) -> list:
    return [(f.kind, f.name) for f in trace]


def _is_prefix(name: str) -> bool:
    from entrylint.program.decode import is_prefix

    return is_prefix(name)


def _plain(ins: Instruction) -> bool:
    """An instruction of a statement of its own that only falls through --
    or that the assembler refused (no record: a line being typed, which the
    analysis reads as falling through) --, names no label and has no place
    of its own."""
    info = ins.info
    if info is not None and (info.flow is not Flow.NEXT or getattr(info, "target", None) is not None):
        return False
    return (not ins.encoded and not ins.merged and not ins.prefixes and ins.target is None
            and ins.target_name is None and ins.imm_target is None and ins.offset is None)


def _insn(ins: Instruction, st, decoder) -> tuple[Instruction, str | None] | None:
    """``ins`` made again from statement ``st`` as build_program makes it,
    when it is as plain, and the assembler's refusal of it (None: decoded)."""
    if label_operand(st.name, st.args) is not None:  # (a label's address: build_program's imm_target)
        return None
    new = instruction(ins.index, st, st.args, ins.mode)  # (no alias in the file: plain)
    new.symbol, new.alt = ins.symbol, ins.alt
    infos, errors = decoder.infos([new.text], [new.mode])
    if errors:
        return (new, errors[0][1]) if _plain(new) else None
    if not infos or infos[0] is None:
        return None  # (no assembler: nothing decoded and no message)
    new.info = infos[0]
    return (new, None) if _plain(new) else None
