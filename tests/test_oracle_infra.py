"""The oracle's own tests: objdump parsing and the expansion/objdump comparison.

Synthetic inputs, plus a real object assembled here from fixtures/oracle/mini.S
(hand-written), described by hand as an `entrylint expand --format json`
document.  The correct description must agree in both modes; a missing
instruction, a swap and wrong padding must each be caught.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import iced_x86
import pytest

import kernels
from oracle.compare import compare
from oracle.objdump import (MNEMONIC_NAMES, ObjInsn, canonical_mnemonic, heading_symbol,
                            objdump_object, parse_objdump, split_text)

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "fixtures" / "oracle" / "mini.S"

needs_binutils = pytest.mark.skipif(shutil.which("as") is None or shutil.which("objdump") is None,
                                    reason="GNU as and objdump (binutils) are needed")


# --------------------------------------------------------------------------- objdump.py

def test_mnemonic_map_is_the_iced_enum():
    assert MNEMONIC_NAMES[iced_x86.Mnemonic.SWAPGS] == "swapgs"
    assert MNEMONIC_NAMES[iced_x86.Mnemonic.SYSRETQ] == "sysretq"
    assert len(MNEMONIC_NAMES) > 1500
    assert len(set(MNEMONIC_NAMES.values())) == len(MNEMONIC_NAMES)


@pytest.mark.parametrize("hexbytes,name,length", [
    ("0f01f8", "swapgs", 3),
    ("66662e0f1f840000000000", "nop", 11),   # data16 cs nopw: one instruction
    ("e800000000", "call", 5),               # a relocation leaves zeros
    ("48630b", "movsxd", 3),                 # objdump says movslq
    ("0f0b", "ud2", 2),
    ("ff", "invalid", 1),
])
def test_canonical_mnemonic(hexbytes, name, length):
    assert canonical_mnemonic(bytes.fromhex(hexbytes)) == (name, length)


@pytest.mark.parametrize("text,mnem,ops", [
    ("mov    %rsp,0xb98(%rdi)", "mov", "%rsp,0xb98(%rdi)"),
    ("data16 cs nopw 0x0(%rax,%rax,1)", "nopw", "0x0(%rax,%rax,1)"),
    ("mov    %rbx,%gs:0x0(%rip)        # 3b <__switch_to_asm+0x2b>", "mov", "%rbx,%gs:0x0(%rip)"),
    ("rep stos %rax,%es:(%rdi)", "stos", "%rax,%es:(%rdi)"),
    ("cs", "cs", ""),
    ("endbr64", "endbr64", ""),
])
def test_split_text(text, mnem, ops):
    assert split_text(text) == (mnem, ops)


def test_heading_symbol_normalises_offsets_and_section_symbols():
    assert heading_symbol("__switch_to_asm-0x10", ".text") == ".text"
    assert heading_symbol(".altinstr_replacement", ".altinstr_replacement") == ".altinstr_replacement"
    assert heading_symbol("entry_SYSCALL_64", ".entry.text") == "entry_SYSCALL_64"


def test_parse_text_sections_and_headings():
    text = (
        "x.o:     file format elf64-x86-64\n\n\n"
        "Disassembly of section .noinstr.text:\n\n"
        "0000000000000000 <foo-0x2>:\n"
        "   0:\t90                   \tnop\n"
        "   1:\tcc                   \tint3\n\n"
        "0000000000000002 <foo>:\n"
        "   2:\t0f 01 f8             \tswapgs\n"
        "   5:\t66 2e 0f 1f 84 00 00 00 00 00 \tcs nopw 0x0(%rax,%rax,1)\n\n"
        "Disassembly of section .text..__x86.return_thunk:\n\n"
        "0000000000000000 <bar>:\n"
        "   0:\tc3                   \tret\n"
    )
    d = parse_objdump(text)
    assert list(d.sections) == [".noinstr.text", ".text..__x86.return_thunk"]
    assert d.headings[".noinstr.text"] == [(0, ".noinstr.text"), (2, "foo")]
    got = [(i.section, i.symbol, i.address, i.size, i.canonical, i.text_mnemonic) for i in d.insns]
    assert got == [
        (".noinstr.text", ".noinstr.text", 0, 1, "nop", "nop"),
        (".noinstr.text", ".noinstr.text", 1, 1, "int3", "int3"),
        (".noinstr.text", "foo", 2, 3, "swapgs", "swapgs"),
        (".noinstr.text", "foo", 5, 10, "nop", "nopw"),
        (".text..__x86.return_thunk", "bar", 0, 1, "ret", "ret"),
    ]


@pytest.fixture(scope="module")
def mini_obj(tmp_path_factory) -> Path:
    if shutil.which("as") is None or shutil.which("objdump") is None:
        pytest.skip("GNU as and objdump (binutils) are needed")
    out = tmp_path_factory.mktemp("oracle") / "mini.o"
    subprocess.run(["as", "--64", "-o", str(out), str(FIXTURE)], check=True)
    return out


def test_objdump_of_fixture(mini_obj):
    d = objdump_object(mini_obj)
    assert set(d.sections) == {".text", ".altinstr_replacement", ".entry.text"}
    assert d.headings[".text"][0] == (0, ".text")          # <mini_entry-0x4> normalised
    assert [s for _, s in d.headings[".text"]] == [".text", "mini_entry", "mini_exit"]
    assert d.headings[".altinstr_replacement"] == [(0, ".altinstr_replacement")]
    for i in d.insns:
        assert i.iced_len == i.size, i
    entry = [(i.canonical, i.text_mnemonic, i.operands_text) for i in d.insns if i.symbol == "mini_entry"][:4]
    assert entry == [("endbr64", "endbr64", ""), ("push", "push", "%rbx"),
                     ("mov", "mov", "%rsp,%rbx"), ("xor", "xor", "%eax,%eax")]
    assert [i.canonical for i in d.sections[".altinstr_replacement"]] == ["mov", "lfence"]


# --------------------------------------------------------------------------- the hand-made expansion of mini.S

# (kind, section, symbol, mnemonic or directive, canonical, size or alignment, alt side)
# in program order, as `entrylint expand` would list mini.S.  Offsets are not
# written here: build() lays them out from the sizes, as the assembler would.
MINI = [
    ("data", ".text", None, ".skip", None, 4, None),
    ("insn", ".text", "mini_entry", "endbr64", "endbr64", 4, None),
    ("insn", ".text", "mini_entry", "pushq", "push", 1, None),
    ("insn", ".text", "mini_entry", "movq", "mov", 3, None),
    ("insn", ".text", "mini_entry", "xorl", "xor", 2, "orig"),
    ("data", ".text", "mini_entry", ".skip", None, 3, None),
    ("insn", ".altinstr_replacement", "mini_entry", "movl", "mov", 5, "repl"),
    ("insn", ".text", "mini_entry", "popq", "pop", 1, None),
    ("insn", ".text", "mini_entry", "ret", "ret", 1, None),
    ("insn", ".text", "mini_entry", "int3", "int3", 1, None),
    ("align", ".text", "mini_entry", ".p2align", None, 16, None),
    ("insn", ".text", "mini_exit", "swapgs", "swapgs", 3, None),
    ("insn", ".altinstr_replacement", "mini_exit", "lfence", "lfence", 3, "repl"),
    ("insn", ".text", "mini_exit", "sysretq", "sysretq", 3, None),
    ("insn", ".entry.text", "mini_other", "cli", "cli", 1, None),
    ("insn", ".entry.text", "mini_other", "jmp", "jmp", 2, None),
]


def build(items, offsets: bool = True) -> dict:
    """An `expand --format json` document for items, laid out section by section."""
    pos: dict[str, int] = {}
    doc: dict = {"version": 1, "instructions": [], "data": []}
    for n, (kind, sec, sym, mnem, canon, size, side) in enumerate(items):
        at = pos.get(sec, 0)
        if kind == "align":
            size = -at % size
        pos[sec] = at + size
        place = {"offset": at if offsets else None, "size": size if offsets else None}
        if kind == "insn":
            doc["instructions"].append({
                "symbol": sym, "section": sec, "mnemonic": mnem, "operands": [],
                "file": "fixtures/oracle/mini.S", "line": n + 1, "trace": [],
                "alt": {"feature": "X86_FEATURE_FAKE", "side": side} if side else None,
                "canonical": canon, **place})
        else:
            doc["data"].append({"section": sec, "symbol": sym, "directive": mnem,
                                "file": "fixtures/oracle/mini.S", "line": n + 1, **place})
    return doc


def index(items, mnem):
    return next(n for n, it in enumerate(items) if it[3] == mnem)


@pytest.fixture(scope="module")
def mini_dump(mini_obj):
    return objdump_object(mini_obj)


def test_correct_description_agrees(mini_dump):
    report = compare(build(MINI), mini_dump)
    print(report.table())
    assert report.ok("sequence") and report.ok("layout"), report.table()
    keys = {(r.section, r.symbol) for r in report.rows}
    assert keys == {(".text", ".text"), (".text", "mini_entry"), (".text", "mini_exit"),
                    (".altinstr_replacement", ".altinstr_replacement"), (".entry.text", "mini_other")}
    entry = report.row(".text", "mini_entry")
    # objdump: our 7 + 3 alternative-padding nops + 12 int3 of alignment; those 15 are padding
    assert (entry.ours, entry.objdump, entry.padding) == (7, 22, 15)


def test_missing_instruction_is_caught(mini_dump):
    items = [it for it in MINI if it[3] != "movq"]
    report = compare(build(items), mini_dump)
    row = report.row(".text", "mini_entry")
    assert row.sequence is False and "mov" in row.sequence_why
    assert row.layout is False
    assert report.ok("sequence") is False and report.ok("layout") is False


def test_swapped_instructions_are_caught(mini_dump):
    items = list(MINI)
    a, b = index(items, "pushq"), index(items, "movq")
    items[a], items[b] = items[b], items[a]
    report = compare(build(items), mini_dump)
    row = report.row(".text", "mini_entry")
    assert row.sequence is False and row.sequence_why.startswith("#1:")
    assert row.layout is False


@pytest.mark.parametrize("size", [2, 4])
def test_wrong_alternative_padding_is_caught(mini_dump, size):
    items = list(MINI)
    k = index(items, "xorl") + 1
    assert items[k][3] == ".skip"
    items[k] = items[k][:5] + (size,) + items[k][6:]
    report = compare(build(items), mini_dump)
    row = report.row(".text", "mini_entry")
    assert row.sequence is False
    assert row.layout is False


def test_missing_alignment_padding_is_caught(mini_dump):
    items = [it for it in MINI if it[0] != "align"]
    report = compare(build(items), mini_dump)
    assert not report.ok("sequence")
    assert not report.ok("layout")


def test_wrong_replacement_stream_is_caught(mini_dump):
    items = [it for it in MINI if it[3] != "lfence"]
    report = compare(build(items), mini_dump)
    row = report.row(".altinstr_replacement", ".altinstr_replacement")
    assert row.sequence is False and "lfence" in row.sequence_why
    assert report.row(".text", "mini_exit").sequence is True


def test_without_offsets_layout_is_not_checked(mini_dump):
    report = compare(build(MINI, offsets=False), mini_dump)
    assert all(r.layout is not True for r in report.rows if r.ours)
    assert not report.ok("layout")
    assert any("without offset" in n for n in report.notes)
    # padding cannot be set aside without places: the nops show up as a difference
    assert report.row(".text", "mini_entry").sequence is False
    # a row with no padding compares fine on sequence alone
    assert report.row(".entry.text", "mini_other").sequence is True


# --------------------------------------------------------------------------- synthetic

def oi(section, symbol, address, hexbytes, text=""):
    raw = bytes.fromhex(hexbytes)
    canon, n = canonical_mnemonic(raw, address)
    mnem, ops = split_text(text or canon)
    return ObjInsn(section, symbol, address, raw, mnem, ops, canon, text or canon, n)


def ours(section, symbol, canonical, offset=None, size=None, mnemonic=None):
    return {"symbol": symbol, "section": section, "mnemonic": mnemonic or canonical, "operands": [],
            "file": "x.S", "line": 1, "trace": [], "alt": None, "canonical": canonical,
            "offset": offset, "size": size}


def test_attribution_follows_objdump_by_offset():
    obj = [oi(".entry.text", "a", 0, "fa"), oi(".entry.text", "a_inner", 1, "0f01f8")]
    doc = {"version": 1, "data": [], "instructions": [
        ours(".entry.text", "a", "cli", 0, 1),
        ours(".entry.text", "a", "swapgs", 1, 3),       # our model says "a"; objdump starts a_inner here
    ]}
    report = compare(doc, obj)
    assert report.ok("sequence") and report.ok("layout"), report.table()
    assert report.row(".entry.text", "a_inner").ours == 1
    # without offsets our symbol field is used, and then the rows differ
    for i in doc["instructions"]:
        i["offset"] = i["size"] = None
    assert not compare(doc, obj).ok("sequence")


def test_unknown_canonical_never_agrees():
    obj = [oi(".text", "f", 0, "c3")]
    doc = {"version": 1, "data": [], "instructions": [ours(".text", "f", None, 0, 1, mnemonic="ret")]}
    report = compare(doc, obj)
    assert not report.ok("sequence") and not report.ok("layout")
    assert "unknown" in report.row(".text", "f").sequence_why


def test_symbol_on_one_side_only():
    obj = [oi(".text", "f", 0, "c3")]
    doc = {"version": 1, "data": [], "instructions": [ours(".text", "f", "ret", 0, 1),
                                                      ours(".init.text", "g", "ret", 0, 1)]}
    report = compare(doc, obj)
    assert report.row(".text", "f").sequence is True
    g = report.row(".init.text", "g")
    assert g.sequence is False and "no section" in g.sequence_why
    obj2 = obj + [oi(".text", "h", 1, "90")]
    report2 = compare({"version": 1, "data": [], "instructions": [ours(".text", "f", "ret", 0, 1)]}, obj2)
    assert report2.row(".text", "h").sequence is False


def test_data_prefix_merged_into_one_objdump_instruction():
    # `.byte 0x2e` then `jmp` : objdump prints one `cs jmp` at the .byte
    obj = [oi(".text", "f", 0, "2eeb00", "cs jmp 3 <f+0x3>")]
    doc = {"version": 1,
           "data": [{"section": ".text", "symbol": "f", "offset": 0, "size": 1, "directive": ".byte",
                     "file": "x.S", "line": 1}],
           "instructions": [ours(".text", "f", "jmp", 1, 2)]}
    report = compare(doc, obj)
    assert report.ok("sequence") and report.ok("layout"), report.table()
    doc["instructions"][0]["canonical"] = "call"
    assert not compare(doc, obj).ok("layout")


def test_size_difference_is_a_layout_mismatch():
    obj = [oi(".text", "f", 0, "e900000000"), oi(".text", "f", 5, "c3")]
    doc = {"version": 1, "data": [], "instructions": [ours(".text", "f", "jmp", 0, 2), ours(".text", "f", "ret", 5, 1)]}
    report = compare(doc, obj)
    assert report.ok("sequence")
    row = report.row(".text", "f")
    assert row.layout is False and "2 bytes" in row.layout_why


def test_table_lists_every_row_and_the_totals():
    obj = [oi(".text", "f", 0, "c3"), oi(".text", "g", 1, "90")]
    doc = {"version": 1, "data": [], "instructions": [ours(".text", "f", "ret", 0, 1), ours(".text", "g", "int3", 1, 1)]}
    text = compare(doc, obj).table()
    lines = text.splitlines()
    assert lines[0].split()[:7] == ["section", "symbol", "ours", "objdump", "pad", "sequence", "layout"]
    assert any(ln.split()[:2] == [".text", "f"] and "yes" in ln for ln in lines)
    assert any(ln.split()[:2] == [".text", "g"] and "NO" in ln for ln in lines)
    assert "sequence: 1/2 symbols agree (50.0%)" in text


# --------------------------------------------------------------------------- kernels.py

def test_kernel_cache_matches_fetch_script(monkeypatch, tmp_path):
    import importlib.util
    spec = importlib.util.spec_from_file_location("fetch_kernels", REPO / "tools" / "fetch_kernels.py")
    fk = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fk)
    assert kernels.kernel_cache() == fk.cache_dir()
    monkeypatch.setenv("ENTRYLINT_KERNEL_CACHE", str(tmp_path))
    assert kernels.kernel_cache() == fk.cache_dir() == tmp_path
    assert kernels.VERSIONS == fk.VERSIONS
    # an empty cache: both skip reasons name the fetch command
    assert "python3 tools/fetch_kernels.py" in kernels.tree_skip_reason("6.12")
    assert "not fetched" in kernels.tree_skip_reason("6.1")
    assert "build-6.12" in kernels.build_skip_reason("6.12")
    (tmp_path / "linux-6.12").mkdir()
    assert kernels.tree_skip_reason("6.12") is not None        # no completion stamp yet
    (tmp_path / "linux-6.12" / ".entrylint-complete").write_text("1 files\n")
    assert kernels.tree_skip_reason("6.12") is None
    assert "not built" in kernels.build_skip_reason("6.12")


def test_missing_tools_are_named(monkeypatch, tmp_path):
    monkeypatch.setenv("ENTRYLINT_KERNEL_CACHE", str(tmp_path))
    (tmp_path / "linux-6.12").mkdir()
    (tmp_path / "linux-6.12" / ".entrylint-complete").write_text("")
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    why = kernels.build_skip_reason("6.12")
    assert "missing build tools: make, gcc, flex, bison, bc" in why


# --------------------------------------------------------------------------- fixtures of conftest.py

def test_fetched_tree_has_the_entry_files(kernel_tree):
    for rel in ("arch/x86/entry/entry_64.S", "arch/x86/entry/entry_64_compat.S",
                "arch/x86/include/asm/alternative.h", "Makefile", "drivers/Kconfig"):
        assert (kernel_tree / rel).is_file(), rel
    # fetch_kernels.py keeps only the build files of the large folders
    assert not any((kernel_tree / "drivers" / "net").glob("*.c"))


def test_build_has_config_and_objects(kernel_build_612):
    config = (kernel_build_612 / ".config").read_text()
    assert "CONFIG_X86_64=y" in config
    for name in ("entry_64.o", "entry_64_compat.o"):
        assert (kernel_build_612 / "arch" / "x86" / "entry" / name).stat().st_size > 0


def test_fixture_users_get_markers(request):
    users = 0
    for item in request.session.items:
        names = set(getattr(item, "fixturenames", ()))
        if names & {"kernel_tree", "kernel_tree_61", "kernel_tree_612", "kernel_build_612"}:
            users += 1
            assert item.get_closest_marker("kernel"), item.nodeid
        if "kernel_build_612" in names:
            assert item.get_closest_marker("oracle"), item.nodeid
    if users == 0:
        pytest.skip("no test using a kernel fixture was selected (e.g. -m 'not kernel')")


# --------------------------------------------------------------------------- tools/fetch_kernels.py exit statuses

def _fetch_kernels(tmp_path, path_dirs, *args):
    env = {"PATH": os.pathsep.join(str(p) for p in path_dirs), "HOME": str(tmp_path),
           "ENTRYLINT_KERNEL_CACHE": str(tmp_path / "cache")}
    return subprocess.run([sys.executable, str(REPO / "tools" / "fetch_kernels.py"), *args],
                          env=env, capture_output=True, text=True, timeout=60)


def test_fetch_without_the_debian_package_says_so(tmp_path):
    fake = tmp_path / "bin"
    fake.mkdir()
    for name in ("apt-get", "apt-cache"):       # an apt that knows no linux-source-6.1 (Ubuntu)
        (fake / name).write_text("#!/bin/sh\necho 'E: No packages found' >&2\nexit 100\n")
        (fake / name).chmod(0o755)
    proc = _fetch_kernels(tmp_path, [fake, "/usr/bin", "/bin"], "--version", "6.1")
    assert proc.returncode == 3, proc.stderr
    assert "linux-source-6.1 is not in this system's apt sources" in proc.stderr
    assert not (tmp_path / "cache" / "linux-6.1").exists()


def test_build_without_tools_names_them(tmp_path):
    tree = tmp_path / "cache" / "linux-6.12"
    tree.mkdir(parents=True)
    (tree / ".entrylint-complete").write_text("0 files\n")
    proc = _fetch_kernels(tmp_path, [tmp_path / "empty"], "--version", "6.12", "--build")
    assert proc.returncode == 4, proc.stderr
    assert "missing build tools: make, gcc, flex, bison, bc" in proc.stderr


def test_a_shared_tree_asked_for_at_once_is_extracted_by_one_asker(monkeypatch, tmp_path):
    # the suite's processes (pytest-xdist) may ask for one tree together:
    # the second waits for the first's extraction, not reads a half-made tree
    import fcntl
    import io
    import tarfile
    import threading

    shelf = tmp_path / "shared"
    shelf.mkdir()
    with tarfile.open(shelf / "linux-9.9-x86.tar.xz", "w:xz") as t:
        body = b"\tnop\n"
        info = tarfile.TarInfo("linux-9.9/arch/x86/entry/entry_64.S")
        info.size = len(body)
        t.addfile(info, io.BytesIO(body))
    monkeypatch.setattr(kernels, "SHARED_KERNELS", shelf)
    monkeypatch.setenv("ENTRYLINT_SURVEY_CACHE", str(tmp_path / "cache"))
    (tmp_path / "cache").mkdir()
    got = []
    with open(tmp_path / "cache" / ".linux-9.9.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # another asker is extracting
        asker = threading.Thread(target=lambda: got.append(kernels.shared_tree("linux-9.9")))
        asker.start()
        asker.join(0.5)
        assert asker.is_alive() and not (tmp_path / "cache" / "linux-9.9").exists()
    asker.join(30)
    tree = tmp_path / "cache" / "linux-9.9"
    assert got == [tree]
    assert (tree / kernels.SHARED_STAMP).exists()
    assert (tree / "arch/x86/entry/entry_64.S").read_bytes() == b"\tnop\n"
    assert kernels.shared_tree("linux-9.9") == tree  # found by its stamp
