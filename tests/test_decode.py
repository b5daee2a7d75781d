"""The assembler interface (program/decode.py): batching, caching, errors,
stand-ins, listings and whole-program layout (its table on disk:
test_decode_cache.py)."""

import os
import re
import subprocess
from pathlib import Path

import pytest

from entrylint.program.layout import assemble_program
from entrylint.program.decode import (
    DUMMY_SYMBOL,
    Decoder,
    code_mode,
    find_assembler,
    is_known_mnemonic,
    is_prefix,
    is_unknown_mnemonic_message,
    normalize,
    parse_listing,
    run_as,
    standalone,
)
from entrylint.program.effects import Flow
from entrylint.program.operands import canonical_register

HAVE_AS = find_assembler() is not None
needs_as = pytest.mark.skipif(not HAVE_AS, reason="GNU as (binutils) not on PATH")
KERNELS = Path(os.path.expanduser("~/.cache/entrylint/kernels"))
BUILD = KERNELS / "build-6.12"


@pytest.fixture(scope="module")
def dec():
    d = Decoder(disk_cache=False)
    if not d.available:
        pytest.skip(f"no GNU as: {d.status}")
    return d


# --- no assembling ----------------------------------------------------------------


@pytest.mark.parametrize(
    "word",
    ["movq", "MOVQ", "movzbl", "movslq", "movzwl", "cltq", "cqto", "cltd", "jz", "jnz", "jc",
     "cmovnz", "setnz", "swapgs", "sysretq", "sysretl", "iretq", "lock", "rep", "nopw", "nopl",
     "pushfq", "popfq", "ud2", "int3", "movsl", "stosq", "wrmsr", "lfence", "xorl", "btq",
     "ljmp", "lretq", "call", "callq", "retq", "rdgsbase", "endbr64", "cpuid"],
)  # fmt: skip
def test_known_mnemonics(word):
    assert is_known_mnemonic(word)


@pytest.mark.parametrize(
    "word", ["SWITCH_TO_KERNEL_CR3", "foo", "movqq", "", ".text", "PUSH_AND_CLEAR_REGS", "q", "jmpz"]
)
def test_unknown_mnemonics(word):
    assert not is_known_mnemonic(word)


def test_normalize_and_standalone():
    assert normalize("  MOVQ   %rsp,\t%gs:x ") == "movq %rsp, %gs:x"
    assert standalone("jne 1b") == f"jne {DUMMY_SYMBOL}"
    assert standalone("jmp .Lfoo") == f"jmp {DUMMY_SYMBOL}"
    assert standalone("leaq 2f(%rip), %rax") == f"leaq {DUMMY_SYMBOL}(%rip), %rax"
    # hex, binary, registers and ordinary symbols are left alone
    for text in ("andl $0x1f, %eax", "movl $0b101, %eax", "movq %r11, %rcx", "call foo.Lbar"):
        assert standalone(text) == text
    # `rep` is a prefix: the mnemonic after it is not an operand
    assert standalone("rep movsb") == "rep movsb"
    # an open comment is cut: it would swallow the next lines of a batch
    assert standalone("divl %ecx /* Divide") == "divl %ecx"
    # `$1f` is the address of a local label; `a$1f` is one symbol name
    assert standalone("movl $1f - 2f, %eax") == f"movl ${DUMMY_SYMBOL} - {DUMMY_SYMBOL}, %eax"
    assert standalone("movl $a$1f, %eax") == "movl $a$1f, %eax"


@pytest.mark.parametrize(
    "word",
    ["rep", "REP", "repe", "repz", "repne", "repnz", "lock", "rep;", "data16", "data32",
     "addr16", "addr32", "notrack", "bnd", "xacquire", "xrelease", "cs", "ds", "es", "fs",
     "gs", "ss", "rex", "rex64", "rex.W", "rex.w", "rex.B", "rex.WB", "rex.WRXB", "rex.RX"],
)  # fmt: skip
def test_is_prefix(word):
    assert is_prefix(word)


