"""The program layer: symbols and their kinds, local labels, alternatives as forks."""

from __future__ import annotations

from pathlib import Path


from entrylint import api

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "program"


def expand(name: str, **kw):
    exp = api.expand(FIX / name, api.Options(**kw))
    assert not exp.findings, [str(f) for f in exp.findings]
    return exp.program


def texts(prog, indices):
    return [" ".join(prog.instructions[i].text.split()) for i in indices]


def test_alternatives_6x_layout_forks():
    prog = expand("alternative_6x.S")
    assert len(prog.forks) == 3
    f0, f1, f2 = prog.forks
    # ALTERNATIVE "jmp .Lskip", "", X86_FEATURE_PTI: an empty replacement skips nothing
    assert texts(prog, f0.orig) == ["jmp .Lskip"]
    assert [(r.feature, r.negated, len(r.insns)) for r in f0.replacements] == [("X86_FEATURE_PTI", False, 0)]
    # ALTERNATIVE_2: two entries sharing one original, in patch order
    assert texts(prog, f1.orig) == ["nop"]
    assert [r.feature for r in f1.replacements] == ["X86_FEATURE_PTI", "X86_FEATURE_PCID"]
    assert [texts(prog, r.insns) for r in f1.replacements] == [["xorl %eax, %eax"], ["movl $1, %eax"]]
    # ALT_NOT: the replacement applies when the feature is absent
    assert f2.orig == ()
    (r,) = f2.replacements
    assert (r.feature, r.negated) == ("X86_FEATURE_PCID", True)
    assert texts(prog, r.insns) == ["lfence"]
    # the reviewer's line of each fork is the ALTERNATIVE invocation
    src = (FIX / "alternative_6x.S").read_text().splitlines()
    assert src[f0.location.line - 1].strip().startswith("ALTERNATIVE \"jmp .Lskip\"")
    assert src[f2.location.line - 1].strip().startswith("ALTERNATIVE \"\", \"lfence\"")


def test_alternative_sides_and_symbols():
    prog = expand("alternative_6x.S")
    sides = {i.text.split()[0]: (i.alt.side if i.alt else None, i.section) for i in prog.instructions}
    assert sides["jmp"] == ("orig", ".entry.text")
    assert sides["xorl"] == ("repl", ".altinstr_replacement")
    assert sides["mov"] == (None, ".entry.text")
    # replacement code is attributed to the symbol of its patch site
    assert {i.symbol for i in prog.instructions} == {"demo_entry"}


def test_alternative_jump_target_is_resolved():
    prog = expand("alternative_6x.S")
    jmp = next(i for i in prog.instructions if i.mnemonic == "jmp")
    assert jmp.target is not None
    assert prog.instructions[jmp.target].text == "nop"


def test_branch_operands_are_targets_and_memory_operands_are_not(tmp_path):
    """A direct branch or call's operand is a Target (build.targets parses it
    again as a branch's); the same text moved is a memory operand (a lone
    symbol is read without the parser: operands.parse_operands)."""
    from entrylint.program.operands import Mem, Target

    src = tmp_path / "b.S"
    src.write_text("foo:\n\tjmp 1f\n1:\tcall foo\n\tjz foo\n\tmovq foo, %rax\n\tjmp *%rax\n")
    prog = api.expand(src, api.Options()).program
    ops = {i.text: i.operands for i in prog.instructions}
    assert ops["jmp 1f"] == (Target("1f"),) and ops["call foo"] == (Target("foo"),)
    assert ops["jz foo"] == (Target("foo"),)
    assert ops["movq foo, %rax"][0] == Mem(disp="foo")
    assert not isinstance(ops["jmp *%rax"][0], Target)


def test_a_call_through_a_label_alias_is_a_call_into_the_program(tmp_path):
    """5.19+'s SYM_FUNC_ALIAS(_LOCAL) is ``.set alias, name``: a call to the
    alias (aesni_set_key's ``call _key_expansion_128``) enters the asm of
    the name, not C (EL103 took it for a C call: two warnings on 6.12)."""
    src = tmp_path / "a.S"
    src.write_text("\tcall\tshort_name\n\tcall\tchain\n\tcall\tmissing\n\tret\n"
                   ".set short_name, long_name\n.set chain, short_name\n.set loop_a, loop_b\n"
                   ".set loop_b, loop_a\n.set number, 3\n"
                   "long_name:\n\tnop\n\tret\n")
    prog = api.expand(src, api.Options()).program
    calls = [i for i in prog.instructions if i.mnemonic == "call"]
    target = prog.labels["long_name"]
    assert [c.target for c in calls] == [target, target, None]
    res = api.check(src, api.Options(), select=["EL103"])
    assert not [f for f in res.findings if f.id == "EL103"]


def test_alternatives_4x_layout_inverted_bit():
    prog = expand("alternative_4x.S")
    assert len(prog.forks) == 2
    f0, f1 = prog.forks
    assert texts(prog, f0.orig) == ["jmp 8f"]
    assert [(r.feature, r.negated) for r in f0.replacements] == [("X86_FEATURE_KAISER", False)]
    assert [(r.feature, r.negated) for r in f1.replacements] == [("X86_FEATURE_KAISER", True)]
    jmp = prog.instructions[f0.orig_start]
    # 8f skips the CR3 write and lands on the (empty) second patch site, i.e. swapgs
    assert prog.instructions[jmp.target].text == "swapgs"


