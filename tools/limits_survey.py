#!/usr/bin/env python3
"""How near the released kernels come to each limit (source/limits.py).

    python tools/limits_survey.py [--tree NAME]... [--profile P] [--analyse-all]

Expands every arch/x86 ``.S`` file of each survey tree (and the Debian
trees) and analyses those of arch/x86/entry (``--analyse-all``: every file,
as the CLI does: the walk of a crypto file can be the largest), and prints,
per limit, the largest use seen, where, and the default: each default should
be far above what any released kernel needs.  Reads only; prints a table.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from entrylint import api  # noqa: E402
from entrylint.source.tree import source_files  # noqa: E402
from entrylint.source.limits import DEFAULT, Limits  # noqa: E402

SURVEY = Path.home() / ".cache/entrylint/survey-kernels"
DEBIAN = Path.home() / ".cache/entrylint/kernels"


def trees(names):
    out = sorted(p for p in SURVEY.glob("linux-*") if p.is_dir())
    out += [p for p in (DEBIAN / "linux-6.1", DEBIAN / "linux-6.12") if (p / "Makefile").exists()]
    return [p for p in out if not names or p.name in names]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tree", action="append")
    ap.add_argument("--profile", default="max")
    ap.add_argument("--analyse-all", action="store_true", help="walk every file, not only arch/x86/entry")
    a = ap.parse_args()
    peak: dict[str, tuple[int, str]] = {n: (0, "") for n in Limits.names()}

    def see(name, value, where):
        if value > peak[name][0]:
            peak[name] = (value, where)

    t0 = time.time()
    nfiles = 0
    for root in trees(a.tree):
        opts = api.Options(root=root, profile=a.profile)
        files = source_files([root])
        for f in files:
            rel = f"{root.name}/{f.relative_to(root)}"
            entry = "arch/x86/entry" in str(f)
            try:
                if entry or a.analyse_all:
                    an = api.analyze(f, opts)
                    exp = an.expansion
                    see("analysis-visits", len(an.forward.pred), rel)
                    see("analysis-steps", an.forward.steps, rel)
                else:
                    exp = api.expand(f, opts)
            except Exception as e:  # noqa: BLE001 - a survey reports, it does not stop
                print(f"{rel}: {type(e).__name__}: {e}", file=sys.stderr)
                continue
            nfiles += 1
            for k, v in {**exp.pp.peak, **exp.gas.peak}.items():
                see(k, v, rel)
            for name in exp.pp.files:
                try:
                    size = os.path.getsize(name)
                    with open(name, encoding="utf-8", errors="surrogateescape") as fh:
                        longest = max((len(x) for x in fh.read().split("\n")), default=0)
                except OSError:
                    continue
                see("line-length", longest, name)
                see("file-size", size, name)
            if any(p.kind.value == "limit-hit" for p in exp.problems):
                print(f"{rel}: LIMIT HIT: {[p.message for p in exp.problems if p.kind.value == 'limit-hit']}")
        print(f"{root.name}: {len(files)} files, {time.time() - t0:.0f}s", file=sys.stderr, flush=True)
    print(f"{nfiles} files read with profile {a.profile}")
    print(f"{'limit':22} {'default':>12} {'largest seen':>14} {'share':>7}  where")
    for name in Limits.names():
        v, where = peak[name]
        d = DEFAULT.value(name)
        print(f"{name:22} {d:12} {v:14} {100 * v / d:6.2f}%  {where or '(not measured here)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
