"""The program of an edited text made from the last one where the edit put
plain instructions in or took them out (the language server's path after a
line of code is added or deleted, in the file or in a macro's body, or
moved: cut and pasted back elsewhere in one change).

After such an edit every other statement is the last build's, in the same
order, most of them a few lines up or down (their places moved:
relocate.py) -- alike in all that ``build_program`` reads of a statement
but its place (kind, name, arguments, section, the cpp macros that wrote
it), and the cpp macros alike but for theirs.  The build of the new
statements is the last one with every instruction after one put in one
further and after one taken out one nearer: each index the program holds
(branch targets, labels, symbols, alternatives, exception-table entries, a
code label's address) moved as the instructions are, and each record that
holds a statement or a place holding the new statement (and its place).
6.12's entry_64.S is 9.7k statements: its build was 18 ms of a line
edit's 120 ms re-analysis, this is 3.

What it takes (each checked here, else the program is built from the start):

* the last build was plain (patch.py: no paravirt site, no register alias)
  and had no problem, with the same symbol values, decoder and code mode;
  at most ``LIMIT`` statements put in and taken out (a line added or
  deleted: one per expansion of the macro body it is in; a line moved:
  taken out at one place and put in at another, once per expansion where
  either is in a macro's body);
* each of them an instruction that only falls through (patch.py's
  ``_plain``), of a statement of its own, naming no label, in no
  alternative (put in: in no alternative's original range, and not in the
  replacement section), with an instruction of its section that stays on
  each side (other sections' code between them passed over: an
  alternative's replacement), no prefix on a line of its own (it would
  be merged into the next instruction) and no code-mode directive between
  those two, and the instruction just before it ending no other section
  (the place one past that section's end would be its place too); put in,
  those two of one code mode.  The first instruction of a section (an
  entry's first line) has none before it: the section must be code by its
  name (a section that is code for its instructions keeps no data before
  the first), no prefix may stand between it and the instruction before it
  of any section, and no code-mode directive between it and the next one
  of its section; its labels are looked for from the file's start.

The place a label or ``.size`` gives (the first instruction of its section
at or after it) is the only index the edit can make unclear: one taken
out's is the next one's of its section; that one's after one put in is the
new one's where every label of the section and ``.size`` between the two
neighbours is before it (the last symbol label among them is its symbol),
and stays the next one's where every one is after it; on both sides the
program is built, but where those after it are annotations' labels (an
UNWIND_HINT's after an entry's label: named only by data the build passes
over), which keep the next one's.  tests/test_program_shift.py compares the result with
build_program's, in a fixture and at code lines of real entry code.
"""

from __future__ import annotations

import bisect
import re

from entrylint.program.build import (REPL_SECTION, instruction, is_local_label, label_operand, named_as_code,
                                     passed_over)
from entrylint.program.decode import code_mode, is_prefix
from entrylint.program.lineup import edits, renumbered, renumbering
from entrylint.program.model import AltFork, DataItem, Instruction, Program, Replacement, Symbol
from entrylint.program.patch import Built, _names, _plain

LIMIT = 64  # statements put in or taken out, at most (one per expansion of a macro body line)


def _alike(a, b) -> bool:
    """What build_program reads of two statements is the same but their places."""
    return a is b or (a.kind == b.kind and a.name == b.name and a.args == b.args and a.section == b.section
                      and a.cpp_macros == b.cpp_macros)


def _same_macros(a, b) -> bool:
    """Two cpp macro tables alike in what a build reads of them (macro_facts:
    names, parameters and bodies), their places aside: a ``#define`` below
    the edit is the last one at a moved place (relocate.py)."""
    if a is b:
        return True
    if a is None or b is None or len(a) != len(b):
        return False
    for name, d in a.items():
        e = b.get(name)
        if e is not d and (e is None or e.body != d.body or e.params != d.params or e.variadic != d.variadic
                           or e.name != d.name):
            return False
    return True


