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