@pytest.mark.parametrize(
    "word",
    ["movsb", "wait", "fwait", "{disp32}", "{vex}", "rex.", "rex.BW", "rex.WW", "rexw", "repx",
     "lfence", "", ".code16"],
)  # fmt: skip
def test_is_not_prefix(word):
    # pseudo prefixes such as {disp32}: as refuses them on a line of their own
    assert not is_prefix(word)


def test_code_mode():
    assert code_mode(".code16") == 16 and code_mode(".code16gcc") == 16
    assert code_mode(".CODE32") == 32 and code_mode(".code64") == 64
    assert code_mode(".text") is None and code_mode("code32") is None


def test_parse_listing_format():
    listing = (
        "   1 0000 0F01F8   \tswapgs\n"
        "   2 ???? 65488924 \tmovq %rsp, %gs:cpu_tss_rw+4\n"
        "   2      25000000 \n"
        "   2      00\n"
        "   3              \t1:\n"
        "****  Error: something\n"
        "   4 0003        \t.p2align 0\n"
    )
    got = parse_listing(listing)
    assert got[1] == ("0000", bytes.fromhex("0f01f8"))
    assert got[2] == (None, bytes.fromhex("654889242500000000"))
    assert got[3] == (None, b"")
    assert got[4] == ("0003", b"")


# --- Decoder.infos ------------------------------------------------------------------


@needs_as
def test_one_as_run_per_batch_and_cache(dec):
    texts = [f"movq ${n}, %r{8 + n % 8}" for n in range(40)] + ["swapgs", "swapgs"]
    runs = dec.as_runs
    infos, errors = dec.infos(texts)
    assert errors == [] and all(infos)
    assert dec.as_runs == runs + 1
    assert infos[-1] is infos[-2]
    assert infos[5].regs_written == {canonical_register(f"r{8 + 5 % 8}")}
    again, _ = dec.infos(list(reversed(texts)))
    assert dec.as_runs == runs + 1  # all cached
    assert again[::-1] == infos


@needs_as
def test_errors_are_per_text_and_isolated(dec):
    texts = ["nop", "frobnicate %rax", "divl %ecx /* open comment", "movq %rax, %rax, %rax", "ret"]
    infos, errors = dec.infos(texts)
    by_index = dict(errors)
    assert set(by_index) == {1, 3}
    assert is_unknown_mnemonic_message(by_index[1])
    assert not is_unknown_mnemonic_message(by_index[3])
    assert infos[1] is None and infos[3] is None
    assert infos[0].mnemonic == "nop" and infos[4].flow is Flow.RET
    assert infos[2].regs_read >= {"rax", "rdx", "rcx"}


@needs_as
@pytest.mark.parametrize(
    "text, reads, writes",
    [
        ("movq $(1 << PTI_SWITCH_BIT), %rax", set(), {"rax"}),
        ("orq $(1 << X86_CR3_PTI_PCID_USER_BIT | PTI_USER_PGTABLE_MASK), %rdi", {"rdi"}, {"rdi"}),
        ("movq %rsp, %gs:cpu_tss_rw + TSS_sp2", {"rsp", "gs"}, set()),
        ("bt $X86_FEATURE_PTI, %rax", {"rax"}, set()),
        ("movq TASK_threadsp(%rsi), %rsp", {"rsi"}, {"rsp"}),
        ("jne 1b", set(), set()),
        ("leaq .Lfoo(%rip), %rax", set(), {"rax"}),
    ],
)
def test_unresolved_symbols_get_stand_ins(dec, text, reads, writes):
    info = dec.info(text)
    assert info is not None, dec.infos([text])[1]
    assert info.text == text  # the reported text is the original
    assert info.regs_read == reads and info.regs_written == writes


