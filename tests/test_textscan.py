"""The tree scans searched from their first letters (source/textscan.py)
find what the expressions anchored at line or word starts find: random
texts made of the pieces those expressions turn on (the same check ran on
every .S, header and Kconfig file of the eleven survey trees)."""

from __future__ import annotations

import random
import re

import pytest

from entrylint.analysis import asmindex
from entrylint.source import tree as srctree

# the names of the annotations and those of the .globl lines, each by its
# own anchored expression (one expression of both alternatives, as before,
# also let ``.globl`` with nothing after it on its line take the next
# line's first word -- ``.globl\nSYM_FUNC_START(f)`` gave SYM_FUNC_START
# and hid f; no file of the survey trees has that)
GLOBL = re.compile(r"^\s*\.glob(?:a)?l\s+(\w+)", re.M)
ASM_CALLEES = re.compile(r"\b(?:SYM_(?:CODE_|FUNC_|TYPED_FUNC_)?START\w*|ENTRY|GLOBAL|WEAK)\(\s*(\w+)")
ASM_CINDEX = re.compile(r"\b(?:SYM_(?:CODE|FUNC|INNER_LABEL|TYPED_FUNC)\w*|ENTRY|GLOBAL|WEAK)\(\s*(\w+)")
MACRO = re.compile(r"^\s*\.macro\s+(\w+)[ \t,]*([^\n]*)\n(.*?)^\s*\.endm", re.M | re.S)
SOURCE = re.compile(r'^\s*(o?r?source)\s+(?:"([^"]+)"|([^"\s]*/[^"\s]*)[ \t]*(?:#[^\n]*)?$)', re.M)

ASM_PIECES = ["SYM_FUNC_START(", "SYM_CODE_START_LOCAL(", "SYM_INNER_LABEL(", "ENTRY(", "WEAK(", "GLOBAL(",
              ".globl", ".global", ".macro", ".endm", "\\p", " ", "\t", "\n", "x", "_a", "f1", ",", ")", "("]
KCONFIG_PIECES = ["source", "osource", "rsource", "orsource", "o", "r", '"', "a/b", " ", "\t", "\n", "x", "menu", "#"]


def _texts(pieces, seed, n=4000):
    rnd = random.Random(seed)
    for _ in range(n):
        yield "".join(rnd.choice(pieces) for _ in range(rnd.randint(0, 16)))


@pytest.mark.parametrize("seed", [1, 2])
def test_asm_scans_match_the_anchored_expressions(seed):
    for text in _texts(ASM_PIECES, seed):
        globl = set(GLOBL.findall(text))
        assert asmindex.defined_names(text) == globl | set(ASM_CALLEES.findall(text)), repr(text)
        assert asmindex.annotated_names(text) == globl | set(ASM_CINDEX.findall(text)), repr(text)
        assert list(asmindex._macros_of(text)) == [m.groups() for m in MACRO.finditer(text)], repr(text)


@pytest.mark.parametrize("seed", [1, 2])
def test_definer_invocations_match_the_anchored_expression(seed):
    macros = ["THUNK", "idtentry", "idtentry_mce_db"]
    anchored = re.compile(r"^\s*(" + "|".join(macros) + r")\s+([^\n]*)$", re.M)
    invoke = asmindex._invoking(macros)
    for text in _texts(macros + ["_mce", "x", " ", "\t", "\n", ",", "a1", "\\"], seed):
        assert [m.groups() for m in asmindex._invocations(invoke, text)] == \
            [m.groups() for m in anchored.finditer(text)], repr(text)


def test_source_lines_match_the_anchored_expression():
    for text in _texts(KCONFIG_PIECES, 3):
        assert srctree._sourced(text) == [(h, q or b) for h, q, b in SOURCE.findall(text)], repr(text)


def test_a_bare_source_path_is_read_and_help_text_is_not():
    """4.4-4.14 write ``source kernel/Kconfig.hz`` (the kconfig of the time
    took a bare path); a help text's line that starts with the word is no
    source line (no path)."""
    text = ('source "arch/x86/Kconfig"\nsource kernel/Kconfig.hz\n\tsource security/keys/Kconfig  # keys\n'
            "\thelp\n\t  source and destination ports.\n\t  source clocks\n")
    assert srctree._sourced(text) == [("source", "arch/x86/Kconfig"), ("source", "kernel/Kconfig.hz"),
                                      ("source", "security/keys/Kconfig")]


def test_joined_paths_are_spelled_as_path_spells_them():
    """sourced_kconfig joins 1,600 paths a run without Path: each must be
    the string ``Path(base) / name`` gives for a folder Path spells as it
    is (the files read, and their ``seen`` set, are the same)."""
    from pathlib import Path

    bases = ["", ".", "/", "/a", "/a/", "a", "a/", "./a", "a/.", "a//b", "/a/./b", "..", "../a", "a/b"]
    names = ["", ".", "x", "x/y", "./x", "x/.", "x/", "/x", "x//y", "../x", "x/../y", ".x", "x.", "..",
             "arch/x86/Kconfig"]
    for base in {str(Path(b)) for b in bases} | {""}:
        for name in names:
            assert srctree._joined(base, name) == str(Path(base) / name), (base, name)


def test_sourced_kconfig_follows_source_lines(tmp_path, monkeypatch):
    (tmp_path / "Kconfig").write_text('source "arch/$(SRCARCH)/Kconfig"\nsource "./init/Kconfig"\n'
                                      'source "drivers/*/Kconfig"\n')
    for d in ("arch/x86", "init", "drivers/a", "drivers/b"):
        (tmp_path / d).mkdir(parents=True)
    (tmp_path / "arch/x86/Kconfig").write_text('config X86\n\tbool\nrsource "Kconfig.cpu"\n')
    (tmp_path / "arch/x86/Kconfig.cpu").write_text("config CPU\n\tbool\n")
    (tmp_path / "init/Kconfig").write_text('config INIT\n\tbool\nsource "init/Kconfig"\n')  # read once
    (tmp_path / "drivers/a/Kconfig").write_text("config A\n\tbool\n")
    (tmp_path / "drivers/b/Kconfig").write_text("menuconfig B\n\tbool\n")
    monkeypatch.chdir(tmp_path)
    for root in (str(tmp_path), "."):
        got = [(f, text.split()[1]) for f, text in srctree.sourced_kconfig(root)]
        base = "" if root == "." else root + "/"
        assert sorted(got) == sorted([(base + "Kconfig", '"arch/$(SRCARCH)/Kconfig"'),
                                      (base + "arch/x86/Kconfig", "X86"), (base + "arch/x86/Kconfig.cpu", "CPU"),
                                      (base + "init/Kconfig", "INIT"), (base + "drivers/a/Kconfig", "A"),
                                      (base + "drivers/b/Kconfig", "B")])
