"""Same input, same bytes (issue 9): every output format, in separate
processes with different PYTHONHASHSEED, from trees at different absolute
places, with and without -j; and no run writes into the tree it reads."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from treehash import tree_digest, unchanged

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import determinism_survey  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TREE = REPO / "fixtures" / "kaiser-2017"  # the 2017-era tree of the issue: findings with code flows
ENTRY = "arch/x86/entry/entry_64.S"

# one process per hash seed runs every format (argv lists), writing each output to a file
RUNNER = """
import contextlib, io, json, sys
from entrylint.faces.cli import main
""" + determinism_survey.RUN_ARGVS

RUNS = [["--format", fmt, "--root", ".", "arch/x86/entry"] for fmt in ("text", "json", "sarif", "gcc", "github")]
RUNS += [["--format", "sarif", "--root", ".", "-j", "2", "arch/x86/entry"]]  # -j changes nothing
RUNS += [[sub, "--format", fmt, "--root", ".", ENTRY] for sub in ("expand", "explain") for fmt in ("text", "json")]


def run_all(tree: Path, seed: str, out: Path, frozen: bool = True) -> list[str]:
    """``frozen``: the records' write guard as the suite has it (tests/conftest.py),
    or off, as users run entrylint (source/record.py)."""
    out.mkdir()
    env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=str(REPO))
    if not frozen:
        env.pop("ENTRYLINT_FROZEN_RECORDS", None)
    proc = subprocess.run([sys.executable, "-c", RUNNER, json.dumps(RUNS), str(out)], cwd=tree, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [(out / f"{i}.out").read_text(encoding="utf-8", errors="surrogateescape") for i in range(len(RUNS))]


def test_every_format_same_bytes_across_seeds_places_and_jobs(tmp_path):
    a, b = tmp_path / "a" / "kaiser", tmp_path / "elsewhere" / "deeper" / "kaiser"
    shutil.copytree(TREE, a)
    shutil.copytree(TREE, b)
    before = tree_digest(a)
    got_a = run_all(a, "0", tmp_path / "out-a")
    got_b = run_all(b, "1", tmp_path / "out-b", frozen=False)  # and without the records' write guard
    assert tree_digest(a) == before == tree_digest(b)  # nothing written into the trees read
    for argv, x, y in zip(RUNS, got_a, got_b):
        assert x == y, f"entrylint {' '.join(argv)}: output differs across hash seeds / places"
        assert str(tmp_path) not in x, f"entrylint {' '.join(argv)}: an absolute path in the output"
    sarif = json.loads(got_a[2].split("\n", 1)[1])
    assert any(r.get("codeFlows") for r in sarif["runs"][0]["results"])  # the flows the issue saw change
    assert got_a[2] == got_a[5]  # -j 2 gives what -j 1 gives
    assert all(x.startswith("exit 1") for x in got_a[:6])  # the tree has findings: the formats say something


@pytest.mark.kernel
def test_released_tree_is_not_written(tmp_path):
    """A real tree (the 4.19 survey tree): check, expand and explain leave it as it was."""
    from kernels import shared_tree

    tree = shared_tree("linux-4.19.48")
    if tree is None:
        pytest.skip("the 4.19.48 survey tree is not there")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    with unchanged(tree, mtimes=True):
        for argv in (["--format", "json", "--profile", "max", "--root", str(tree), str(tree / "arch/x86/entry")],
                     ["expand", "--root", str(tree), str(tree / "arch/x86/entry/entry_64.S")],
                     ["explain", "--root", str(tree), str(tree / "arch/x86/entry/entry_64.S") + ":100"]):
            p = subprocess.run([sys.executable, "-m", "entrylint", *argv], env=env, cwd=tmp_path,
                               capture_output=True, timeout=600)
            assert p.returncode in (0, 1), p.stderr[-2000:]


def test_tree_digest_sees_every_kind_of_change(tmp_path):
    (tmp_path / "d").mkdir()
    f = tmp_path / "d" / "x.S"
    f.write_text("nop\n")
    d0 = tree_digest(tmp_path)
    f.write_text("nop \n")
    d1 = tree_digest(tmp_path)
    f.chmod(0o600)
    d2 = tree_digest(tmp_path)
    (tmp_path / ".hidden").write_text("")
    d3 = tree_digest(tmp_path)
    f.rename(tmp_path / "d" / "y.S")
    d4 = tree_digest(tmp_path)
    assert len({d0, d1, d2, d3, d4}) == 5
    with pytest.raises(AssertionError):
        with unchanged(tmp_path):
            (tmp_path / "new").mkdir()