@needs_as
def test_symbol_differences_and_relocation_operators(dec):
    # `1f` becomes the dummy symbol; a difference of two undefined symbols
    # does not assemble ("can't resolve") until both get stand-ins
    cases = [
        ("leaq efi32_boot_args - 1f(%rip), %rax", 64, set(), {"rax"}),
        ("movl $_ebss - _bss, %ecx", 64, set(), {"rcx"}),
        ("movl $1f - 2f, %eax", 64, set(), {"rax"}),
        ("cmpl $0, 1f - foo(%rip)", 64, set(), set()),
        ("subl $_end@GOTOFF, %ebx", 32, {"rbx"}, {"rbx"}),  # no GOTOFF32 in ELF64
        ("leal (_bss@GOTOFF-4)(%edx), %esi", 32, {"rdx"}, {"rsi"}),
    ]
    infos, errors = dec.infos([c[0] for c in cases], [c[1] for c in cases])
    assert errors == []
    for info, (text, _, reads, writes) in zip(infos, cases):
        assert info.text == text
        assert info.regs_read == reads and info.regs_written == writes, text


@needs_as
def test_prefix_statements(dec):
    texts = ["rep movsb", "rep; movsb", "rep", "lock", "rex.W", "lock incl (%rax)"]
    infos, errors = dec.infos(texts)
    by_index = dict(errors)
    assert set(by_index) == {2, 3, 4}
    assert "without an instruction" in by_index[2]  # not `cannot decode bytes f3`
    assert infos[0].bytes == infos[1].bytes == bytes.fromhex("f3a4")
    assert infos[0].regs_cond_written >= {"rcx", "rsi", "rdi"}
    assert infos[5].bytes == bytes.fromhex("f0ff00")


# --- code modes ---------------------------------------------------------------------


@needs_as
def test_16_bit_code(dec):
    texts = ["pushw %ds", "retw", "lretw", "movw %ax, %ds", "ljmpl $__BOOT_CS, $in_pm32"]
    infos, errors = dec.infos(texts, [16] * len(texts))
    assert errors == []
    push, ret, lret, mov, ljmp = infos
    assert push.bytes == b"\x1e" and push.regs_read >= {"ds", "rsp"}
    assert push.regs_written == {"rsp"} and push.regs_partial == {"rsp"}  # %sp
    assert ret.bytes == b"\xc3" and ret.flow is Flow.RET
    assert lret.bytes == b"\xcb" and lret.flow is Flow.RET
    assert mov.regs_read == {"rax"} and mov.regs_written == {"ds"}
    assert ljmp.flow is Flow.JUMP and ljmp.target == "in_pm32"  # a far jump's offset
    # the same texts as 64-bit code: as refuses the segment push
    _, errors64 = dec.infos(texts[:1])
    assert errors64 and "push" in errors64[0][1]


@needs_as
def test_32_bit_code(dec):
    texts = ["pushal", "popl %ds", "movl %eax, %cr3", "movl %cr0, %eax"]
    infos, errors = dec.infos(texts, [32] * len(texts))
    assert errors == []
    pushal, pop, to_cr3, from_cr0 = infos
    assert pushal.bytes == b"\x60" and {"rax", "rbx", "rsp", "rbp"} <= pushal.regs_read
    assert pop.regs_written == {"ds", "rsp"}
    assert to_cr3.cr3_write and to_cr3.regs_read == {"rax"} and to_cr3.serializing
    assert from_cr0.regs_read == {"cr0"} and from_cr0.regs_written == {"rax"}
    # as 64-bit code each of them is an error (the errors the modes avoid)
    _, errors64 = dec.infos(texts)
    assert [i for i, _ in errors64] == [0, 1, 2, 3]
    assert "not supported in 64-bit mode" in errors64[0][1]


@needs_as
def test_modes_give_different_bytes_and_separate_cache_entries(dec):
    d = Decoder(disk_cache=False)
    if not d.available:
        pytest.skip(d.status)
    infos, errors = d.infos(["inc %eax", "inc %eax", "inc %eax"], [32, 64, 16])
    assert errors == [] and d.as_runs == 1  # one as run for all modes
    b32, b64, b16 = (i.bytes for i in infos)
    assert b32 == b"\x40" and b64 == b"\xff\xc0" and b16 == b"\x66\x40"
    assert all(i.regs_written == {"rax"} for i in infos)
    assert d.info("inc %eax") is infos[1] and d.info("inc %eax", 32) is infos[0]
    assert d.as_runs == 1


