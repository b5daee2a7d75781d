#!/usr/bin/env python3
"""Run the CLI as a user does on all of arch/x86/entry of every released tree,
under every built-in profile, and compare with the documented true positives.

    python3 tools/version_survey.py [--tree NAME]... [--profile P]... [--jobs N] [--list]

Trees: the nine of ../shared/kernels (4.4 to 6.8, extracted into the survey
cache by tests/kernels.py) and Debian's 6.1 and 6.12 where
tools/fetch_kernels.py put them.  For each tree and profile it runs

    python3 -m entrylint --format json --root TREE --profile P arch/x86/entry

in the tree (every file of the folder, 32-bit ones included) and sorts each
error and warning into documented (tools/true_positives.toml) or not.

Exit status 1 when any row has an undocumented error or warning, an EL9xx
error or warning, a crash, or more than MAX_DOCUMENTED documented ones;
0 otherwise.  Nothing is written into the trees.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tools"))

import kernels  # noqa: E402  (tests/kernels.py: where the trees are)

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

PROFILES = ("max", "defconfig", "pti-off")
MAX_DOCUMENTED = 2  # per tree and profile (the acceptance)
TP_FILE = REPO / "tools" / "true_positives.toml"


def documented() -> list[dict]:
    return tomllib.loads(TP_FILE.read_text())["true_positive"]


def matches(tp: dict, tree: str, profile: str, f: dict, root: Path | None = None) -> bool:
    """``symbol`` is a glob; ``tree_lacks``: the entry holds only where the
    tree's arch/x86/entry/calling.h does not contain that text (a fix the
    tree predates)."""
    if "tree_lacks" in tp and (root is None or tp["tree_lacks"] in _calling_h(root)):
        return False
    return (f.get("id") == tp["rule"] and fnmatch.fnmatchcase(f.get("symbol") or "", tp["symbol"])
            and f.get("file", "") == tp.get("file", f.get("file", ""))
            and any(fnmatch.fnmatchcase(tree, g) for g in tp.get("trees", ["*"]))
            and profile in tp.get("profiles", PROFILES))


def _calling_h(root: Path) -> str:
    try:
        return (root / "arch/x86/entry/calling.h").read_text(errors="replace")
    except OSError:
        return ""


def trees(names=None) -> list[tuple[str, Path]]:
    out = []
    for name in kernels.shared_names():
        if names and name not in names:
            continue
        p = kernels.shared_tree(name)
        if p is not None:
            out.append((name, p))
    for v in kernels.VERSIONS + kernels.OPTIONAL:
        name = f"debian-{v}"
        p = kernels.tree_if_present(v)
        if p is not None and (not names or name in names):
            out.append((name, p))
    return out


@dataclass
class Row:
    tree: str
    profile: str
    seconds: float = 0.0
    exit: int = 0
    crashed: str = ""
    documented: list[dict] = field(default_factory=list)
    undocumented: list[dict] = field(default_factory=list)
    frontend: list[dict] = field(default_factory=list)  # EL9xx errors and warnings
    infos: int = 0

    @property
    def ok(self) -> bool:
        return not (self.crashed or self.undocumented or self.frontend) and len(self.documented) <= MAX_DOCUMENTED


def run_one(tree: str, root: Path, profile: str, tps: list[dict], python: str = sys.executable) -> Row:
    row = Row(tree, profile)
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    t0 = time.perf_counter()
    p = subprocess.run([python, "-m", "entrylint", "--format", "json", "--root", str(root), "--profile", profile,
                        "arch/x86/entry"], cwd=root, capture_output=True, text=True, env=env, timeout=900)
    row.seconds = time.perf_counter() - t0
    row.exit = p.returncode
    try:
        data = json.loads(p.stdout)
    except ValueError:
        data = None
    if data is None or p.returncode > 1 or "Traceback" in p.stderr:
        row.crashed = (p.stderr.strip().splitlines() or ["no output"])[-1][:300]
        return row
    for f in data["findings"]:
        sev = f.get("severity")
        if sev == "info":
            row.infos += 1
        elif str(f.get("id", "")).startswith("EL9"):
            row.frontend.append(f)
        elif any(matches(tp, tree, profile, f, root) for tp in tps):
            row.documented.append(f)
        else:
            row.undocumented.append(f)
    return row


def line(f: dict) -> str:
    return f"{f.get('file')}:{f.get('line')}: {f.get('id')} [{f.get('symbol')}] {f.get('message')}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tree", action="append", help="only this tree (linux-4.19.48, debian-6.12, ...)")
    ap.add_argument("--profile", action="append", choices=PROFILES)
    ap.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--list", action="store_true", help="list the documented findings too")
    args = ap.parse_args(argv)
    tps = documented()
    todo = [(n, p, prof) for n, p in trees(args.tree) for prof in args.profile or PROFILES]
    if not todo:
        print("no trees found (../shared/kernels, tools/fetch_kernels.py)", file=sys.stderr)
        return 1
    with ThreadPoolExecutor(max(1, args.jobs)) as ex:
        rows = list(ex.map(lambda t: run_one(t[0], t[1], t[2], tps), todo))
    for r in rows:
        state = "ok  " if r.ok else "FAIL"
        print(f"{state} {r.tree:16} {r.profile:9} undocumented {len(r.undocumented):3}  documented "
              f"{len(r.documented)}  EL9xx {len(r.frontend)}  infos {r.infos:3}  exit {r.exit}  {r.seconds:5.1f}s"
              + (f"  CRASH {r.crashed}" if r.crashed else ""))
        for f in r.undocumented + r.frontend + (r.documented if args.list else []):
            print("     " + line(f))
    bad = [r for r in rows if not r.ok]
    print(f"{len(rows)} rows, {len(bad)} failing; "
          f"{sum(len(r.documented) for r in rows)} documented true positives, "
          f"{sum(len(r.undocumented) for r in rows)} undocumented errors/warnings")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