def test_symbol_kinds_from_annotations():
    prog = expand("symbols.S")
    kinds = {s.name: (s.kind, s.is_global) for s in prog.symbols.values()}
    assert kinds == {"outer_entry": ("SYM_CODE_START", True),
                     "outer_after_call": ("SYM_INNER_LABEL", True),
                     "helper": ("SYM_CODE_START_LOCAL", False)}
    by = {i.text.split()[0]: i.symbol for i in prog.instructions if i.text.split()[0] != "ret"}
    assert by["pushq"] == "outer_entry"
    assert by["popq"] == "outer_after_call"
    assert by["xorl"] == "helper"
    assert prog.symbols["outer_entry"].end == prog.symbols["helper"].start


def test_local_label_rules_follow_gas():
    prog = expand("symbols.S")
    ins = {i.text.split()[0] + " " + i.text.split()[-1]: i for i in prog.instructions}
    rets = [i.index for i in prog.instructions if i.mnemonic == "ret"]
    assert ins["jmp 1f"].target == rets[0]
    # 1b from helper goes back to the last "1:" defined before it, in outer_entry
    assert ins["jz 1b"].target == rets[0]
    assert prog.instructions[ins["call helper"].target].symbol == "helper"


def test_symbol_kinds_of_older_kernels():
    prog = expand("symbols_4x.S")
    kinds = {s.name: (s.kind, s.is_global, s.type) for s in prog.symbols.values()}
    assert kinds == {"entry_SYSCALL_64": ("ENTRY", True, None),
                     "entry_SYSCALL_64_after_swapgs": ("GLOBAL", True, None),
                     "helper_func": ("ENTRY", True, "function")}
    jmp = next(i for i in prog.instructions if i.mnemonic == "jmp")
    assert prog.instructions[jmp.target].text == "sysretq"
    assert prog.symbols["entry_SYSCALL_64"].end == prog.symbols["helper_func"].start


def test_octal_literals_in_assignments(tmp_path):
    """A number with a leading 0 is octal in C and GNU as; one with an 8 or 9
    in it is no number at all.  Python's int(x, 0) refuses both, and
    `x = 02147483648` (the fuzzer's soup:84057 of seed 14) stopped the
    program build with a ValueError."""
    from entrylint.program.constants import eval_int

    assert [eval_int(t) for t in ("010", "0777 + 1", "(1 << 3) | 010", "0x10", "0", "08", "02147483648")] == [
        8, 512, 8, 16, 0, None, None]
    src = tmp_path / "o.S"
    src.write_text("x = 02147483648\ny = 010\n.set z, 0x10 + 010\n\tmovq $y, %rax\n")
    res = api.check(src, api.Options())
    assert res.analysis is not None  # (an internal error raises out of api.check)
    prog = api.expand(src, api.Options()).program
    assert prog.constants.get("y") == 8 and prog.constants.get("z") == 24 and "x" not in prog.constants


def test_assigned_values_are_c_integers_not_python_ones(tmp_path):
    """eval_int read an assignment's value with Python's eval: `x = 9**9**9`
    never ended and `x = 1<<99999999999` asked for gigabytes (a hang for any
    editor or CI job that met such a line).  It now evaluates as the C
    preprocessor does: ``**`` is no operator, a shift past 63 bits gives 0,
    a number past 64 bits is none."""
    from entrylint.program.constants import eval_int

    assert [eval_int(t) for t in ("9**9**9", "1<<99999999999", "0x1ffffffffffffffff", "1 << 63",
                                  "18446744073709551615", "7/-2", "1/0", "!0 + ~0")] == [
        None, 0, None, -(1 << 63), (1 << 64) - 1, -3, None, 0]
    src = tmp_path / "big.S"
    src.write_text("x = 9**9**9\ny = 1<<99999999999\nz = (1 << 40) + 1\n\tmovq $z, %rax\n")
    res = api.check(src, api.Options())
    assert res.analysis is not None  # (an internal error raises out of api.check)
    prog = api.expand(src, api.Options()).program
    assert prog.constants.get("z") == (1 << 40) + 1 and prog.constants.get("y") == 0 and "x" not in prog.constants


def test_feature_names_read_literal_bodies_and_bodies_that_name_macros():
    """CPU feature bits as the headers define them: most bodies are literal
    (``( 7*32+11)``, read at once), some name other macros
    (``(NCAPINTS*32+1)``, ``X86_BUG(9)``), read through them; the first
    name of a bit is its name."""
    from entrylint.cpp.preprocessor import CppOptions, preprocess_text
    from entrylint.program.constants import feature_names

    text = ("#define NCAPINTS 21\n#define X86_BUG(x) (NCAPINTS*32 + (x))\n"
            "#define X86_FEATURE_PTI ( 7*32+11)\n#define X86_FEATURE_KAISER ( 7*32+11)\n"
            "#define X86_FEATURE_XENPV (NCAPINTS*32 - 8)\n#define X86_BUG_CPU_MELTDOWN X86_BUG(14)\n"
            "#define X86_FEATURE_HEX 0x10\n#define X86_FEATURE_FN(x) (x)\n")
    macros = preprocess_text(text, "f.S", CppOptions()).macros
    assert feature_names(macros) == {7 * 32 + 11: "X86_FEATURE_PTI", 21 * 32 - 8: "X86_FEATURE_XENPV",
                                     21 * 32 + 14: "X86_BUG_CPU_MELTDOWN", 16: "X86_FEATURE_HEX"}
