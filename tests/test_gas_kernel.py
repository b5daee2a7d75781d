"""The GAS layer on the real entry code, checked against GNU as itself.

The oracle: ``as --64 -alm`` lists every line it reads, macro expansions
included (marked ``>``); the lines that produced bytes and hold an instruction
are compared, in order, with our ``insn`` statements."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from entrylint.cpp.types import plain_lines
from entrylint.gas import expand, lex

CACHE = Path(os.path.expanduser(os.environ.get("ENTRYLINT_KERNEL_CACHE", "~/.cache/entrylint/kernels")))
FILES = ("entry_64", "entry_64_compat")
_MISSING_RE = re.compile(r"fatal error: (asm/[\w/.-]+\.h): No such file")
_LISTING_RE = re.compile(r"^\s*(\d+) (?:[0-9a-f?]{4} ([0-9A-F]+)|\s{4} [0-9A-F]*|)\s*\t(>*)(.*)$")
_AUTOCONF = ("CONFIG_X86 CONFIG_X86_64 CONFIG_64BIT CONFIG_SMP CONFIG_PAGE_TABLE_ISOLATION "
             "CONFIG_MITIGATION_PAGE_TABLE_ISOLATION")

pytestmark = [pytest.mark.kernel]


def _need_tools() -> None:
    for tool in ("gcc", "as"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")


def _from_build_dir(version: str, name: str, out: Path) -> bool:
    build = CACHE / f"build-{version}"
    cmdfile = build / "arch/x86/entry" / f".{name}.o.cmd"
    if not (build / ".entrylint-built").exists() or not cmdfile.exists():
        return False
    first = cmdfile.read_text().splitlines()[0]
    cmd = first.split(":=", 1)[1]
    cmd = re.sub(r"-Wp,-MMD,\S+", "", cmd)
    cmd = re.sub(r"-c -o \S+", f"-E -P -o {out}", cmd)
    return subprocess.run(cmd, shell=True, cwd=build, capture_output=True).returncode == 0


def _with_stubs(tree: Path, name: str, out: Path, tmp: Path) -> None:
    """gcc -E with the plain include path, a small autoconf.h and stubs for
    generated headers (asm-generic wrappers, or empty)."""
    gen = tmp / "gen"
    (gen / "generated").mkdir(parents=True, exist_ok=True)
    (gen / "generated/autoconf.h").write_text(
        "".join(f"#define {c} 1\n" for c in _AUTOCONF.split()))
    (gen / "generated/asm-offsets.h").write_text("")
    cmd = ["gcc", "-E", "-P", "-x", "assembler-with-cpp", "-nostdinc",
           f"-I{tree}/arch/x86/include", f"-I{gen}", f"-I{tree}/include",
           f"-I{tree}/arch/x86/include/uapi", f"-I{tree}/include/uapi",
           "-include", f"{tree}/include/linux/kconfig.h", "-D__ASSEMBLY__", "-D__KERNEL__",
           str(tree / "arch/x86/entry" / f"{name}.S"), "-o", str(out)]
    for _ in range(40):
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode == 0:
            return
        m = _MISSING_RE.search(proc.stderr)
        if not m:
            pytest.fail(f"gcc -E failed: {proc.stderr[-2000:]}")
        stub = gen / m.group(1)
        stub.parent.mkdir(parents=True, exist_ok=True)
        generic = tree / "include/asm-generic" / Path(m.group(1)).name
        stub.write_text(f"#include <asm-generic/{generic.name}>\n" if generic.exists() else "")
    pytest.fail("too many missing generated headers")


def preprocessed(version: str, name: str, tmp: Path) -> Path:
    tree = CACHE / f"linux-{version}"
    if not (tree / "arch/x86/entry" / f"{name}.S").exists():
        pytest.skip(f"kernel tree {tree} absent (run tools/fetch-kernels)")
    _need_tools()
    out = tmp / f"{name}-{version}.s"
    if not _from_build_dir(version, name, out):
        _with_stubs(tree, name, out, tmp)
    return out


def listing_insns(path: Path, macros) -> list[str]:
    """Instruction words of the lines GAS listed with bytes, in listing order."""
    proc = subprocess.run(["as", "--64", "-alm=/dev/stdout", "--listing-rhs-width=100000",
                           "--listing-cont-lines=1", "-o", os.devnull, str(path)],
                          capture_output=True, text=True)
    words = []
    for raw in proc.stdout.splitlines():
        m = _LISTING_RE.match(raw)
        if not m or not m.group(2):
            continue
        for _, stmt in lex.split_statements(lex.strip_comments(m.group(4))):
            _, rest, _ = lex.peel_labels(stmt)
            p = lex.classify(rest)
            if p.kind == "word" and p.name.lower() not in macros:
                words.append(p.name.lower())
    return words


@pytest.mark.parametrize("version", ["6.1", "6.12"])
@pytest.mark.parametrize("name", FILES)
def test_entry_code_matches_gnu_as(version, name, tmp_path):
    path = preprocessed(version, name, tmp_path)
    lines = plain_lines(path.read_text(), str(path))
    start = time.perf_counter()
    result = expand(lines)
    elapsed = time.perf_counter() - start
    assert result.problems == []
    mine = [s.name for s in result.statements if s.kind == "insn"]
    theirs = listing_insns(path, result.macros)
    assert len(theirs) > 50
    assert mine == theirs
    print(f"{version} {name}: {len(lines)} lines, {len(result.statements)} statements, "
          f"{len(mine)} insns agree with as, {elapsed * 1000:.0f} ms")


@pytest.mark.parametrize("version", ["6.1", "6.12"])
def test_entry_64_sections_and_traces(version, tmp_path):
    path = preprocessed(version, "entry_64", tmp_path)
    result = expand(plain_lines(path.read_text(), str(path)))
    insns = [s for s in result.statements if s.kind == "insn"]
    sections = {s.section for s in insns}
    assert ".altinstr_replacement" in sections
    assert any(s.startswith(".noinstr.text") or s == ".text" or s.startswith(".entry.text")
               for s in sections)
    swapgs = [s for s in insns if s.name == "swapgs"]
    assert swapgs
    # everything GAS expanded from a macro names that macro on its first frame
    nested = [s for s in result.statements if len(s.trace) > 1]
    assert nested
    for s in nested:
        assert s.trace[0].kind in ("macro", "rept", "irp", "irpc")
        assert s.trace[0].location.file == str(path)
        assert s.trace[-1].kind == "source"
    assert "UNWIND_HINT" in {n.upper() for n in result.macros} or "unwind_hint" in result.macros
