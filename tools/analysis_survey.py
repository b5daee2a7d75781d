#!/usr/bin/env python3
"""Run the analysis on every 64-bit .S file of arch/x86/entry of the fetched
kernels under each built-in profile, and check the invariants the engine
must never contradict on released code (issue 3):

- every entry point is found (they are listed);
- no PTI CR3 write happens while GS is the user's (with the documented
  exceptions below);
- every tuple that returns to user mode has cr3=user and gs=user;
- the analysis terminates within its visit limit.

    python3 tools/analysis_survey.py [--version 6.12] [--profile max] [--entries]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fetch_kernels import cache_dir as _cache  # noqa: E402  (the one place that knows the cache)

PROFILES = ("max", "defconfig", "pti-off")
VERSIONS = ("6.1", "6.12")

# Shown true positives of "CR3 written while GS is the user's" in released
# kernels, with the reason they are correct there (symbol, why).
DOCUMENTED = {
    "paranoid_entry": "since 5.18 the paranoid entry switches CR3 before it looks at GS; the source "
                      "says switching CR3 does not depend on the kernel GS base, and nothing between "
                      "the write and the GS fix-up touches per-cpu data",
}



def check(version: str, profile: str, path: Path) -> dict:
    from entrylint import api
    from entrylint.analysis.state import Space

    root = _cache() / f"linux-{version}"
    t0 = time.perf_counter()
    an = api.analyze(path, api.Options(root=root, profile=profile))
    fw = an.forward
    P = an.program.instructions
    bad, documented = [], []
    for ev in fw.event_list("cr3-write"):
        if ev.detail.startswith("pti") and ev.before.gs is Space.USER:
            sym = P[ev.node].symbol
            (documented if sym in DOCUMENTED else bad).append(
                f"CR3 write with user GS at {sym} line {P[ev.node].location.line} {ev.before}")
    for ev in fw.event_list("exit-user"):
        t = fw.resumed(ev.node, ev.before)
        if t.gs is not Space.USER or (t.cr3 is not Space.USER and not t.pti_off()):
            bad.append(f"exit to user at {P[ev.node].symbol} line {P[ev.node].location.line} with {t}")
    return {"file": path.name, "version": version, "profile": profile, "entries": [
        (e.symbol, e.kind.name) for e in an.entries], "visits": fw.visits, "tuples": fw.tuples(),
        "seconds": time.perf_counter() - t0, "forward": fw.seconds, "truncated": fw.truncated,
        "bad": sorted(set(bad)), "documented": sorted(set(documented)),
        "exits": len(fw.event_list("exit-user")), "cr3_writes": len(fw.event_list("cr3-write"))}


def files(version: str) -> list[Path]:
    from entrylint.source.tree import build_flavour

    d = _cache() / f"linux-{version}" / "arch" / "x86" / "entry"
    return [p for p in sorted(d.glob("*.S")) if build_flavour(p).mode == 64 and not p.name.endswith(".lds.S")]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--version", action="append", choices=VERSIONS)
    ap.add_argument("--profile", action="append", choices=PROFILES)
    ap.add_argument("--entries", action="store_true", help="list every entry point")
    args = ap.parse_args(argv)
    rc = 0
    print(f"{'version':7} {'profile':9} {'file':22} {'entries':>7} {'visits':>7} {'tuples':>7} "
          f"{'exits':>5} {'cr3 wr':>6} {'secs':>5} {'bad':>4} {'doc':>4}")
    for v in args.version or VERSIONS:
        if not (_cache() / f"linux-{v}" / ".entrylint-complete").exists():
            print(f"linux-{v} not fetched: run python3 tools/fetch_kernels.py", file=sys.stderr)
            continue
        for p in args.profile or PROFILES:
            for f in files(v):
                r = check(v, p, f)
                print(f"{v:7} {p:9} {r['file']:22} {len(r['entries']):7} {r['visits']:7} {r['tuples']:7} "
                      f"{r['exits']:5} {r['cr3_writes']:6} {r['seconds']:5.2f} {len(r['bad']):4} "
                      f"{len(r['documented']):4}")
                if args.entries and p == "max":
                    print("   entries: " + ", ".join(f"{s}({k})" for s, k in r["entries"]))
                for b in r["bad"]:
                    print("   VIOLATION", b)
                if r["truncated"]:
                    print("   TRUNCATED: the visit limit was hit")
                rc |= bool(r["bad"]) or r["truncated"]
    print("\ndocumented exceptions:")
    for sym, why in DOCUMENTED.items():
        print(f"  {sym}: {why}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