@needs_as
def test_modes_argument_checks(dec):
    with pytest.raises(ValueError):
        dec.infos(["nop", "nop"], [64])
    infos, errors = dec.infos(["nop", "nop"], [64, 8])
    assert infos[0] is not None and infos[1] is None
    assert errors and errors[0][0] == 1 and "mode" in errors[0][1]


def test_no_assembler_is_a_status_not_an_error(tmp_path):
    d = Decoder(as_path=str(tmp_path / "no-such-as"), disk_cache=False)
    assert not d.available and "no-such-as" in d.status
    infos, errors = d.infos(["nop", "swapgs"])
    assert infos == [None, None] and errors == []


def test_run_as_times_out(tmp_path):
    fake = tmp_path / "slow-as"
    fake.write_text("#!/bin/sh\nsleep 5\n")
    fake.chmod(0o755)
    run = run_as(str(fake), "nop\n", timeout=0.3)
    assert run.failed and "timed out" in run.failed


# --- whole programs -----------------------------------------------------------------


@needs_as
def test_assemble_program_layout():
    lines = [
        "swapgs",  # 0: .text 0..3
        ".p2align 4",  # 1: padding 3..16
        "nop",  # 2: 16
        '.pushsection .altinstr_replacement,"ax"',  # 3
        ".skip 3, 0x90",  # 4: alt 0..3
        "call foo",  # 5: alt 3..8
        ".popsection",  # 6
        "1: ret",  # 7: .text 17
        ".skip (662f-661f), 0x90",  # 8: an alternative-style padding expression
        "661: movq %rax, %rax",
        "662:",
        '# 12 "arch/x86/entry/entry_64.S"',
        ".section .data",
        ".long 1, 2",
        ".previous",
        "int3",
    ]
    lst = assemble_program(lines)
    assert lst.available and lst.errors == ()
    got = [(ln.section, ln.offset, len(ln.bytes)) for ln in lst.lines]
    assert got[0] == (".text", 0, 3)
    assert got[1] == (".text", 3, 13)
    assert got[2] == (".text", 16, 1)
    assert got[4] == (".altinstr_replacement", 0, 3)
    assert got[5] == (".altinstr_replacement", 3, 5)
    assert got[7] == (".text", 17, 1)
    assert got[8] == (".text", 18, 3)
    assert got[9] == (".text", 21, 3)
    assert got[13] == (".data", 0, 8)
    assert got[15] == (".text", 24, 1)
    # an error elsewhere (the listing then shows no addresses) keeps the layout
    broken = assemble_program(lines + ["frobnicate"])
    assert [(ln.section, ln.offset) for ln in broken.lines[:-1]] == [g[:2] for g in got]
    assert broken.errors and broken.errors[0][0] == len(lines)


# --- real kernels -------------------------------------------------------------------


def _objdump_texts(obj: Path) -> list[str]:
    out = subprocess.run(
        ["objdump", "-d", "--no-show-raw-insn", str(obj)],
        capture_output=True, text=True, timeout=60, check=False,
    ).stdout  # fmt: skip
    texts = []
    for line in out.splitlines():
        m = re.match(r"^\s*[0-9a-f]+:\t(.*)$", line)
        if not m:
            continue
        t = " ".join(re.sub(r"<[^>]*>", "", m.group(1).split("#")[0]).split())
        # objdump prints padding prefixes as words (`data16 cs nopw`), which
        # GNU as does not accept back; and `(bad)` for undecodable bytes
        if not t or "(bad)" in t or t.startswith("data16"):
            continue
        # objdump prints branch targets as bare hex addresses
        t = re.sub(r"^((?:\S+ )*?(?:j\w+|call|loop\w*)) ([0-9a-f]+)$", r"\1 0x\2", t)
        texts.append(t)
    return texts


_ONLY32 = re.compile(r"#\s*(ifdef\s+CONFIG_X86_32|ifndef\s+CONFIG_X86_64|if\s+!\s*defined\(CONFIG_X86_64\))")
_ONLY64 = re.compile(r"#\s*(ifdef\s+CONFIG_X86_64|ifndef\s+CONFIG_X86_32|if\s+defined\(CONFIG_X86_64\))")