def align(old: list, new: list) -> tuple[list[int], list[int], object] | None:
    """(the indices in ``old`` of the statements taken out, those in ``new`` of
    the statements put in, old index -> new index) where ``new`` is ``old``
    with at most LIMIT statements put in and taken out (a line added to a
    macro's body: one per expansion; a line moved into a macro's body or
    out of one: taken out once and put in once per expansion, or the
    reverse): lineup.edits() of the statements alike but for their places,
    past the common head and tail (most of 10k statements: the same
    objects, or the last ones moved); None for any other edit."""
    n_o, n_n = len(old), len(new)
    lo, top = 0, min(n_o, n_n)
    while lo < top and (old[lo] is new[lo] or _alike(old[lo], new[lo])):
        lo += 1
    hi_o, hi_n = n_o, n_n
    while hi_o > lo and hi_n > lo and (old[hi_o - 1] is new[hi_n - 1] or _alike(old[hi_o - 1], new[hi_n - 1])):
        hi_o -= 1
        hi_n -= 1
    if abs(n_n - n_o) > LIMIT:
        return None
    got = edits(old[lo:hi_o], new[lo:hi_n], _alike)
    if got is None or len(got[0]) + len(got[1]) > LIMIT:
        return None
    gone, put = [lo + i for i in got[0]], [lo + i for i in got[1]]
    return gone, put, renumbered(gone, put)


def moved(last: Built | None, statements, macros, constants, decoder, mode: int):
    """(program, problems) of ``statements`` from ``last``; None where it must be built."""
    if last is None or not last.plain or last.problems or decoder is None or decoder is not last.decoder \
            or mode != last.mode or not _same_macros(macros, last.macros) \
            or not (constants is last.constants or constants == last.constants):
        return None
    prog = last.program
    at = prog.stmt_at
    if at is None or len(at[3]) != len(prog.forks) or prog.paravirt:
        return None
    old, new = last.statements, statements
    got = align(old, new)
    if got is None:
        return None
    gone_si, put_si, smap = got
    ins_si, data_si, sym_si, sites = at
    P = prog.instructions
    gone: list[int] = []  # the instructions taken out
    for si in gone_si:
        j = bisect.bisect_left(ins_si, si)
        if j == len(ins_si) or ins_si[j] != si:
            return None
        gone.append(j)
    for si in put_si:
        st = new[si]
        if st.kind != "insn" or not st.args and is_prefix(st.name) or label_operand(st.name, st.args) is not None:
            return None
    # the new order: the instructions kept (their old index) and those put in (None), by statement
    gone_s = set(gone)
    order = [j for j in range(len(P)) if j not in gone_s]
    new_si = [smap(ins_si[j]) for j in order]
    for si in put_si:
        k = bisect.bisect_left(new_si, si)
        new_si.insert(k, si)
        order.insert(k, None)
    pos = [-1] * (len(P) + 1)  # an old index (or one past the last) -> its new one
    for q, j in enumerate(order):
        if j is not None:
            pos[j] = q
    pos[len(P)] = len(order)
    # a place a label or .size gives: the next one's of its section after
    # one put in is the new one's where they are before it; one taken out's
    # is (then) the next one's of its section
    last_of: dict = {}  # a section -> its last instruction (asked near other sections' code)
    made = {}
    near = set()  # the old instructions next to one put in or taken out (moved_from)
    annotations: dict = {}  # labels after one put in that stay the next one's (_annotations) -> its index
    for q, j in enumerate(order):
        if j is None:
            got = _made(q, new_si[q], new, order, P, new_si, decoder, last_of, prog.code_sections)
            if got is None:
                return None
            made[q], nxt, before, stay = got
            near.add(nxt)
            if before:
                pos[nxt] = q
                annotations.update((name, q + 1) for name in stay)  # (the next one's: after it)
    try:
        kept = [None if j in gone_s else j for j in range(len(P))] if gone else None
        for j in gone:
            nxt = _next_of(P, j, kept, old, ins_si, last_of)
            near.update((j, nxt))
            pos[j] = pos[nxt]
    except _Built:
        return None
    for q, ins in made.items():  # (in no alternative's original code: its instructions would be more)
        if any(f.section == ins.section and pos[f.orig_start] <= q < pos[f.orig_end] for f in prog.forks):
            return None
    instructions = [made[q] if j is None else _moved_insn(P[j], q, new[new_si[q]], pos, new, new_si[q])
                    for q, j in enumerate(order)]
    labels = {name: pos[v] for name, v in prog.labels.items()}
    labels.update((name, v) for name, v in annotations.items() if name in labels)
    symbols = {name: _moved_symbol(s, pos, new[smap(sym_si[name])].location) for name, s in prog.symbols.items()}
    # (an alternative's instructions are none taken out: those are in none)
    forks = [_moved_fork(f, pos, new[smap(sites[f.index])]) for f in prog.forks]
    extable = [(pos[a], pos[b]) for a, b in prog.extable]
    data = []
    for d, si in zip(prog.data, data_si):
        st = new[smap(si)]
        data.append(d if st is d.stmt else DataItem(st, d.section, d.symbol, d.offset, d.size))
    out = Program(statements=list(new), instructions=instructions, symbols=symbols, labels=labels, forks=forks,
                  data=data, code_sections=set(prog.code_sections), features=dict(prog.features),
                  disabled=set(last.disabled), constants=dict(last.constants_built), paravirt=[],
                  extable=extable, decode_errors=prog.decode_errors,
                  stmt_at=(tuple(new_si), tuple(smap(si) for si in data_si),
                           {name: smap(si) for name, si in sym_si.items()}, tuple(smap(si) for si in sites)))
    # (the nodes next to a line: the instructions and the alternatives whose site they are)
    near.update(len(P) + f.index for f in prog.forks if f.orig_start in near)
    out.moved_from = (prog.token, renumbering(gone, list(made), len(P) + len(prog.forks)), frozenset(near),
                      frozenset(made))
    if all(_names(new[new_si[q]].trace) in (_names(instructions[q - 1].trace), _names(instructions[q + 1].trace))
           for q in made) and all(_names(P[j].trace) in (_names(P[j - 1].trace), _names(P[j + 1].trace)) for j in gone):
        # what later stages worked out once from the names in the traces
        # (Program.trace_names, the memory model): each instruction put in or
        # taken out has the names of an instruction next to it that stays
        out.memo.update(prog.memo)
    return out, []


