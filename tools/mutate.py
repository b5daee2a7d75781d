#!/usr/bin/env python3
"""Mutation harness (MODEL 7, "Mutation"): inject one fault of a class into
the real entry code of a released kernel (Debian's 6.12 and 6.1, or 4.4.178,
4.9.154, 4.14.98, 4.19.48, 5.4.273, 5.10.89, 5.15.135 or 6.8.1 of
../shared/kernels) and
check that the matching rule fires at the mutated line and that nothing
else changes.

    python3 tools/mutate.py [--tree 6.12|6.1|linux-4.4.178|linux-4.9.154|linux-4.14.98|linux-4.19.48|
                             linux-5.4.273|linux-5.10.89|linux-5.15.135|linux-6.8.1]
                            [--class NAME ...] [--every N] [--jobs 2] [-v]

The sites are per tree (tools/mutate_sites.py, the 4.x ones in
mutate_sites_4x.py; 6.12's and 6.8.1's have 32-bit ones in entry_32.S, its
PTI switches among them, which ``max`` compiles in with PAE); the 6.1, 5.10 and 5.4 tables cover the
MODEL 7 classes, the 5.15 table those and the save-register, GS, fence and
gate classes, the 6.8.1 table all of them, the 4.14 and 4.19 tables all but
call-clobber and drop-fence, the 4.9 and 4.4 tables (the KAISER backport,
whose switches take no scratch and test no flag) the exit, C-call, per-cpu,
stack and GS classes.

The kernel source is read from the cache (tests/kernels.py: never copied into
the repository).  Each mutant is written to a fresh temporary folder
``TMP/mN/arch/x86/entry/`` holding entry_64.S, entry_64_compat.S,
calling.h and entry_32.S (calling.h is included with quotes from the same folder); the other
headers come from the tree given as ``root``.  Nothing is written to the cache.

What counts (per mutant, per profile of its class):

- **detected**: a finding of the class's rule that *matches* the mutation.  A
  finding matches when its location or a frame of its expansion trace is
  (a) one of the mutated lines of the mutated file (for a swap: both moved
  lines; for a dropped line: the blanked line, kept so that numbering does not
  move), or (b) one of the site's extra lines (given per site, in original
  numbering: the exit instruction a dropped CR3 switch or a dropped register
  restore lets through, the SWAPGS whose fence was dropped), or (c) for a
  mutation inside a ``.macro`` body (calling.h's, entry_32.S's own), an
  invocation of that macro (a trace frame naming it), since the reviewer's
  line of a macro fault is the invocation.
- **collateral**: every finding, by (id, fingerprint, the how-many-th
  finding with them it is: two with the same text in one symbol share a
  fingerprint), that appears or
  disappears against the unmutated baseline of the same file and profile,
  except matching findings of the class's rule and of the rules the class
  names as ``also`` (a second face of the same single fault, at the same
  lines; see CLASSES).  A finding at a line a mutation changed in place,
  or made through such a line (a macro body's, from its invocation), is
  keyed by those lines, not by its fingerprint: the instruction text is
  part of a fingerprint, so the same finding would look gone and new.
  EL9xx findings count: a mutant that no longer assembles shows up as
  collateral.

A mutation in calling.h is checked in both .S files; a mutation in a .S file
in that file only.  Exit status: 1 when a measured class is below 95 % or has
any collateral; a class whose rule is not registered is shown as "n/a".
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from mutate_lines import Unmapped, file_lines, maps, moved, moved_op  # noqa: E402

FILES = ("entry_64.S", "entry_64_compat.S", "calling.h", "entry_32.S")
E64, C32, CH, E32 = FILES
THRESHOLD = 0.95

# The trees that have a site table (tools/mutate_sites.py): name -> (how to find
# the tree, the table).  "6.12" is Debian's fetched tree; the others come from
# ../shared/kernels.  TARGET is the one being mutated (--tree).
TARGETS = {"6.12": ("debian", "sites_612"), "linux-5.4.273": ("shared", "sites_54"),
           "linux-5.15.135": ("shared", "sites_515"), "linux-4.9.154": ("shared", "sites_49"),
           "linux-4.14.98": ("shared", "sites_414"), "linux-4.4.178": ("shared", "sites_44"),
           "linux-5.10.89": ("shared", "sites_510"), "6.1": ("debian", "sites_61"),
           "linux-4.19.48": ("shared", "sites_419"), "linux-6.8.1": ("shared", "sites_68")}
TARGET = "6.12"


def set_target(name: str) -> None:
    global TARGET
    if name != TARGET:
        TARGET = name
        _SRC.clear()
        _MAPS.clear()
        _baseline.clear()


@dataclass(frozen=True)
class Cls:
    name: str
    rule: str
    what: str
    profiles: tuple[str, ...] = ("max",)
    also: tuple[str, ...] = ()  # rules allowed at the matching lines (same fault)
    # rules allowed anywhere when the finding's path runs through the mutated
    # code: the same single fault seen where its damage lands
    consequences: tuple[str, ...] = ()


CLASSES = {c.name: c for c in (
    Cls("swap-entry", "EL301", "CR3 switch moved above the entry SWAPGS"),
    Cls("swap-exit", "EL301", "exit SWAPGS moved above the user CR3 switch", also=("EL302",)),
    # a scratch pointed at paranoid_entry's %ebx (its "SWAPGS on exit?" flag) or a
    # jump that skips PARANOID_RESTORE_CR3 wrongs the context a paranoid entry
    # interrupted: EL203 at the iretq back to it, on a path through the mutation
    Cls("live-scratch", "EL101", "switch scratch register pointed at a live register",
        consequences=("EL203",)),
    # the clobbered save register is what the paranoid exit writes back to CR3:
    # the interrupted context gets a CR3 it did not have (EL203 at its iretq)
    Cls("save-clobber", "EL102", "CR3 save register %r14 clobbered between save and restore",
        consequences=("EL203",)),
    Cls("call-clobber", "EL103", "restore of a caller-saved register dropped after a C call"),
    Cls("c-call", "EL201", "C call inserted / moved above SWITCH_TO_KERNEL_CR3"),
    Cls("kernel-mem", "EL202", "non-user-mapped per-cpu read while on the user CR3"),
    Cls("drop-exit-switch", "EL203", "CR3 switch before sysret/iret dropped or made a kernel switch"),
    Cls("user-stack", "EL204", "stack access while %rsp is the user's"),
    Cls("gs-before-swapgs", "EL302", "%gs access while GS is the user's"),
    Cls("drop-fence", "EL303", "lfence after a conditional SWAPGS dropped"),
    Cls("drop-ifdef", "EL401", "PTI #ifdef around the switch macros dropped or weakened",
        profiles=("max", "defconfig", "pti-off")),
    Cls("drop-gate", "EL402", "X86_FEATURE_PTI runtime gate of a switch macro dropped",
        profiles=("max", "defconfig")),
    # entry_32.S's own switch macros: only max has 32-bit PTI (PAE), and
    # there the switch left without its gate is also one no option or gate
    # compiles out (EL401, the same line)
    Cls("drop-gate-32", "EL402", "X86_FEATURE_PTI runtime gate of an entry_32.S switch macro dropped",
        also=("EL401",),
        # 4.19: the user switch then runs on paths with PTI off, and the C
        # call or task-stack access after it finds the user CR3 there
        consequences=("EL201", "EL202")),
    Cls("flag-misuse", "EL501", "jnc/jc after bt/btr turned into a jump on a flag bt leaves alone",
        also=("EL502",),  # the wrong jump can skip the switch: the body no longer does its contract
        consequences=("EL203",)),
)}

# The fault classes MODEL 7 names ("swap SWAPGS and the CR3 switch, point a
# scratch register at a live one, move a C call above the switch, drop the
# #ifdef, drop the switch before sysretq, turn jnc into jz after bt"); the
# other classes extend the harness to the remaining rules.
MODEL7_CLASSES = ("swap-entry", "swap-exit", "live-scratch", "c-call", "drop-ifdef", "drop-exit-switch",
                  "flag-misuse")


@dataclass
class Mutant:
    name: str
    cls: str
    file: str  # the mutated file
    ops: tuple  # edit operations, original 1-based line numbers
    extra: tuple[tuple[str, int], ...] = ()  # (file, original line) also accepted
    note: str = ""
    text: str = ""  # filled by apply()
    lines: tuple[int, ...] = ()  # mutated lines, new numbering
    macros: tuple[str, ...] = ()  # the .macro bodies the mutation is in (entry_32.S's switch macros, calling.h's)
    extra_new: tuple[tuple[str, int], ...] = ()


# ---------------------------------------------------------------- edit operations
# ("sub", L, expect, old, new)   replace substring old by new on line L
# ("blank", L, expect)           the line becomes empty (numbering kept)
# ("ins", L, text)               insert a new line after line L
# ("move_before", L, M, e1, e2)  move line L to just before line M
# ("move_after", L, M, e1, e2)   move line L to just after line M
# ("move_block_after", L1, L2, M) move lines L1..L2 to just after line M

class SiteError(Exception):
    pass


def _check(src: list[str], line: int, expect: str) -> None:
    if expect not in src[line - 1]:
        raise SiteError(f"line {line} is {src[line - 1].strip()!r}, expected {expect!r}")


def apply(src: list[str], ops) -> tuple[str, list[int], dict[int, int]]:
    """Apply ``ops`` to the lines ``src``; return the new text, the mutated
    lines (new numbering) and the map original line -> new line."""
    ent = [[i + 1, s, False] for i, s in enumerate(src)]  # [orig, text, mutated]

    def idx(orig):
        return next(k for k, e in enumerate(ent) if e[0] == orig)

    for op in ops:
        kind = op[0]
        if kind == "sub":
            _, L, expect, old, new = op
            _check(src, L, expect)
            e = ent[idx(L)]
            if old not in e[1]:
                raise SiteError(f"{old!r} not on line {L}")
            e[1], e[2] = e[1].replace(old, new, 1), True
        elif kind == "blank":
            _, L, expect = op
            _check(src, L, expect)
            e = ent[idx(L)]
            e[1], e[2] = "", True
        elif kind == "ins":
            _, L, text = op
            ent.insert(idx(L) + 1, [None, text, True])
        elif kind in ("move_before", "move_after"):
            _, L, M, e1, e2 = op
            _check(src, L, e1)
            _check(src, M, e2)
            e = ent.pop(idx(L))
            e[2] = True
            ent.insert(idx(M) + (kind == "move_after"), e)
            ent[idx(M)][2] = True  # a swap mutates both lines
        elif kind == "move_block_after":
            _, L1, L2, M = op
            block = [ent.pop(idx(o)) for o in range(L1, L2 + 1)]
            for e in block:
                e[2] = True
            k = idx(M) + 1
            ent[k:k] = block
        else:
            raise ValueError(kind)
    text = "\n".join(e[1] for e in ent) + "\n"
    mutated = [k + 1 for k, e in enumerate(ent) if e[2]]
    where = {e[0]: k + 1 for k, e in enumerate(ent) if e[0] is not None}
    return text, mutated, where


def enclosing_macro(src: list[str], line: int) -> str | None:
    for k in range(line - 1, -1, -1):
        s = src[k].strip()
        if s.startswith(".endm") and k != line - 1:
            return None
        m = re.match(r"\.macro\s+(\w+)", s)
        if m:
            return m.group(1)
    return None


# ---------------------------------------------------------------- the mutants

def mutants() -> list[Mutant]:
    """The mutants of the tree being mutated (``TARGET``), from its site table."""
    import mutate_sites
    import mutate_sites_4x

    out: list[Mutant] = []
    LEFT_OUT.clear()
    table_lines = _table_lines()

    def add(cls, file, ops, name, extra=(), note=""):
        # (the table's numbering carried to the tree fetched: mutate_lines.py)
        try:
            ops = [moved_op(table_lines, file, op) for op in ops]
            extra = [(f, moved(table_lines, f, L)) for f, L in extra]
        except Unmapped as e:
            LEFT_OUT.append(f"{cls}/{name}: {e}")
            return
        out.append(Mutant(f"{cls}/{name}", cls, file, tuple(ops), tuple(extra), note))

    name = TARGETS[TARGET][1]  # (the 4.x tables are in a module of their own)
    table = getattr(mutate_sites, name, None) or getattr(mutate_sites_4x, name)
    table(add, src_line)
    return out


_SRC: dict[str, list[str]] = {}
_MAPS: dict[str, tuple] = {}  # target -> (the release its table is numbered for, {file: line map})
LEFT_OUT: list[str] = []  # the last mutants() call's mutants with a line the tree fetched changed


def _table_lines() -> dict:
    if TARGET not in _MAPS:
        _MAPS[TARGET] = maps(TARGET, sources())
    return _MAPS[TARGET][1]


def tree() -> Path | None:
    import kernels

    how, _ = TARGETS[TARGET]
    return kernels.tree_if_present(TARGET) if how == "debian" else kernels.shared_tree(TARGET)


def tree_skip_reason() -> str | None:
    import kernels

    if tree() is not None:
        return None
    if TARGETS[TARGET][0] == "debian":
        return kernels.tree_skip_reason(TARGET)
    return f"{TARGET}: not in ../shared/kernels"


def sources() -> dict[str, list[str]]:
    if not _SRC:
        d = tree() / "arch" / "x86" / "entry"
        for f in FILES:
            _SRC[f] = file_lines(d / f)
    return _SRC


def src_line(f: str, L: int) -> str:
    """Line ``L`` of the table's numbering, in the tree fetched ("" where
    that part changed: the mutant made of it is left out)."""
    try:
        return sources()[f][moved(_table_lines(), f, L) - 1]
    except Unmapped:
        return ""


def prepare(m: Mutant) -> Mutant:
    src = sources()[m.file]
    m.text, lines, where = apply(src, m.ops)
    m.lines = tuple(lines)
    m.macros = tuple(sorted({n for L, _ in [(o[1], 0) for o in m.ops] if (n := enclosing_macro(src, L))}))
    m.extra_new = tuple((f, where[L] if f == m.file else L) for f, L in m.extra)
    return m


# ---------------------------------------------------------------- running

_baseline: dict = {}
_work: Path | None = None


def _check_file(folder: Path, name: str, profile: str):
    from entrylint import api

    return api.check(folder / name, api.Options(root=tree(), profile=profile)).findings


def _files_for(m: Mutant) -> tuple[str, ...]:
    return (E64, C32) if m.file == CH else (m.file,)


def _write(folder: Path, override: tuple[str, str] | None = None) -> None:
    d = folder / "arch" / "x86" / "entry"
    d.mkdir(parents=True, exist_ok=True)
    for f in FILES:
        text = override[1] if override and override[0] == f else "\n".join(sources()[f]) + "\n"
        (d / f).write_text(text, encoding="utf-8", errors="surrogateescape")


def baseline(name: str, profile: str):
    global _work
    if _work is None:
        _work = Path(tempfile.mkdtemp(prefix="entrylint-mutate-"))
    key = (name, profile)
    if key not in _baseline:
        folder = _work / "base"
        if not folder.exists():
            _write(folder)
        _baseline[key] = _check_file(folder / "arch" / "x86" / "entry", name, profile)
    return _baseline[key]


def _matches(fd, m: Mutant, folder: Path) -> bool:
    d = folder / "arch" / "x86" / "entry"
    want = {(os.path.realpath(d / m.file), L) for L in m.lines}
    want |= {(os.path.realpath(d / f), L) for f, L in m.extra_new}
    frames = ([fd.location] if fd.location else []) + [t.location for t in fd.trace]
    if any((os.path.realpath(loc.file), loc.line) in want for loc in frames if loc):
        return True
    return bool(m.macros) and any(t.macro in m.macros for t in fd.trace)


def _path_matches(fd, m: Mutant, folder: Path) -> bool:
    """The finding's path (entry point to fault) runs through the mutated code:
    a mutated line, or for a mutation in a ``.macro`` body an invocation of it."""
    d = folder / "arch" / "x86" / "entry"
    want = {(os.path.realpath(d / m.file), L) for L in m.lines}
    for name in _files_for(m):
        lines = (d / name).read_text(errors="replace").splitlines()
        want |= {(os.path.realpath(d / name), i) for i, line in enumerate(lines, 1)
                 if line.split() and line.split()[0] in m.macros}
    return any(s.location and (os.path.realpath(s.location.file), s.location.line) in want for s in fd.path)


def run_one(m: Mutant) -> dict:
    """Check one mutant under its class's profiles: detected and collateral."""
    from entrylint.findings.model import numbered

    cls = CLASSES[m.cls]
    t0 = time.perf_counter()
    baseline(E64, cls.profiles[0])  # makes _work
    folder = Path(tempfile.mkdtemp(prefix="m", dir=_work))
    try:
        _write(folder, (m.file, m.text))
        detected_all, collateral, hits, also_hits = True, [], [], []
        for profile in cls.profiles:
            detected = False
            for name in _files_for(m):
                base = dict(numbered(_at_mutation(baseline(name, profile), m)))
                got = _check_file(folder / "arch" / "x86" / "entry", name, profile)
                now = dict(numbered(_at_mutation(got, m)))
                for fd in got:
                    if fd.id == cls.rule and _matches(fd, m, folder):
                        detected = True
                        hits.append(f"{profile}:{name}:{fd.location.line}")
                for k, fd in now.items():
                    if k in base:
                        continue
                    ok = fd.id in (cls.rule, *cls.also) and _matches(fd, m, folder) or \
                        fd.id in cls.consequences and _path_matches(fd, m, folder)
                    if ok and fd.id != cls.rule:
                        also_hits.append(f"{fd.id}@{fd.location.line}")
                    if not ok:
                        collateral.append(f"+{profile}:{_short(fd)}")
                # (a finding at a line a mutation changed keeps its key: _at_mutation)
                collateral += [f"-{profile}:{_short(fd)}" for k, fd in base.items() if k not in now]
            detected_all &= detected
        return {"name": m.name, "cls": m.cls, "detected": detected_all, "collateral": collateral,
                "hits": hits, "also": also_hits, "lines": m.lines, "seconds": time.perf_counter() - t0}
    except Exception as e:  # a crash of the analyzer is a result too
        return {"name": m.name, "cls": m.cls, "detected": False, "collateral": [f"crash: {e!r}"],
                "hits": [], "also": [], "lines": m.lines, "seconds": time.perf_counter() - t0}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _at_mutation(findings, m: Mutant) -> list:
    """``findings`` with the fingerprint of each one at a line a mutation
    changed in place (a ``sub``: numbering kept), or made through it (a
    macro body whose invocation it changed), made from those lines: the
    instruction text is part of a fingerprint, so the mutation changes it,
    and that of every finding sharing it gets another count (two switches of
    one symbol with the same text).  The same finding keeps its key."""
    lines = {op[1] for op in m.ops if op[0] == "sub"}
    if not lines:
        return list(findings)
    out = []
    for fd in findings:
        frames = [loc for loc in ([fd.location] + [t.location for t in fd.trace]) if loc is not None]
        hit = sorted({loc.line for loc in frames if Path(loc.file).name == m.file and loc.line in lines})
        if hit and fd.location is not None:
            fd = replace(fd, context=f"at a mutation: {fd.location.line} <- {','.join(map(str, hit))}")
        out.append(fd)
    return out