def _scan_source(path: Path) -> dict[str, str]:
    """A rough scan for instruction lines in 64-bit code: no cpp, so lines with
    cpp macro calls, macro parameters (`\\`), cpp-defined register aliases and
    32-bit-only blocks are skipped."""
    src = path.read_text(errors="replace")
    src = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), src, flags=re.S)
    defines = set(re.findall(r"^\s*#\s*define\s+(\w+)", src, re.M))
    found: dict[str, str] = {}
    stack: list[list[bool]] = []  # per open #if: [this branch is 32-bit, #else is 32-bit]
    for n, line in enumerate(src.splitlines(), 1):
        s = line.strip()
        if s.startswith("#"):
            if re.match(r"#\s*if", s):
                stack.append([bool(_ONLY32.match(s)), bool(_ONLY64.match(s))])
            elif re.match(r"#\s*el", s) and stack:
                stack[-1][0] = stack[-1][1] and bool(re.match(r"#\s*else", s))
            elif re.match(r"#\s*endif", s) and stack:
                stack.pop()
            continue
        if any(b[0] for b in stack):
            continue
        s = re.sub(r"^([\w.]+):\s*", "", s.split("//")[0].split("#")[0]).strip()
        if not s or "\\" in s or ";" in s:
            continue
        word = s.split()[0]
        if not word.islower() or word.startswith(".") or not is_known_mnemonic(word):
            continue
        if re.search(r"\b[A-Z_][A-Z0-9_]*\s*\(", s) or set(re.findall(r"\w+", s)) & defines:
            continue
        found.setdefault(" ".join(s.split()), f"{path}:{n}")
    return found


def _entry_sources() -> list[Path]:
    files = []
    for ver in ("linux-6.1", "linux-6.12"):
        entry = KERNELS / ver / "arch/x86/entry"
        files += [p for p in sorted(entry.glob("*.S")) if not p.name.endswith("_32.S")]
        files += [entry / "calling.h"]
    return [p for p in files if p.exists()]


@pytest.mark.kernel
def test_real_kernel_instructions_all_decode(dec):
    sources = _entry_sources()
    objs = sorted((BUILD / "arch/x86/entry").glob("*.o")) if (BUILD / ".entrylint-built").exists() else []
    if not sources and not objs:
        pytest.skip(f"no kernel trees or build under {KERNELS} (tools/fetch-kernels)")
    where: dict[str, str] = {}
    for obj in objs:
        for t in _objdump_texts(obj):
            where.setdefault(t, f"objdump {obj.name}")
    for path in sources:
        for t, loc in _scan_source(path).items():
            where.setdefault(t, loc)
    texts = list(where)
    infos, errors = dec.infos(texts)
    report = "\n".join(f"{where[texts[i]]}: {texts[i]!r}: {msg}" for i, msg in errors)
    assert not errors, f"{len(errors)} of {len(texts)} did not decode:\n{report}"
    assert len(texts) > 300 and all(infos)
    if objs:  # the entry code really has the instructions the rules care about
        flows = {i.flow for i in infos}
        assert {Flow.EXIT_TO_USER, Flow.IRET, Flow.CALL} <= flows
        assert flows & {Flow.INT, Flow.STOP}  # int3 / ud2 (BUG)
        assert any(i.swaps_gs for i in infos) and any(i.cr3_write for i in infos)


@needs_as
def test_a_text_gets_the_same_answer_whatever_it_is_assembled_with():
    """Texts are assembled in batches and each answer is cached: a text that
    reaches past its line (``'`` at the end takes the newline as its
    character) took the next text's line, and the errors moved one text
    down, so what a text decoded to (and was cached as) followed what came
    before it (found by tools/fuzz.py: patch reviews that differed between
    workers, alike in fresh processes)."""
    texts = ["9223372036854775808 ^ '", "movq %rsp, PER_CPU_VAR(rsp_scratch)",
             "movq PER_CPU_VAR(cpu_current_top_of_stack), %rsp", "nop", "movq %rsp, %rax", "lea 'a(%rip), %rax"]
    together = Decoder(disk_cache=False)
    got, _ = together.infos(texts)
    for text, info in zip(texts, got):
        alone = Decoder(disk_cache=False)
        one, _ = alone.infos([text])
        assert repr(one[0]) == repr(info), text
        assert repr(alone._mem[(64, normalize(text))]) == repr(together._mem[(64, normalize(text))]), text
    assert got[3] is not None and got[3].bytes == b"\x90" and got[4] is not None