SCAN = 64  # instructions of other sections passed over looking for one of the section, at most


def _neighbour(P: list, order, q: int, step: int, sec: str):
    """The instruction of section ``sec`` before (``step`` -1) or after (1)
    place ``q`` of ``order`` (old indices; None: one put in), passing over
    other sections' (an alternative's replacement between two of the code):
    its old index; None at an end, past SCAN of them, or at one put in."""
    for k in range(q + step, q + step * (SCAN + 1), step):
        if k < 0 or k >= len(order):
            return None
        j = order[k]
        if j is None:
            return None
        if P[j].section == sec:
            return j
    return None


def _first(P: list, sec: str, last_of: dict) -> int:
    """The first instruction of section ``sec`` (kept in ``last_of``, by ("first", sec))."""
    got = last_of.get(("first", sec))
    if got is None:
        got = last_of[("first", sec)] = next(i for i, x in enumerate(P) if x.section == sec)
    return got


def _last(P: list, sec: str, last_of: dict) -> int:
    got = last_of.get(sec)
    if got is None:
        got = last_of[sec] = max(i for i, x in enumerate(P) if x.section == sec)
    return got


def _past_its_section(P: list, g, sec: str, last_of: dict) -> bool:
    """Instruction ``g`` (the one before a place) is the last of a section
    other than ``sec``: the place one past that section's end is there too."""
    return g is not None and P[g].section != sec and _last(P, P[g].section, last_of) == g


