#!/usr/bin/env python3
"""Expand every .S file under arch/x86 of the fetched kernel trees under each
built-in profile, and count crashes and front-end findings.

    python3 tools/frontend_survey.py [--version 6.12] [--profile max] [-j N] [--json OUT]

A missing header that only a kernel build generates (asm-offsets.h,
unistd_64.h, ...) is listed apart: it is expected in a source tree without a
build.  Everything else is a front-end gap to fix.  Prints a table and the
time taken.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fetch_kernels import cache_dir as _cache  # noqa: E402  (the one place that knows the cache)

PROFILES = ("max", "defconfig", "pti-off")
VERSIONS = ("6.1", "6.12")



def one(job: tuple[str, str, str]) -> dict:
    from entrylint import api
    from entrylint.source.tree import is_generated_header

    version, profile, path = job
    root = _cache() / f"linux-{version}"
    t0 = time.perf_counter()
    try:
        exp = api.expand(Path(path), api.Options(root=root, profile=profile))
    except Exception:  # noqa: BLE001 - a crash is what we count
        return {"version": version, "profile": profile, "file": path, "crash": traceback.format_exc(),
                "findings": [], "generated": [], "consequences": [], "seconds": time.perf_counter() - t0, "insns": 0}
    gen, other, consequences = [], [], []
    missing_gen = {m for m in exp.pp.missing if is_generated_header(m)}
    for f in exp.findings:
        text = f.message
        if f.id == "EL911":
            gen.append(text)
        elif missing_gen and f.id == "EL909" and "non-constant expression" in text:
            # GNU as itself stops here when the generated header's symbols are absent
            gen.append(text)
            consequences.append(text)
        else:
            rel = os.path.relpath(f.location.file, root) if f.location else "?"
            other.append(f"{f.id} {rel}:{f.location.line if f.location else 0}: {text}")
    return {"version": version, "profile": profile, "file": path, "crash": None, "findings": other,
            "generated": sorted(missing_gen), "consequences": consequences, "seconds": time.perf_counter() - t0,
            "insns": len(exp.program.instructions),
            "undecoded": sum(i.info is None for i in exp.program.instructions)}


def jobs(versions, profiles, only: str | None):
    for v in versions:
        root = _cache() / f"linux-{v}"
        if not (root / ".entrylint-complete").exists():
            print(f"linux-{v} not fetched: run python3 tools/fetch_kernels.py", file=sys.stderr)
            continue
        from entrylint.source.tree import source_files
        files = [str(p) for p in source_files([root])]
        if only:
            files = [f for f in files if only in f]
        for p in profiles:
            for f in files:
                yield (v, p, f)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--version", action="append", choices=VERSIONS)
    ap.add_argument("--profile", action="append", choices=PROFILES)
    ap.add_argument("--only", help="only files whose path contains this")
    ap.add_argument("-j", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--json", type=Path, help="write the per-file results here")
    ap.add_argument("-v", action="store_true", help="list every finding")
    args = ap.parse_args(argv)
    work = list(jobs(args.version or VERSIONS, args.profile or PROFILES, args.only))
    t0 = time.perf_counter()
    if args.j > 1:
        with ProcessPoolExecutor(args.j) as ex:
            results = list(ex.map(one, work, chunksize=4))
    else:
        results = [one(j) for j in work]
    wall = time.perf_counter() - t0
    table = Counter()
    generated = Counter()
    crashes = [r for r in results if r["crash"]]
    for r in results:
        key = (r["version"], r["profile"])
        table[key + ("files",)] += 1
        table[key + ("insns",)] += r["insns"]
        table[key + ("undecoded",)] += r.get("undecoded", 0)
        table[key + ("findings",)] += len(r["findings"])
        table[key + ("files with findings",)] += bool(r["findings"])
        table[key + ("crashes",)] += bool(r["crash"])
        for g in r["generated"]:
            generated[(r["version"], g)] += 1
    print(f"{'version':8} {'profile':10} {'files':>6} {'crashes':>8} {'EL9xx':>6} {'files w/':>8} {'insns':>8} "
          f"{'undecoded':>9}")
    for v in args.version or VERSIONS:
        for p in args.profile or PROFILES:
            k = (v, p)
            if table[k + ("files",)]:
                print(f"{v:8} {p:10} {table[k + ('files',)]:6} {table[k + ('crashes',)]:8} "
                      f"{table[k + ('findings',)]:6} {table[k + ('files with findings',)]:8} {table[k + ('insns',)]:8} "
                      f"{table[k + ('undecoded',)]:9}")
    print("\nmissing headers that only a kernel build generates (files x profiles):")
    for (v, g), n in sorted(generated.items()):
        print(f"  {v:6} {g:40} {n}")
    cons = Counter(c for r in results for c in r.get("consequences", []))
    if cons:
        print("\nconsequences of those missing headers (what as itself would say without them):")
        for c, n in cons.most_common():
            print(f"  {n:3}x {c}")
    if crashes:
        print(f"\n{len(crashes)} crashes; first:\n{crashes[0]['file']}\n{crashes[0]['crash']}")
    other = Counter()
    for r in results:
        for f in r["findings"]:
            other[f] += 1
    if other:
        print("\nother front-end findings:" if args.v else "\nother front-end findings (first 40; -v for all):")
        for f, n in (other.most_common() if args.v else other.most_common(40)):
            print(f"  {n:3}x {f}")
    print(f"\n{len(results)} expansions in {wall:.1f}s wall ({sum(r['seconds'] for r in results):.1f}s cpu)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    undecoded = sum(r.get("undecoded", 0) for r in results)
    return 1 if crashes or other or undecoded else 0


if __name__ == "__main__":
    sys.exit(main())
