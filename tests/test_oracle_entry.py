"""The assembler as oracle (MODEL section 7): our expansion of the 6.12 entry
files against objdump of the objects that `make` built from the same tree.

For each file, `python3 -m entrylint expand --format json` runs as a
subprocess (--root the tree, --build and --config the O= build, whose
generated headers it reads), tests/oracle/compare.py lines the result up with
`objdump -d` of <build>/arch/x86/entry/<file>.o per symbol, and both modes
(sequence, layout) must agree on every symbol.  The per-symbol table is
printed (see it with -s) and always written to <pytest tmp>/oracle/<file>.txt.

Until the CLI is wired up (entrylint.faces.cli importable and the command
succeeding) the tests skip with the reason; set ENTRYLINT_ORACLE_STRICT=1 to
make a failing command fail instead.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from oracle.compare import compare
from oracle.objdump import objdump_object

pytestmark = [pytest.mark.kernel, pytest.mark.oracle, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
FILES = ("entry_64", "entry_64_compat")


def _cli_missing() -> str | None:
    try:
        if importlib.util.find_spec("entrylint.faces.cli") is None:
            return "entrylint.faces.cli does not exist yet"
    except ImportError as e:
        return f"entrylint.faces.cli is not importable: {e}"
    return None


@pytest.fixture(scope="module")
def oracle_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("oracle", numbered=True)


def _expand(tree: Path, build: Path, source: Path) -> dict:
    strict = os.environ.get("ENTRYLINT_ORACLE_STRICT") == "1"
    why = _cli_missing()
    if why:
        (pytest.fail if strict else pytest.skip)(f"{why} (the lead wires up `entrylint expand`)")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    cmd = [sys.executable, "-m", "entrylint", "expand", "--format", "json", "--root", str(tree),
           "--build", str(build), "--config", str(build / ".config"), str(source)]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        msg = f"`{' '.join(cmd[1:])}` exited {proc.returncode}:\n{tail}"
        (pytest.fail if strict else pytest.skip)(msg)
    try:
        doc = json.loads(proc.stdout)
    except json.JSONDecodeError as e:
        pytest.fail(f"expand --format json printed invalid JSON ({e}); first 300 chars: {proc.stdout[:300]!r}")
    assert doc.get("version") == 1, f"unexpected version {doc.get('version')!r}"
    assert isinstance(doc.get("instructions"), list) and doc["instructions"], "no instructions in the expansion"
    return doc


@pytest.fixture(scope="module", params=FILES)
def entry_report(request, kernel_tree_612, kernel_build_612, oracle_dir):
    name = request.param
    if shutil.which("objdump") is None:
        pytest.skip("objdump (binutils) is needed")
    obj = kernel_build_612 / "arch" / "x86" / "entry" / f"{name}.o"
    if not obj.is_file():
        pytest.skip(f"{obj} is absent: run python3 tools/fetch_kernels.py --build --version 6.12")
    doc = _expand(kernel_tree_612, kernel_build_612, kernel_tree_612 / "arch" / "x86" / "entry" / f"{name}.S")
    report = compare(doc, objdump_object(obj))
    out = oracle_dir / f"{name}.txt"
    out.write_text(f"{name}.S (linux-6.12) vs objdump -d {obj}\n{report.table()}\n")
    print(f"\n== {name}: {out}\n{report.table()}")
    return name, report


def test_sequence_agrees(entry_report):
    name, report = entry_report
    bad = report.mismatches("sequence")
    assert not bad, (f"{name}: {len(bad)} symbol(s) differ in sequence mode:\n"
                     + "\n".join(f"  {r.section} {r.symbol}: {r.sequence_why}" for r in bad[:20]))


def test_layout_agrees(entry_report):
    name, report = entry_report
    bad = report.mismatches("layout")
    assert not bad, (f"{name}: {len(bad)} symbol(s) differ in layout mode (n/a = no offsets from expand):\n"
                     + "\n".join(f"  {r.section} {r.symbol}: {r.layout_why}" for r in bad[:20]))