def _short(fd) -> str:
    return f"{fd.id}@{fd.location.short() if fd.location else '?'} {fd.message}"


def registered_rules() -> set[str]:
    from entrylint import api

    return set(api.rules().info)


def select(all_mutants: list[Mutant], classes=None, every: int = 1) -> list[Mutant]:
    """A deterministic subset: the classes named, then every N-th mutant of
    each class (always its first)."""
    out = []
    by: dict[str, list[Mutant]] = {}
    for m in all_mutants:
        if classes and m.cls not in classes:
            continue
        by.setdefault(m.cls, []).append(m)
    for ms in by.values():
        out += ms[::every]
    return out


def run(classes=None, every: int = 1, jobs: int = 2, file: str | None = None) -> tuple[list[dict], list[str]]:
    """Prepare and run the mutants (of ``file`` alone, when given); returns
    the results and the site errors."""
    ms, errors = [], []
    for m in select([m for m in mutants() if file is None or m.file == file], classes, every):
        try:
            ms.append(prepare(m))
        except SiteError as e:
            errors.append(f"{m.name}: {e}")
    if jobs <= 1:
        results = [run_one(m) for m in ms]
    else:
        with ProcessPoolExecutor(jobs) as ex:
            results = list(ex.map(run_one, ms, chunksize=4))
    return results, errors