def test_texts_of_one_machine_code_are_decoded_once_each_with_its_own_text_and_target(monkeypatch):
    # `jmp label\@` repeated 33k times is one machine code (e9 and a zero
    # displacement): iced decodes it once; each text keeps its own target
    from dataclasses import replace

    from entrylint.program import decode_iced

    monkeypatch.setattr(decode_iced, "_BY_CODE", {})
    calls = []
    real = decode_iced._decode

    def counted(*a):
        calls.append(a)
        return real(*a)

    monkeypatch.setattr(decode_iced, "_decode", counted)
    code = bytes.fromhex("e900000000")
    a = decode_iced.decode_bytes("jmp label1", "label1", code, 64)
    b = decode_iced.decode_bytes("jmp label2", "label2", code, 64)
    c = decode_iced.decode_bytes("jmp label1", "label1", code, 64)
    assert len(calls) == 1
    assert (a.text, a.target, b.text, b.target) == ("jmp label1", "label1", "jmp label2", "label2")
    assert c == a and replace(b, text=a.text, target=a.target) == a
    # what the operand text says of the code is part of the key: a symbolic
    # immediate is not the number the placeholder holds
    num = decode_iced.decode_bytes("movq $8, %rax", "$8, %rax", bytes.fromhex("48c7c008000000"), 64)
    sym = decode_iced.decode_bytes("movq $X, %rax", "$X, %rax", bytes.fromhex("48c7c008000000"), 64)
    assert len(calls) == 3
    assert num.imm == 8 and sym.imm is None


@pytest.mark.parametrize("operand", ["label123", "1f", "9b", ".Lfoo", "foo.bar$1", "__x86_return_thunk", "x",
                                     "_", "a$", ".L_cb$12", "rax", "eax", "ss"])
def test_a_bare_symbol_operand_reads_as_the_parser_reads_it(operand):
    # decode_bytes takes a one-symbol operand text (`jmp foo`) without
    # parsing it: what it assumes must be what the parser says
    from entrylint.program import decode_iced

    assert decode_iced._BARE_SYMBOL.fullmatch(operand)
    assert decode_iced._symbolic_operands(operand) == (False, True)
    assert decode_iced._target(operand) == operand


@pytest.mark.parametrize("operand", ["42", "0x10", "*%rax", "%rax", "$foo", "foo+4", "foo(%rip)", "foo@PLT",
                                     "1f+2", "(foo)", "-foo"])
def test_other_operands_are_parsed(operand):
    from entrylint.program import decode_iced

    assert not decode_iced._BARE_SYMBOL.fullmatch(operand)


@pytest.mark.skipif(os.name != "posix", reason="limits are set by a POSIX shell")
def test_as_runs_under_the_file_and_memory_limits():
    """The limits reach the program run (the shell execs it: the same
    process), in the units the shell's ulimit counts."""
    from entrylint.program.decode import AS_MAX_FILE, AS_MAX_MEMORY, _bounded

    cmd = _bounded(["/bin/sh", "-c", "ulimit -S -f; ulimit -S -v"])
    assert cmd[0] == "/bin/sh" and cmd[-3:] == ["/bin/sh", "-c", "ulimit -S -f; ulimit -S -v"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.split()
    import resource

    def want(res, cap, unit):
        soft = resource.getrlimit(res)[0]
        return str(min(cap, soft) // unit if soft != resource.RLIM_INFINITY else cap // unit)

    assert out[:2] == [want(resource.RLIMIT_FSIZE, AS_MAX_FILE, 512), want(resource.RLIMIT_AS, AS_MAX_MEMORY, 1024)]


def test_run_as_names_a_missing_assembler(tmp_path):
    run = run_as(str(tmp_path / "no-such-as"), "nop\n")
    assert run.failed == f"cannot run {tmp_path / 'no-such-as'}: no such executable"
