"""Expression evaluation and argument splitting, against GAS's measured rules."""

from __future__ import annotations

import pytest

from entrylint.gas import lex
from entrylint.gas.expr import evaluate


@pytest.mark.parametrize("text,value", [
    ("1<2", -1), ("1+2*3", 7), ("1+2<<1", 5), ("3|4+1", 8), ("!0", 1), ("-(1==1)", 1),
    ("1||0", 1), ("1&&1", 1), ("5&&0", 0), ("-1>>60", 15), ("7/-2", -3), ("1 - 1 == 0", -1),
    ("2 + 3 == 5 || 0", 1), ("8 >> 1 + 1", 5), ("0x10", 16), ("010", 8), ("0b101", 5),
    ("'a", 97), ("%rsp == %rsp", -1), ("%rsp==%rbp", 0), ("%rax != %rbx", -1),
    ("(((1 << 0) << 16) | (( 3*32+21)))", 65653), ("X * 2", 6), ("3 <> 4", -1),
])
def test_expressions(text, value):
    assert evaluate(text, {"X": 3}) == value


@pytest.mark.parametrize("text", ["undefined + 1", "1b", ".", "1/0", "(1", "%rax", "%rax + 1", ""])
def test_not_absolute(text):
    assert evaluate(text, {}) is None


def test_an_expression_read_once_is_computed_from_the_values_of_each_time():
    """The text is read once (gas/expr.py ``_compiled``); each evaluation
    reads the symbols as they are then."""
    assert [evaluate("cnt + 1", {"cnt": v}) for v in (0, 1, 41)] == [1, 2, 42]
    assert evaluate("cnt + 1", {}) is None and evaluate("cnt + 1", {"cnt": None}) is None
    assert evaluate("-X", {"X": 5}) == -5 and evaluate("-X", {"X": 0}) == 0
    assert evaluate("1/X", {"X": 0}) is None and evaluate("1/X", {"X": 1}) == 1
    assert evaluate("R == %rsp", {"R": 3}) is None  # a number against a register
    for symbols in ({}, {"X": 1}):  # what is wrong with the text is wrong whatever the values
        assert evaluate("X + (1", symbols) is None and evaluate("X +", symbols) is None
        assert evaluate("X 1", symbols) is None and evaluate("08", symbols) is None
    deep = "(" * 5000 + "1" + ")" * 5000
    assert evaluate(deep, {}) is None and evaluate("-" * 5000 + "X", {"X": 1}) is None


@pytest.mark.parametrize("args,expected", [
    ("1 , 2 3", ["1", "2", "3"]),
    ("1+ 2 3", ["1+2", "3"]),
    ("1 + 2", ["1+2"]),
    ("1 -2 3", ["1", "-2", "3"]),
    ("%rax %rbx", ["%rax", "%rbx"]),
    ('"a b" "c"', ["a b", "c"]),
    ("(1 2) 3", ["(1 2)3"]),
    ("(x)+1 y", ["(x)+1", "y"]),
    ("(1, 2)", ["(1", "2)"]),
    ("%rax, 8(%rsp)", ["%rax", "8(%rsp)"]),
    ("1,,2", ["1", "", "2"]),
])
def test_macro_argument_splitting(args, expected):
    assert [a.text for a in lex.split_args(args)] == expected


def test_keyword_arguments():
    got = [(a.keyword, a.text) for a in lex.split_args("a=1,b = 2 c=%rsp d")]
    assert got == [("a", "1"), ("b", "2"), ("c", "%rsp"), (None, "d")]


def test_labels_and_classification():
    assert lex.peel_labels("a: b : 1: nop") == (["a", "b", "1"], "nop", 10)
    assert lex.classify("x = 1").kind == "assign"
    assert lex.classify("x == 1").kind == "word"
    assert lex.classify(".BYTE 1") == lex.Parsed("directive", ".byte", "1")
    assert lex.classify("ALTERNATIVE_2(a, b)") == lex.Parsed("word", "ALTERNATIVE_2", "(a, b)")
    assert lex.strip_comments('movq $1, %rax # "x" ; y') == "movq $1, %rax "
    assert lex.split_statements('a ; .ascii ";" ; b') == [(0, "a "), (3, ' .ascii ";" '), (16, " b")]
    assert lex.split_statements("a ;; b;  ;c") == [(0, "a "), (4, " b"), (10, "c")]  # (no string)


def test_binding_stops_splitting_at_a_vararg_parameter(monkeypatch):
    # a macro that passes \p\p to itself doubles its argument text each level:
    # binding read it to its end at every level (19 s for macro:22800 of seed 11)
    from entrylint.gas.macros import bind_args, parse_macro_header
    from entrylint.gas.model import MacroInfo
    from entrylint.source import Location

    made = []

    class Counted(lex.Arg):
        __slots__ = ()

        def __init__(self, *a, **kw):
            made.append(1)
            super().__init__(*a, **kw)

    monkeypatch.setattr(lex, "Arg", Counted)
    name, params, _ = parse_macro_header("M first, rest:vararg")
    macro = MacroInfo(name, params, (), Location("m.S", 1, 1))
    made.clear()
    values, errors, expands = bind_args(macro, "a, " + ", ".join(["x y"] * 10_000))
    assert values["first"] == "a" and values["rest"].startswith("x y, x y") and expands and not errors
    assert len(made) <= 2
    assert lex.split_args("a, b c,") == list(lex.iter_args("a, b c,"))
    assert [a.text for a in lex.split_args("a, b c,")] == ["a", "b", "c"]


@pytest.mark.parametrize("values, want", [("5, 6,", ["5", "6"]), ("5,, 6", ["5", "", "6"]),
                                          ("5, 6, ,", ["5", "6", ""]), ("5 6 ,", ["5", "6"])])
def test_a_comma_at_the_end_starts_no_argument(values, want, tmp_path):
    """As GNU as reads them (binutils' sb_skip_comma): ``m 1, 2,`` passes two
    arguments (4.19's aesni-intel_asm.S: ``PRECOMPUTE \\SUBKEY, %xmm1, ...,
    %xmm7,`` for eight parameters), ``, ,`` an empty third.  Checked against
    the assembler when it is installed: one ``.byte`` per ``.irp`` value."""
    assert [a.text for a in lex.split_args(values)] == want
    import shutil
    import subprocess

    gas = shutil.which("as")
    if gas is None:
        return
    src = tmp_path / "irp.s"
    src.write_text(f".irp x, {values}\n.byte 7\\x\n.endr\n")
    subprocess.run([gas, "--64", "-o", str(tmp_path / "irp.o"), str(src)], check=True)
    dump = subprocess.run(["objdump", "-s", "-j", ".text", str(tmp_path / "irp.o")], capture_output=True,
                          text=True).stdout.splitlines()[-1].split()[1]
    assert dump == "".join(f"{int('7' + v):02x}" for v in want)


def test_a_quoted_character_is_one_argument_blank_and_all():
    """GAS scans a ' to the matching one inside a macro argument: 7.x's
    relocate_kernel_64.S passes ' ' (``print_reg 'r', '8', ' ', ':', %r8``),
    which was split at its blank (EL905, too many arguments)."""
    assert [a.text for a in lex.split_args("'r', '8', ' ', ':', %r8")] == ["'r'", "'8'", "' '", "':'", "%r8"]
    assert [a.text for a in lex.split_args("'a' 'b'")] == ["'a'", "'b'"]
