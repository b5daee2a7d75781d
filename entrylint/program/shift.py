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
  at most ``LIMIT`` statements put in, or taken out, or one taken out at
  one place and put in at another;
* each of them an instruction that only falls through (patch.py's
  ``_plain``), of a statement of its own, naming no label, in no
  alternative, between two instructions of its section with no other
  instruction statement between them (a prefix on a line of its own
  would be merged into it); put in, those two in no alternative, of one
  code mode, and no code-mode directive between them.

The place a label or ``.size`` gives (the first instruction of its section
at or after it) is the only index the edit can make unclear: one taken
out's is the next one's; the next one's after one put in is the new one's
where every label and ``.size`` between its neighbours is before it (then
in its section: the last symbol label among them is its symbol), else
stays the next one's where every one is after it, else (on both sides)
the program is built.  tests/test_program_shift.py compares the result
with build_program's, in a fixture and at code lines of real entry code.
"""

from __future__ import annotations

import bisect

from entrylint.program.build import instruction, is_local_label, label_operand
from entrylint.program.decode import code_mode, is_prefix
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
    with at most LIMIT statements put in (a line added to a macro's body: one
    per expansion) or taken out, or one taken out at one place and put in
    at another (a line moved); None for any other edit."""
    n_o, n_n = len(old), len(new)
    lo, top = 0, min(n_o, n_n)
    while lo < top and (old[lo] is new[lo] or _alike(old[lo], new[lo])):
        lo += 1
    hi_o, hi_n = n_o, n_n
    while hi_o > lo and hi_n > lo and (old[hi_o - 1] is new[hi_n - 1] or _alike(old[hi_o - 1], new[hi_n - 1])):
        hi_o -= 1
        hi_n -= 1
    d = n_n - n_o
    if n_o == n_n:
        if lo == n_o:  # (no statement but moved: a line of no code added or deleted above them)
            return [], [], lambda si: si
        if hi_o - lo < 2:
            return None
        if all(map(_alike, old[lo + 1:hi_o], new[lo:hi_n - 1])):  # taken out at lo, put in before old hi
            return [lo], [hi_n - 1], lambda si: si - 1 if lo < si < hi_o else si
        if all(map(_alike, old[lo:hi_o - 1], new[lo + 1:hi_n])):  # taken out before old hi, put in at lo
            return [hi_o - 1], [lo], lambda si: si + 1 if lo <= si < hi_o - 1 else si
        return None
    if abs(d) > LIMIT:
        return None
    # the shorter list's middle in the longer one's, in order: the others are put in (taken out)
    short, long_ = (old, new) if d > 0 else (new, old)
    s_hi = hi_o if d > 0 else hi_n
    extra: list[int] = []
    into: list[int] = []  # the shorter middle's statements -> their index in the longer list
    i = lo
    for j in range(lo, hi_n if d > 0 else hi_o):
        if i < s_hi and (short[i] is long_[j] or _alike(short[i], long_[j])):
            into.append(j)
            i += 1
        else:
            extra.append(j)
            if len(extra) > abs(d):
                return None
    if i != s_hi or len(extra) != abs(d):
        return None
    if d > 0:
        def smap(si: int) -> int:
            return si if si < lo else si + d if si >= hi_o else into[si - lo]

        return [], extra, smap
    back = {j: k for k, j in enumerate(into, lo)}  # the longer (old) middle's kept -> their new index

    def smap(si: int) -> int:
        return si if si < lo else si + d if si >= hi_o else back[si]

    return extra, [], smap


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
        if j == len(ins_si) or ins_si[j] != si or not _gone_ok(P, j, old, ins_si):
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
    # a place a label or .size gives: one taken out's is the next one's; the
    # next one's after one put in is the new one's where they are before it
    for j in gone:
        pos[j] = pos[j + 1]
    made = {}
    for q, j in enumerate(order):
        if j is None:
            got = _made(q, new_si[q], new, order, P, new_si, decoder)
            if got is None:
                return None
            made[q], before = got
            if before:
                pos[order[q + 1]] = q
    instructions = [made[q] if j is None else _moved_insn(P[j], q, new[new_si[q]], pos, new, new_si[q])
                    for q, j in enumerate(order)]
    labels = {name: pos[v] for name, v in prog.labels.items()}
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
    if all(_names(new[new_si[q]].trace) in (_names(instructions[q - 1].trace), _names(instructions[q + 1].trace))
           for q in made) and all(_names(P[j].trace) in (_names(P[j - 1].trace), _names(P[j + 1].trace)) for j in gone):
        # what later stages worked out once from the names in the traces
        # (Program.trace_names, the memory model): each instruction put in or
        # taken out has the names of an instruction next to it that stays
        out.memo.update(prog.memo)
    return out, []


def _gone_ok(P: list, j: int, old: list, ins_si) -> bool:
    """Instruction ``j`` may be taken out: it only falls through, is in no
    alternative, and the instructions before and after it are of its
    section, with no other instruction statement between them (a label or
    ``.size`` that gave its place gives the next one's)."""
    if j == 0 or j + 1 >= len(P) or not _plain(P[j]) or P[j].alt is not None:
        return False
    sec = P[j].section
    if P[j - 1].section != sec or P[j + 1].section != sec:
        return False
    return not any(old[b].kind == "insn" for b in range(ins_si[j - 1] + 1, ins_si[j + 1]) if b != ins_si[j])


def _made(q: int, si: int, new: list, order: list, P: list, new_si: list, decoder):
    """(the instruction put in at ``q``, statement ``si``, as the build makes
    it; whether the labels next to it are before it: they give its place),
    when its place and itself allow (the module's doc); else None."""
    if q == 0 or q + 1 >= len(order) or order[q - 1] is None or order[q + 1] is None:
        return None
    prev, nxt = P[order[q - 1]], P[order[q + 1]]
    st = new[si]
    sec = st.section
    if prev.section != sec or nxt.section != sec or prev.alt is not None or nxt.alt is not None \
            or prev.mode != nxt.mode or nxt.merged:
        return None
    symbol = prev.symbol
    marks = []  # (before it, a label or .size of its section) between its neighbours
    for b in range(new_si[q - 1] + 1, new_si[q + 1]):
        o = new[b]
        kind = o.kind
        if b == si or kind == "assign":
            continue
        if kind == "insn" or kind == "directive" and code_mode(o.name) is not None:
            return None
        if kind == "label" or o.name == ".size":
            marks.append((b < si, o.section == sec))
            if kind == "label" and b < si and not is_local_label(o.name):
                symbol = o.name
    before = bool(marks) and marks[0][0]
    if any(m != (before, True) for m in marks) if before else any(m[0] for m in marks):
        return None  # (on both sides of it, or one of another section before it)
    ins = instruction(q, st, st.args, prev.mode)  # (no register alias in the file: plain)
    ins.symbol = symbol
    infos, errors = decoder.infos([ins.text], [ins.mode])
    if errors or not infos or infos[0] is None:
        return None
    ins.info = infos[0]
    return (ins, before) if _plain(ins) else None


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
