"""EL9xx: each front-end finding kind fires on its fixture, at the line the
fixture names, and the rest of the file is still read."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from entrylint import api

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "frontend"
REPO = Path(__file__).resolve().parents[1]


def findings(name: str, **kw):
    return api.expand(FIX / name, api.Options(**kw))


def line_of(name: str, needle: str) -> int:
    """The first line that is not a comment and contains ``needle``."""
    for i, line in enumerate((FIX / name).read_text().splitlines(), 1):
        if needle in line and not line.lstrip().startswith(("/*", "*")):
            return i
    raise AssertionError(f"{needle!r} not in {name}")


@pytest.mark.parametrize("name, fid, needle", [
    ("missing_include.S", "EL901", "#include <asm/no_such_header.h>"),
    ("generated_header.S", "EL911", "#include <generated/asm-offsets.h>"),
    ("unknown_mnemonic.S", "EL902", "SWITCH_TO_KERNEL_CR3"),
    ("unknown_directive.S", "EL903", ".no_such_directive"),
    ("unbalanced.S", "EL904", ".endr"),
    ("bad_macro_args.S", "EL905", "SAVE_CR3 scratch_reg=%rax"),
    ("limit.S", "EL906", "the outermost invocation"),
    ("cpp_error.S", "EL908", "#error"),
    ("asm_error.S", "EL909", "movq\t%cr3, $1"),
])
def test_each_kind_fires_at_its_line(name, fid, needle):
    exp = findings(name)
    got = [(f.id, f.location.line) for f in exp.findings]
    assert (fid, line_of(name, needle)) in got, [str(f) for f in exp.findings]


def test_reading_goes_on_after_a_problem():
    exp = findings("missing_include.S")
    assert [i.text for i in exp.program.instructions] == ["nop"]
    assert exp.program.symbols["after_include"].kind == "label"
    exp = findings("cpp_error.S")
    assert [i.text for i in exp.program.instructions] == ["ret"]


def test_unbalanced_if_names_the_opening_line():
    exp = findings("unbalanced.S")
    msgs = [f for f in exp.findings if f.id == "EL904"]
    assert {f.location.line for f in msgs} == {line_of("unbalanced.S", ".endr"), line_of("unbalanced.S", ".if 1")}


def test_generated_header_is_information_not_error():
    exp = findings("generated_header.S")
    (f,) = [f for f in exp.findings if f.id == "EL911"]
    assert f.severity.value == "info" and "--build" in f.message


def test_an_if_on_a_missing_generated_header_s_symbols_is_a_check(tmp_path):
    """``.if ZO_a != ZO_b`` where ``zoffset.h`` (a build writes it) is missing:
    the symbols are unknown, not wrong -- a check, not an assembler error;
    the same ``.if`` with every header there stays an error."""
    body = "\t.if ZO_a != ZO_b\n\tnop\n\t.endif\n"
    missing = tmp_path / "a.S"
    missing.write_text('#include "zoffset.h"\n' + body)
    got = sorted((f.id, f.severity.value, f.location.line) for f in api.expand(missing, api.Options()).findings)
    assert got == [("EL911", "info", 1), ("EL911", "info", 2)]
    plain = tmp_path / "b.S"
    plain.write_text(body)
    assert [(f.id, f.location.line) for f in api.expand(plain, api.Options()).findings] == [("EL909", 1)]


def test_unreadable_input(tmp_path):
    missing = tmp_path / "gone.S"
    exp = api.expand(missing, api.Options())
    assert [f.id for f in exp.findings] == ["EL907"]


def test_no_assembler_is_said_once(tmp_path, monkeypatch):
    monkeypatch.setenv("ENTRYLINT_AS", str(tmp_path / "no-such-as"))
    monkeypatch.setattr(api, "_decoder", None)
    exp = findings("missing_include.S")
    assert [f.id for f in exp.findings if f.id == "EL910"] == ["EL910"]
    assert exp.program.instructions[0].info is None
    monkeypatch.setattr(api, "_decoder", None)


def run_cli(*args, cwd=REPO):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "entrylint", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=120)


def test_cli_bad_input_is_one_line_exit_2(tmp_path):
    proc = run_cli("expand", str(tmp_path / "nope.S"))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    proc = run_cli("--config", str(tmp_path / "nope.config"), str(FIX / "asm_error.S"))
    assert proc.returncode == 2 and proc.stderr.startswith("entrylint: ")


def test_cli_expand_json_and_text():
    import json

    proc = run_cli("expand", "--format", "json", str(FIX / "bad_macro_args.S"))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["version"] == 1
    assert [i["mnemonic"] for i in data["instructions"]] == ["movq", "movq", "ret"]
    first = data["instructions"][0]
    # the reviewer's line first, the macro body line last
    assert [t["line"] for t in first["trace"]] == [line_of("bad_macro_args.S", "SAVE_CR3 scratch_reg=%rax"),
                                                   line_of("bad_macro_args.S", "movq\t%cr3")]
    assert first["trace"][0]["macro"] == "SAVE_CR3"
    assert first["canonical"] == "mov" and first["offset"] == 0 and first["size"] == 3
    text = run_cli("expand", str(FIX / "bad_macro_args.S")).stdout
    assert "via SAVE_CR3@bad_macro_args.S:" in text


def test_cli_never_writes_into_the_tree(tmp_path):
    import shutil

    tree = tmp_path / "tree"
    shutil.copytree(FIX, tree)
    before = {p: p.stat().st_mtime_ns for p in tree.rglob("*")}
    run_cli(str(tree))
    run_cli("expand", "--format", "json", str(tree / "limit.S"))
    after = {p: p.stat().st_mtime_ns for p in tree.rglob("*")}
    assert before == after


def test_columns_are_those_of_the_source(tmp_path):
    src = tmp_path / "col.S"
    src.write_text("\t.text\nfoo:\n\tnop\n  movq %rax, %rbx\nbar: ret\n")
    exp = api.expand(src, api.Options())
    cols = {i.text.split()[0]: (i.location.line, i.location.col) for i in exp.program.instructions}
    assert cols == {"nop": (3, 2), "movq": (4, 3), "ret": (5, 6)}


def test_a_folder_s_makefile_include_flags_are_searched(tmp_path):
    """7.x's vDSO files read ``common/note.S`` and ``extable.h`` through
    ``flags-y += -I$(src)/..`` of a Makefile fragment their folder's Makefile
    includes: the folder's -I flags are searched after the kernel's, as
    kbuild orders them.  Before, each was EL901 (Debian's 7.2: three).
    A generated header is known by its name (7.x's mshv-asm-offsets.h)."""
    from entrylint.source.tree import makefile_include_dirs

    root = tmp_path / "linux"
    vdso = root / "arch/x86/entry/vdso"
    (vdso / "vdso64").mkdir(parents=True)
    (vdso / "common").mkdir()
    (root / "include").mkdir()
    (root / "tools/include").mkdir(parents=True)
    (vdso / "common/Makefile.include").write_text("flags-y += -DBUILD_VDSO\nflags-y += -I$(src)/.. -I$(srctree)\n"
                                                  "HOST_EXTRACFLAGS += -I$(srctree)/tools/include\n")
    (vdso / "vdso64/Makefile").write_text("vobjs-y := note.o\n\n# The location of this include matters!\n"
                                          "include $(src)/../common/Makefile.include\n")
    (vdso / "common/note.S").write_text("\t.section .note.fixture, \"a\"\n\t.long 4\n")
    (vdso / "extable.h").write_text("#define FIXTURE_EXTABLE 1\n")
    note = vdso / "vdso64/note.S"
    note.write_text('#include "common/note.S"\n#include "extable.h"\n\t.long FIXTURE_EXTABLE\n')
    # (the host programs' flags are not the vDSO's)
    assert makefile_include_dirs(str(root), str(vdso / "vdso64")) == [vdso, root]
    assert makefile_include_dirs(str(root), str(vdso)) == []  # (no Makefile there, nor above)
    # a folder without a Makefile is built by the one above it (kvm/svm/vmenter.S)
    kvm = root / "arch/x86/kvm"
    (kvm / "svm").mkdir(parents=True)
    (kvm / "Makefile").write_text("ccflags-y += -I $(srctree)/arch/x86/kvm\nkvm-amd-y += svm/vmenter.o\n")
    assert makefile_include_dirs(str(root), str(kvm / "svm")) == [kvm]
    res = api.check(note, api.Options(root=root, profile="defconfig"))
    assert not [f for f in res.findings if f.id.startswith("EL9") and f.severity.value == "error"], res.findings
    exp = api.expand(note, api.Options(root=root, profile="defconfig"))
    assert [s.args for s in exp.gas.statements if s.name == ".long"] == ["4", "1"]
    from entrylint.source.tree import is_generated_header

    assert is_generated_header("mshv-asm-offsets.h") and is_generated_header("asm/asm-offsets.h")
    assert not is_generated_header("asm/offsets.h")