def _between_ok(stmts: list, a: int, b: int, skip: int, modes: bool = True) -> bool:
    """No prefix on a line of its own (merged into the next instruction) and
    (``modes``) no code-mode directive among statements ``a+1 .. b-1`` but ``skip``."""
    for k in range(a + 1, b):
        o = stmts[k]
        if k != skip and (o.kind == "insn" and not o.args and is_prefix(o.name)
                          or modes and o.kind == "directive" and code_mode(o.name) is not None):
            return False
    return True


def _next_of(P: list, j: int, kept: list, old: list, ins_si, last_of: dict) -> int:
    """The next instruction of instruction ``j``'s section (``kept``: the old
    indices, None for those taken out), where ``j`` may be taken out (it
    only falls through, is in no alternative, has one of its section that
    stays on each side, and no prefix or code mode between them; the one
    before it globally ends no other section: a label or ``.size`` that gave
    ``j``'s place gives that one's); raises _Built otherwise."""
    x = P[j]
    if not _plain(x) or x.alt is not None:
        raise _Built
    a, b = _neighbour(P, kept, j, -1, x.section), _neighbour(P, kept, j, 1, x.section)  # (not taken out)
    # the first of its section (an entry's first line): its labels, wherever
    # the file has them before it, are the next one's then; no prefix merged
    # into it from the instruction before it, of any section (the code mode
    # it leaves is the next one's)
    if a is None and (_first(P, x.section, last_of) != j or not named_as_code(x.section)) or b is None \
            or j > 0 and _past_its_section(P, j - 1, x.section, last_of) \
            or not _between_ok(old, ins_si[a] if a is not None else ins_si[j - 1] if j > 0 else -1, ins_si[b],
                               ins_si[j], modes=a is not None):
        raise _Built
    return b


def _made(q: int, si: int, new: list, order: list, P: list, new_si: list, decoder, last_of: dict,
          code_sections):
    """(the instruction put in at ``q``, statement ``si``, as the build makes
    it; the old index of the next one of its section; whether the labels
    between those two are before it: they give its place), when its place
    and itself allow (the module's doc); else None."""
    st = new[si]
    sec = st.section
    a, b = _neighbour(P, order, q, -1, sec), _neighbour(P, order, q, 1, sec)
    if b is None or sec == REPL_SECTION or q > 0 and _past_its_section(P, order[q - 1], sec, last_of):
        return None
    # the first of its section (before an entry's first line): its labels,
    # wherever the file has them before it, are looked at from the start
    if a is None and (_first(P, sec, last_of) != b or None in order[:q] or not named_as_code(sec)):
        return None  # (a section code by its name only: one that is code for its instructions has data before them)
    prev, nxt = P[a] if a is not None else None, P[b]
    qa, qb = q - 1, q + 1
    while qa >= 0 and order[qa] != a:
        qa -= 1
    while order[qb] != b:
        qb += 1
    lo = new_si[qa] if a is not None else -1
    # (the first of its section: no prefix merged into it from the instruction
    # before it, of any section, and no code mode between it and the next)
    if prev is not None and prev.mode != nxt.mode or nxt.merged or not (
            _between_ok(new, lo, new_si[qb], si) if a is not None else
            _between_ok(new, new_si[q - 1] if q > 0 else -1, new_si[qb], si, modes=False)
            and _between_ok(new, si, new_si[qb], si)):
        return None
    symbol = prev.symbol if prev is not None else None
    marks = []  # whether each label of its section, or .size, between its neighbours is before it
    for k in range(lo + 1, new_si[qb]):
        o = new[k]
        if o.kind == "label" and o.section == sec or o.kind == "directive" and o.name == ".size":
            marks.append(k < si)
            if o.kind == "label" and k < si and not is_local_label(o.name):
                symbol = o.name
    before = bool(marks) and marks[0]
    stay = _annotations(new, si, new_si[qb], sec, code_sections) if before and not all(marks) else ()
    if stay is None or any(m is not before for m in marks[:len(marks) - len(stay)]) or before and qb != q + 1:
        # (on both sides of it: which one is on it is not clear, but for
        # annotations' labels after it; or another section's code between it
        # and the next: the place one past that section's end would be the
        # next one's, not this one's)
        return None
    ins = instruction(q, st, st.args, nxt.mode)  # (no register alias in the file: plain)
    ins.symbol = symbol
    infos, errors = decoder.infos([ins.text], [ins.mode])
    if errors or not infos or infos[0] is None:
        return None
    ins.info = infos[0]
    return (ins, b, before, stay) if _plain(ins) else None


