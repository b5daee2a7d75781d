#!/usr/bin/env python3
"""Run every rule on every 64-bit .S of arch/x86/entry of the fetched Debian
kernels under each built-in profile, and list what they report.

Released kernels are reviewed code: a warning or error there is presumed a
false positive of ours until shown otherwise.  The ones shown to be true
positives of the model are listed in DOCUMENTED with their reasoning; the
script fails on anything else.

    python3 tools/rules_survey.py [--version 6.12] [--profile max]
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fetch_kernels import cache_dir as _cache  # noqa: E402  (the one place that knows the cache)

PROFILES = ("max", "defconfig", "pti-off")
VERSIONS = ("6.1", "6.12")

# (rule, symbol) -> why it is a true positive in a released kernel
DOCUMENTED = {
    ("EL303", "native_irq_return_ldt"):
        "the espfix swapgs is reached by a conditional branch that also serves returns to kernel mode; "
        "with PTI off no CR3 write serializes before the per-cpu espfix load (CVE-2019-1125 gadget shape). "
        "Not shown exploitable; reported as a warning of the model.",
}



def main(argv=None) -> int:
    from entrylint import api
    from entrylint.source.tree import build_flavour

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--version", action="append", choices=VERSIONS)
    ap.add_argument("--profile", action="append", choices=PROFILES)
    args = ap.parse_args(argv)
    table: Counter = Counter()
    undocumented, documented = [], Counter()
    for v in args.version or VERSIONS:
        root = _cache() / f"linux-{v}"
        if not (root / ".entrylint-complete").exists():
            print(f"linux-{v} not fetched: run python3 tools/fetch_kernels.py", file=sys.stderr)
            continue
        files = [p for p in sorted((root / "arch/x86/entry").glob("*.S")) if build_flavour(p).mode == 64]
        for prof in args.profile or PROFILES:
            for f in files:
                res = api.check(f, api.Options(root=root, profile=prof))
                for x in res.findings:
                    if x.severity.value == "info":
                        table[(v, prof, x.id)] += 1
                        continue
                    table[(v, prof, x.id)] += 1
                    where = f"{v} {prof} {f.name}:{x.location.line} [{x.symbol}] {x.id} {x.message}"
                    if (x.id, x.symbol) in DOCUMENTED:
                        documented[(x.id, x.symbol)] += 1
                    else:
                        undocumented.append(where)
    print(f"{'version':7} {'profile':9} findings by rule (info included)")
    for v in args.version or VERSIONS:
        for prof in args.profile or PROFILES:
            row = {k[2]: n for k, n in table.items() if k[:2] == (v, prof)}
            print(f"{v:7} {prof:9} " + (", ".join(f"{r}x{n}" for r, n in sorted(row.items())) or "none"))
    print("\ndocumented true positives (warnings/errors):")
    for (rid, sym), n in sorted(documented.items()):
        print(f"  {rid} at {sym}: {n} (files x profiles x sites) -- {DOCUMENTED[(rid, sym)]}")
    print(f"\n{len(undocumented)} undocumented warnings/errors")
    for u in undocumented:
        print("  " + u)
    return 1 if undocumented else 0


if __name__ == "__main__":
    sys.exit(main())
