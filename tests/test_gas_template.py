"""Bodies made ready once (gas/template.py) give the texts GAS's substitution gives."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from entrylint.cpp.types import plain_lines
from entrylint.gas import expand, template

_NAMES = ["a", "ab", "x.y", "$p", "n1"]


def _oracle(body: str, values: dict[str, str], counter: int | None) -> str:
    """GAS's rule read straight off a regular expression: after a backslash,
    `()` goes, `@` is the counter, a whole name is its value, else the pair stays."""
    def one(m: re.Match) -> str:
        what = m.group(1)
        if what == "()":
            return ""
        if what == "@":
            return m.group(0) if counter is None else str(counter)
        return values.get(what, m.group(0))
    return re.sub(r"\\(\(\)|[A-Za-z0-9_.$]+|.)", one, body, flags=re.S)


def _substitute(body: str, values: dict[str, str], counter: int | None) -> str:
    """One line through template.compile_line, formatted with ``values``."""
    fmt, text = template.compile_line(body, {n: i for i, n in enumerate(values)},
                                      len(values) if counter is not None else None)
    return text if fmt is None else fmt.format(*values.values(), str(counter))


def test_substitution():
    values = {"reg": "rax", "n": "3"}
    assert _substitute("jmp thunk_\\reg\\()_x ; .Lh_\\@: .byte \\n, \\nn", values, 5) == \
        "jmp thunk_rax_x ; .Lh_5: .byte 3, \\nn"
    assert _substitute(".byte \\@", {}, None) == ".byte \\@"


@pytest.mark.parametrize("body", [
    "mov \\a, \\ab", "\\a\\()b", "\\abc", "{\\a}", "}}{{ \\a", "\\@:", "\\\\a", "\\(", "x\\",
    "\\x.y+\\$p", "nop", "lea \\n1(%rip), %rax; jmp \\@f",
])
@pytest.mark.parametrize("counter", [None, 7])
def test_compiled_line_is_the_substitution(body, counter):
    values = {"a": "{0}", "ab": "r}x", "x.y": "1", "$p": "\\a", "n1": ""}
    assert _substitute(body, values, counter) == _oracle(body, values, counter)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="\\a b.$(){}@;1x\"", max_size=24), st.lists(st.text(max_size=4), min_size=5, max_size=5),
       st.one_of(st.none(), st.integers(0, 99)))
def test_compiled_line_random(body, vals, counter):
    values = dict(zip(_NAMES, vals))
    assert _substitute(body, values, counter) == _oracle(body, values, counter)


def test_rept_body_is_not_substituted():
    # `.rept` reads its body as written: `\()` and `\@` stay (GAS substitutes only .irp/.irpc symbols)
    lines = template.compile_body(expand(plain_lines(".macro M p\n\\p\\()x\n.endm\n", "t.S")).macros["m"].body,
                                  [], counter=False, substitute=False)
    assert [ln.text for ln in lines] == ["\\p\\()x"] and lines[0].fmt is None


def test_irp_in_a_macro_body_reads_each_value():
    # the body is compiled once and read with each invocation's list; the
    # macro's substitution already took `\()` out, so `\vx` is no symbol of the .irp
    src = ".macro M r\n .irp v, \\r, b\n  push \\v; pop \\v\\()x\n .endr\n.endm\nM a\nM c\n"
    got = [s.text() for s in expand(plain_lines(src, "t.S")).statements]
    assert got == ["push a", "pop \\vx", "push b", "pop \\vx", "push c", "pop \\vx", "push b", "pop \\vx"]


def _naive_merge(*conds):
    out = []
    for cond in conds:
        for c in cond:
            if c not in out:
                out.append(c)
    return tuple(out)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.integers(0, 6), max_size=8), min_size=1, max_size=3), st.booleans())
def test_merged_conditions_are_each_condition_once_in_order(picks, prefix):
    """merge_conds against the plain definition: equal conditions (equal
    objects or not) once, in the order met; a condition extending another
    (the prefix fast path) included, and one holding a condition twice."""
    from entrylint.cpp.types import Cond
    from entrylint.source import Location

    pool = [Cond(f"defined(C{k})", k % 2 == 0, Location("a.S", k + 1, 2)) for k in range(7)]
    # equal but other objects: every second pick made again
    conds = [tuple(pool[k] if j % 2 else Cond(pool[k].text, pool[k].taken, pool[k].location)
                   for j, k in enumerate(p)) for p in picks]
    if prefix and len(conds) >= 2:
        conds[1] = conds[0] + conds[1]  # the second extends the first
    assert template.merge_conds(*conds) == _naive_merge(*conds)
    assert template.merge_conds(*conds[::-1]) == _naive_merge(*conds[::-1])


def test_a_file_of_nested_ifs_and_repts_merges_in_linear_work(monkeypatch):
    """Each statement's condition is its invocation's and its body line's
    merged: with 100 ``#if``s open on every line (the if-depth limit is
    256), comparing them element by element made a fuzz input of nested
    ``#if``s and ``.rept``s run for minutes.  Where one condition extends
    the other, the merge compares them as tuples (the same objects: no
    comparison of two conditions' fields)."""
    from entrylint.cpp import CppOptions, preprocess_text
    from entrylint.cpp.types import Cond

    calls = {"eq": 0}
    real_eq = Cond.__eq__

    def eq(self, other):
        calls["eq"] += 1
        return real_eq(self, other)

    monkeypatch.setattr(Cond, "__eq__", eq)
    depth = 100
    text = "#if 1\n" * depth + ".rept 2\n.rept 2\nnop\n.endr\nnop\n.endr\n" * 20
    pp = preprocess_text(text, "nested.S", CppOptions())
    out = expand(pp.lines)
    assert sum(s.kind == "insn" for s in out.statements) == 20 * 6
    assert all(len(s.cond) == depth for s in out.statements)
    assert calls["eq"] < 10 * depth, calls  # (element by element: 120 statements x 100 x 100)