def _annotations(new: list, si: int, hi: int, sec: str, code_sections) -> tuple | None:
    """The labels of section ``sec`` among statements ``si+1 .. hi-1`` (after
    a line put in at ``si``, before the next instruction of the section),
    when each is an annotation's (``.Lhere_N:`` of an UNWIND_HINT or
    ANNOTATE after an entry's label): a local label named only by data
    the build passes over (build.passed_over), which the program reads of nothing but its
    place -- the next instruction's, as the labels before the line give
    theirs to it -- and defined once; None when another (or a ``.size``) is
    among them."""
    names = []
    for k in range(si + 1, hi):
        o = new[k]
        if o.kind == "directive" and o.name == ".size":
            return None
        if o.kind == "label" and o.section == sec:
            if not o.name.startswith(".L"):  # (a numeric one is named as 1f, 1b: not by its name)
                return None
            names.append(o.name)
    pattern = re.compile("(?:" + "|".join(re.escape(n) for n in names) + r")(?![\w.$])")
    defined = 0
    for st in new:  # (named by what the build reads, or defined again: the program's place is the first one's)
        if st.kind == "label":
            defined += st.name in names
        elif st.args and pattern.search(st.args) and not passed_over(st, code_sections):
            return None
    return tuple(names) if defined == len(names) else None


class _Built(Exception):
    """What the edit did cannot be moved: the program is built."""


def _moved_insn(x: Instruction, q: int, st, pos: list, new: list, si: int) -> Instruction:
    """Instruction ``x`` at index ``q`` of statement ``st`` (``si``), the places it holds moved (``pos``)."""
    target = pos[x.target] if x.target is not None else None
    imm = pos[x.imm_target] if x.imm_target is not None else None
    if q == x.index and st is x.stmt and target == x.target and imm == x.imm_target:
        return x
    merged = x.merged
    if merged and st is not x.stmt:  # its prefixes on lines of their own: the new ones before it
        got = []
        b = si - 1
        while len(got) < len(merged) and b >= 0:
            o = new[b]
            if o.kind == "insn" and not o.args and is_prefix(o.name):
                got.append(o)
            b -= 1
        merged = tuple(reversed(got))
    return Instruction(q, st, x.mnemonic, x.prefixes, x.operands, x.section, x.symbol, x.alt, x.info, target,
                       x.target_name, imm, x.offset, x.size, x.args, x.mode, merged, x.encoded)


def _moved_symbol(s: Symbol, pos: list, location) -> Symbol:
    start, end = pos[s.start], pos[s.end] if s.end is not None else None
    if start == s.start and end == s.end and location is s.location:
        return s
    return Symbol(s.name, s.kind, s.section, start, end, location, s.is_global, s.type)


def _moved_fork(f: AltFork, pos: list, site) -> AltFork:
    reps = tuple(Replacement(r.feature, r.feature_bit, r.negated, r.flags, pos[r.start], pos[r.end],
                             tuple(pos[i] for i in r.insns)) for r in f.replacements)
    return AltFork(f.index, pos[f.orig_start], pos[f.orig_end], reps, site.location, f.section,
                   tuple(pos[i] for i in f.orig), site.trace)


__all__ = ["LIMIT", "align", "moved"]
