"""Agreement with ``gcc -E`` on the real entry code of 6.1 and 6.12 (and on
every header it includes, each preprocessed on its own), token for token and
line for line, white space aside."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from entrylint.cpp import PREDEFINES, CppOptions, Kconfig, preprocess_file
from entrylint.cpp.lexer import lex_text
from entrylint.cpp.predefines import GCC_UNDEF_KEEPS
from entrylint.source.tree import IncludeSearch, kernel_include_search

CACHE = Path(os.path.expanduser(os.environ.get("ENTRYLINT_KERNEL_CACHE", "~/.cache/entrylint/kernels")))
ENTRY_FILES = ("arch/x86/entry/entry_64.S", "arch/x86/entry/entry_64_compat.S")


def kernel_root(ver: str) -> Path:
    root = CACHE / f"linux-{ver}"
    if not (root / "arch" / "x86" / "entry").is_dir():
        pytest.skip(f"linux-{ver} not fetched: run python3 tools/fetch_kernels.py")
    if shutil.which("gcc") is None:
        pytest.skip("gcc not installed")
    return root


class Setup:
    """The include search of a source tree plus a folder (searched first) with
    what a build would generate: autoconf.h for gcc, empty stand-ins for other
    generated headers, and the asm-generic wrappers kbuild writes."""

    def __init__(self, root: Path, kc: Kconfig, tmp: Path):
        self.root, self.kc, self.tmp = root, kc, tmp
        (tmp / "generated").mkdir(parents=True, exist_ok=True)
        (tmp / "generated" / "autoconf.h").write_text(kc.autoconf_h())
        self.search: IncludeSearch = kernel_include_search(root, extra=(tmp,))

    def ours(self, path: Path):
        return preprocess_file(path, CppOptions(search=self.search, kconfig=self.kc))

    def fill(self, path: Path):
        r = self.ours(path)
        for name in r.missing:
            p = self.tmp / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text("")
        for name in r.fallbacks:
            p = self.tmp / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(f"#include <asm-generic/{name[len('asm/'):]}>\n")
        return r

    def gcc(self, path: Path) -> subprocess.CompletedProcess:
        cmd = ["gcc", "-E", "-P", "-undef", "-nostdinc", "-x", "assembler-with-cpp"]
        cmd += [f"-D{n}={v}" for n, v in PREDEFINES if n not in GCC_UNDEF_KEEPS]
        for d in self.search.dirs:
            cmd += ["-I", str(d)]
        for p in self.search.implicit:
            cmd += ["-include", str(p)]
        cmd.append(str(path))
        return subprocess.run(cmd, capture_output=True, text=True)


def token_lines(texts) -> list[tuple[str, ...]]:
    out = []
    for text in texts:
        toks = tuple(t.text for t in lex_text(text))
        if toks:
            out.append(toks)
    return out


def compare(setup: Setup, path: Path) -> list[str]:
    """Lines that differ (empty when we agree with gcc)."""
    setup.fill(path)
    r = setup.ours(path)
    g = setup.gcc(path)
    ours = token_lines(line.text for line in r.lines)
    theirs = token_lines(g.stdout.split("\n"))
    if ours == theirs:
        return []
    import difflib
    return list(difflib.unified_diff([" ".join(x) for x in theirs], [" ".join(x) for x in ours],
                                     "gcc", "entrylint", lineterm="", n=0))[:40]


@pytest.mark.kernel
@pytest.mark.parametrize("ver", ["6.1", "6.12"])
@pytest.mark.parametrize("profile", ["defconfig", "max"])
@pytest.mark.parametrize("rel", ENTRY_FILES)
def test_entry_files_match_gcc(ver, profile, rel, tmp_path):
    root = kernel_root(ver)
    setup = Setup(root, Kconfig.from_profile(profile), tmp_path)
    diff = compare(setup, root / rel)
    assert not diff, "\n".join(diff)


@pytest.mark.kernel
@pytest.mark.slow
@pytest.mark.parametrize("ver", ["6.1", "6.12"])
def test_included_headers_match_gcc(ver, tmp_path):
    root = kernel_root(ver)
    headers: set[str] = set()
    for profile in ("defconfig", "max"):
        setup = Setup(root, Kconfig.from_profile(profile), tmp_path / profile)
        for rel in ENTRY_FILES:
            r = setup.fill(root / rel)
            headers.update(f for f in r.files if f.endswith(".h") and f.startswith(str(root)))
    setup = Setup(root, Kconfig.from_profile("max"), tmp_path / "max")
    failures = {}
    for h in sorted(headers):
        diff = compare(setup, Path(h))
        if diff:
            failures[h] = diff
    print(f"{ver}: {len(headers)} headers compared, {len(headers) - len(failures)} agree")
    assert len(headers) > 50
    assert not failures, "\n".join(f"{h}:\n" + "\n".join(d) for h, d in failures.items())


@pytest.mark.kernel
def test_speed_entry_64(tmp_path):
    root = kernel_root("6.12")
    setup = Setup(root, Kconfig.from_profile("max"), tmp_path)
    setup.fill(root / ENTRY_FILES[0])
    t0 = time.perf_counter()
    r = setup.ours(root / ENTRY_FILES[0])
    ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    setup.gcc(root / ENTRY_FILES[0])
    theirs = time.perf_counter() - t0
    print(f"entry_64.S 6.12 max: entrylint {ours:.3f}s, gcc -E {theirs:.3f}s, {len(r.files)} files")
    assert len(r.lines) > 500
