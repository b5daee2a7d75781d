#!/usr/bin/env python3
"""Same input, same bytes, survey-sized (issue 9).

    python tools/determinism_survey.py [--tree NAME]... [--seeds 0,1] [--out DIR]

For every survey tree (~/.cache/entrylint/survey-kernels/linux-*) and the
Debian trees (~/.cache/entrylint/kernels/linux-6.1, linux-6.12): entrylint
checks arch/x86/entry in every format (text, json, sarif, gcc, github; every
built-in profile) and runs expand and explain (text and json) on
entry_64.S, once per hash seed, each seed in its own process; the second
seed's checks run with -j 2.  Every output must be the same bytes.  Runs in
the tree (relative paths, as kernel-survey does), so no absolute path of
the working folder can hide in the comparison.  Prints one row per tree and
exits 1 when any output differs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SURVEY = Path.home() / ".cache/entrylint/survey-kernels"
DEBIAN = Path.home() / ".cache/entrylint/kernels"
FORMATS = ("text", "json", "sarif", "gcc", "github")

# Runs the argv lists of sys.argv[1] through the CLI, each output to a file of sys.argv[2]
# (the tests' determinism check runs the same loop).
RUN_ARGVS = r"""
runs, out = json.loads(sys.argv[1]), sys.argv[2]
for i, argv in enumerate(runs):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(argv)
    with open(f"{out}/{i}.out", "w", encoding="utf-8", errors="surrogateescape") as fh:
        fh.write(f"exit {code}\n" + buf.getvalue())
"""

# The checks of one process are memoised by their arguments: the formats of
# one seed render the same analysis (the -j 2 run of the second seed analyses
# afresh in its workers, and each seed's process analyses once on its own).
RUNNER = r"""
import contextlib, io, json, sys
from entrylint import api
from entrylint.faces.cli import main
_check, _memo = api.check, {}
def check(path, options=None, *a, **k):
    key = (str(path), repr(options), repr(a), repr(sorted(k.items(), key=lambda kv: kv[0])))
    if key not in _memo:
        _memo[key] = _check(path, options, *a, **k)
    return _memo[key]
api.check = check
""" + RUN_ARGVS


def trees(names):
    out = sorted((p for p in SURVEY.glob("linux-*") if p.is_dir()),
                 key=lambda p: [int(x) if x.isdigit() else x for x in p.name[6:].split(".")])
    out += [p for p in (DEBIAN / "linux-6.1", DEBIAN / "linux-6.12") if (p / "Makefile").exists()]
    return [p for p in out if not names or p.name in names]


def runs(jobs: int) -> list[list[str]]:
    j = ["-j", str(jobs)] if jobs > 1 else []
    # json first: with -j it is analysed in the workers, the other formats from the memo
    out = [["--format", f, "--root", ".", *(j if f == "json" else []), "arch/x86/entry"]
           for f in ("json",) + tuple(x for x in FORMATS if x != "json")]
    out += [[sub, "--format", f, "--root", ".", "arch/x86/entry/entry_64.S" + (":" if sub == "explain" else "")]
            for sub in ("expand", "explain") for f in ("text", "json")]
    # explain of the whole file (no line): strip the trailing ":"
    return [[a[:-1] if a.endswith(".S:") else a for a in r] for r in out]


def run(tree: Path, seed: str, jobs: int, out: Path) -> list[str]:
    out.mkdir(parents=True)
    # a cache of its own, empty: every seed analyses the tree and reads its
    # facts afresh (the user's cache may hold the results of this very code,
    # and a hit would compare the rendering of one analysis with itself)
    cache = out / "cache"
    env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=str(REPO), ENTRYLINT_CACHE_DIR=str(cache))
    argvs = runs(jobs)
    p = subprocess.run([sys.executable, "-c", RUNNER, json.dumps(argvs), str(out)], cwd=tree, env=env,
                       capture_output=True, text=True)
    if p.returncode != 0:
        return [f"runner failed: {p.stderr[-2000:]}"] * len(argvs)
    got = [(out / f"{i}.out").read_text(encoding="utf-8", errors="surrogateescape") for i in range(len(argvs))]
    shutil.rmtree(cache, ignore_errors=True)
    return got


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tree", action="append")
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--out", default=None, help="keep the outputs here (default: a temporary folder)")
    a = ap.parse_args()
    s1, s2 = a.seeds.split(",")
    base = Path(a.out or tempfile.mkdtemp(prefix="entrylint-determinism-"))
    bad = 0
    total = same = 0
    for tree in trees(a.tree):
        t0 = time.perf_counter()
        x = run(tree, s1, 1, base / tree.name / f"seed{s1}")
        y = run(tree, s2, 2, base / tree.name / f"seed{s2}-j2")
        labels = [" ".join(r) for r in runs(1)]
        differ = [lab for lab, u, v in zip(labels, x, y) if u != v]
        failed = [lab for lab, u in zip(labels, x) if not u.startswith("exit ")]
        total += len(labels)
        same += len(labels) - len(differ)
        size = sum(len(u) for u in x)
        digest = hashlib.sha256("".join(x).encode("utf-8", "surrogateescape")).hexdigest()[:12]
        print(f"{tree.name:16} outputs {len(labels)}  identical {len(labels) - len(differ)}  "
              f"bytes {size}  sha256 {digest}  {time.perf_counter() - t0:.0f}s"
              + (f"  DIFFER: {differ}" if differ else "") + (f"  FAILED: {failed}" if failed else ""), flush=True)
        bad += bool(differ or failed)
    print(f"total: {same}/{total} outputs identical across PYTHONHASHSEED={s1} (-j 1) and {s2} (-j 2); "
          f"outputs in {base}")
    print(json.dumps({"outputs": total, "identical": same, "trees_differing": bad}))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
