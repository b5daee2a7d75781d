"""The assembler interface (program/decode.py): batching, caching, errors,
stand-ins, listings and whole-program layout."""

import os
import re
import subprocess
from pathlib import Path

import pytest

from entrylint.program.decode import (
    DUMMY_SYMBOL,
    Decoder,
    assemble_program,
    find_assembler,
    is_known_mnemonic,
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
def test_disk_cache_round_trip(tmp_path):
    d1 = Decoder(cache_dir=tmp_path)
    infos1, _ = d1.infos(["swapgs", "mov %rax, %cr3", "bogus_insn"])
    assert d1.cache_path is not None and d1.cache_path.exists()
    d2 = Decoder(cache_dir=tmp_path)
    infos2, errors2 = d2.infos(["swapgs", "mov %rax, %cr3", "bogus_insn"])
    assert d2.as_runs == 0
    assert infos2 == infos1 and infos2[1].cr3_write
    assert errors2 and errors2[0][0] == 2


@needs_as
def test_unwritable_cache_is_skipped(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    d = Decoder(cache_dir=blocker / "sub")
    infos, errors = d.infos(["nop"])
    assert infos[0] is not None and errors == []
    assert d.save() is False


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
        assert {Flow.EXIT_TO_USER, Flow.IRET, Flow.CALL, Flow.INT} <= flows
        assert any(i.swaps_gs for i in infos) and any(i.cr3_write for i in infos)