@dataclass
class Row:
    cls: str
    rule: str
    profiles: str
    mutants: int = 0
    detected: int = 0
    collateral: int = 0
    measured: bool = True
    missed: list = field(default_factory=list)
    collateral_list: list = field(default_factory=list)

    @property
    def pct(self) -> float:
        return 100.0 * self.detected / self.mutants if self.mutants else 0.0

    @property
    def ok(self) -> bool:
        return not self.measured or (self.detected >= THRESHOLD * self.mutants and self.collateral == 0)


def table(results: list[dict], rules: set[str]) -> list[Row]:
    rows = {}
    for name, c in CLASSES.items():
        rows[name] = Row(name, c.rule, ",".join(c.profiles), measured=c.rule in rules)
    for r in results:
        row = rows[r["cls"]]
        row.mutants += 1
        row.detected += r["detected"]
        if r["collateral"]:
            row.collateral += 1
            row.collateral_list.append((r["name"], r["collateral"]))
        if not r["detected"]:
            row.missed.append(r["name"])
    return [r for r in rows.values() if r.mutants]


def render(rows: list[Row]) -> str:
    out = [f"{'class':<18} {'rule':<6} {'profiles':<22} {'mutants':>7} {'detected':>8} {'det%':>6} "
           f"{'collateral':>10}"]
    for r in rows:
        pct = f"{r.pct:5.1f}" if r.measured else "  n/a"
        out.append(f"{r.cls:<18} {r.rule:<6} {r.profiles:<22} {r.mutants:>7} {r.detected:>8} {pct:>6} "
                   f"{r.collateral:>10}" + ("" if r.measured else "  (rule not registered)"))
    tot = sum(r.mutants for r in rows)
    out.append(f"{'total':<18} {'':<6} {'':<22} {tot:>7} {sum(r.detected for r in rows):>8}")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--class", dest="classes", action="append", choices=sorted(CLASSES))
    ap.add_argument("--every", type=int, default=1, help="run every N-th mutant of each class")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    ap.add_argument("-v", "--verbose", action="store_true", help="list misses and collateral")
    ap.add_argument("--tree", choices=sorted(TARGETS), default="6.12", help="the tree to mutate (default 6.12)")
    args = ap.parse_args(argv)
    set_target(args.tree)
    why = tree_skip_reason()
    if why:
        print(why, file=sys.stderr)
        return 2
    if args.list:
        for m in select(mutants(), args.classes, args.every):
            print(m.name, m.note)
        return 0
    t0 = time.perf_counter()
    results, errors = run(args.classes, args.every, args.jobs)
    rows = table(results, registered_rules())
    print(render(rows))
    print(f"({len(results)} mutants in {time.perf_counter() - t0:.0f} s, {args.jobs} jobs)")
    for e in errors:
        print(f"site error: {e}")
    for e in LEFT_OUT:
        print(f"left out: {e}")
    for r in rows:
        if not r.measured:
            continue
        for name in r.missed if args.verbose else r.missed[:5]:
            print(f"missed {name}")
        for name, col in r.collateral_list if args.verbose else r.collateral_list[:5]:
            print(f"collateral {name}: {'; '.join(col[:4])}")
    if args.verbose:
        for res in results:
            if res["also"]:
                print(f"also {res['name']}: {' '.join(sorted(set(res['also'])))}")
    return 0 if all(r.ok for r in rows) and not errors else 1


if __name__ == "__main__":
    sys.exit(main())
