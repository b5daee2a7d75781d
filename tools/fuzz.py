#!/usr/bin/env python3
"""Fuzz the front end and the pipeline in-process (issue 9, run by hand).

    nice -n 10 python tools/fuzz.py [--inputs N] [--jobs 2] [--seed S] [--out FILE] [--class C]...

Input classes (each input is generated from (seed, class, index) alone, so a
failure is reproduced with ``--replay CLASS:INDEX``):

* ``soup``     random token soup: cpp and GNU as directives, mnemonics,
               registers, punctuation, numbers, strings, backslashes, CR, NUL,
               bytes that are not UTF-8, very long tokens;
* ``mutated``  a window of a real file of the cached kernel trees (entry code
               and the headers it includes), mutated byte- and line-wise;
* ``macro``    random GNU as macro programs: recursion, nested .rept/.irp,
               ``\\x\\x`` doubling, .exitm, .purgem, .altmacro, conditionals;
* ``bytes``    random machine code for the iced-x86 decoder (``.byte`` lines
               for the pipeline);
* ``patch``    random patches against the bundled 2017-style tree
               (fixtures/kaiser-2017, read only): unified diffs, format-patch
               mails and mboxes with mail damage (quoting, tabs to spaces, lost
               leading spaces, CRLF, wrapped headers and lines, truncation,
               wrong counts, paths with .. or absolute, symlinks, binaries),
               reviewed in memory by the patch face in every format;
* ``size``     inputs as large as the limits let through, run through the
               whole pipeline: numbers of up to 200k digits wherever a number
               goes, one token or line of up to line-length, files near
               file-size of short lines, often behind an ``#ifdef`` that makes
               the profiles read different lines (session 12 found by hand
               what the other classes, whose lines are short, never wrote).

Each input goes through the layers in-process: the cpp lexer, the GNU as
lexer, cpp, the GNU as expander (on the raw text and on cpp's output); a
share also through the whole pipeline as the CLI runs it (``api.check``:
every profile, no assembler, a program of any size up to the limits; with
the assembler for a smaller share; the macro class, whose programs are the
largest, for a larger share: --macro-share)
and the output is rendered in every format; a quarter of that share also
through the language server's incremental path (``incremental``: the input,
then one line-wise edit of it read again from the last run's snapshots, which
must equal a run from the start).  Property: nothing but our own
problem records comes out (an exception is a crash), every input takes less
than --timeout seconds of CPU in each entrylint call a layer makes (the
incremental layer makes three, each timed as its own; else a hang: an input over it
is measured once more and judged by the lesser time, both kept in the
summary's ``remeasured``, since a shared machine's CPU time varies by a third
between runs) and the worker stays under --memory MB,
and an input run in two processes with different PYTHONHASHSEED gives the
same output bytes (every --dup-th input is run by every worker).

Workers are separate processes (each with its own hash seed); the summary
(inputs per class and layer, crashes, hangs, largest time and memory, the
determinism comparisons) is printed and written as JSON to --out.

The inputs are made in fuzz_inputs.py, the layers run in fuzz_layers.py;
this module is the workers and the driver.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fuzz_inputs import CLASSES, corpus_id, generate  # noqa: E402
from fuzz_layers import LAYER_SECONDS, run_layers  # noqa: E402

# ---------------------------------------------------------------- the runaway timer

class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang


def _disarm() -> None:
    """The runaway timer stopped; it may go off while being stopped (a
    bound shorter than the call: tests/test_fuzz_replay.py's 1 us), once."""
    while True:
        try:
            signal.setitimer(signal.ITIMER_PROF, 0)
            return
        except Hang:
            continue


# ---------------------------------------------------------------- worker

def worker(a) -> int:
    from entrylint import api
    from entrylint.program.decode import Decoder

    api._decoder = Decoder(disk_cache=False)  # no junk in the user's decoder cache
    limit = a.memory_cap * (1 << 20)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    # CPU seconds (user + system) of this process: the machine is shared, a
    # wall clock would count other programs' time; the wall time is recorded too
    signal.signal(signal.SIGPROF, _alarm)
    # the same (absent) folder in every worker: paths in the output are compared
    tmp = Path(tempfile.gettempdir()) / "entrylint-fuzz-input"
    stats = {c: {"inputs": 0, "skipped": 0, "crashes": 0, "hangs": 0, "memory": 0, "max_seconds": 0.0,
                 "max_at": None, "layers": {}} for c in a.classes}
    failures, digests = [], {}
    remeasured: list[dict] = []  # inputs over the bound at the first measure: both times
    # what the layers import from the cpp and gas packages (which load what
    # they re-export on first use) is imported now, before any timer: a timer
    # that fires inside the import machinery is swallowed there ("Exception
    # ignored in ... _get_module_lock"), not raised in the input
    import entrylint.cpp
    import entrylint.gas

    for package in (entrylint.cpp, entrylint.gas):
        for name in package.__all__:
            getattr(package, name)
    t_end = time.time() + a.seconds if a.seconds else None
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    i = a.start
    done = 0
    peak_rss = [0, ""]
    while done < a.count and (t_end is None or time.time() < t_end):
        for cls in a.classes:
            dup = is_dup(a, cls, i)
            if not (i % a.jobs == a.worker or dup):
                continue
            # every N-th of each worker's own indices (i % N would starve a
            # worker whose indices never divide by N: every odd one for N even)
            if (i // a.jobs) % a.sparse.get(cls, 1):
                continue
            st = stats[cls]
            text, path = generate(a.seed, cls, i)
            t0, c0 = time.perf_counter(), time.process_time()
            # a runaway guard over the whole input (entrylint's calls and the
            # harness's digests); the hang property is per entrylint call below
            signal.setitimer(signal.ITIMER_PROF, a.timeout * 4)
            try:
                try:
                    share = a.macro_share if cls == "macro" else a.share
                    got = run_layers(cls, text, path, i, share, a.asm_share, tmp)
                    err = None
                except Hang:
                    got, err = None, "hang"
                except MemoryError:
                    got, err = None, "memory"
                except Exception as e:  # noqa: BLE001 - every exception is a finding of the fuzzer
                    got, err = None, f"crash: {type(e).__name__}: {e}\n{traceback.format_exc(limit=-6)}"
            except Hang:  # (the one-shot timer went off inside a handler above)
                got, err = None, "hang"
            finally:
                _disarm()
            total = time.process_time() - c0
            slowest = max(LAYER_SECONDS.items(), key=lambda kv: kv[1], default=("", total if err else 0.0))
            dt = slowest[1] if err != "hang" else total
            if err is None and dt > a.timeout:
                # measured once more, from the same (emptied) process caches: a
                # shared machine's CPU time varies by a third from run to run, and
                # the input's own cost is the lesser; a hang is over the bound twice
                first = dict(LAYER_SECONDS)
                again = remeasure(cls, text, path, i, a, tmp)
                st["remeasured"] = st.get("remeasured", 0) + 1
                over = slowest[0]
                remeasured.append({"class": cls, "index": i, "layer": over,
                                   "seconds": [round(first[over], 2), round(again.get(over, first[over]), 2)]})
                least = {k: min(v, again.get(k, v)) for k, v in first.items()}  # (a layer a runaway cut: its first)
                slowest = max(least.items(), key=lambda kv: kv[1])
                if slowest[1] > a.timeout:
                    err = f"hang: {slowest[0]} took {first[slowest[0]]:.1f} s, then {least[slowest[0]]:.1f} s CPU"
                dt = slowest[1]
            wall = time.perf_counter() - t0
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
            if rss > peak_rss[0]:  # the input that raised the worker's high-water mark
                peak_rss[:] = [rss, f"{cls}:{i}"]
            if wall > st.get("max_wall", 0):
                st["max_wall"] = round(wall, 3)
            if err is None and got is None:
                st["skipped"] += 1
                continue
            st["inputs"] += 1
            if dt > st["max_seconds"]:
                st["max_seconds"], st["max_at"], st["max_layer"] = round(dt, 3), i, slowest[0]
            st["max_input_seconds"] = max(st.get("max_input_seconds", 0.0), round(total, 3))
            if err is not None:
                reset_state()  # what the interrupted input left half-done must not reach the next
                key = "hangs" if err.startswith("hang") else "memory" if err == "memory" else "crashes"
                st[key] += 1
                failures.append({"class": cls, "index": i, "error": err[:3000], "seconds": round(dt, 2)})
                continue
            for layer in got:
                st["layers"][layer] = st["layers"].get(layer, 0) + 1
            if dup:  # per layer: a difference says where it is
                digests[f"{cls}:{i}"] = {k: hashlib.sha256(v.encode("utf-8", "surrogateescape")).hexdigest()[:16]
                                         for k, v in sorted(got.items())}
        i += 1
        if i % a.jobs == a.worker:
            done += 1
        if done and done % 200 == 0 and i % a.jobs == a.worker:
            _write(a, stats, failures, digests, base_rss, i, peak_rss, remeasured)
    _write(a, stats, failures, digests, base_rss, i, peak_rss, remeasured)
    return 0


def remeasure(cls: str, text, path, i: int, a, tmp: Path) -> dict[str, float]:
    """Each layer's CPU seconds of a second run of one input, after the
    process caches it filled are emptied (as they were before its first run,
    but the decoder's table, warm for every input); {} when it did not end."""
    reset_state()
    try:
        signal.setitimer(signal.ITIMER_PROF, a.timeout * 4)
        try:
            run_layers(cls, text, path, i, a.macro_share if cls == "macro" else a.share, a.asm_share, tmp)
        finally:
            _disarm()
    except Hang:  # (also when the one-shot timer goes off as _disarm is entered: the worker died of it)
        return {}
    return dict(LAYER_SECONDS)


def is_dup(a, cls: str, i: int) -> bool:
    """Whether input ``i`` of ``cls`` is run by every worker (compared).
    Every --dup-th index; for a class sampled every N-th (--sparse), every
    max(2, dup // N)-th sampled round, whichever worker's index it is.  With
    i % dup, the sampled indices of worker 0 (multiples of jobs x N) were all
    compared and worker 1's never, so worker 1 ran twice worker 0's share of
    the costliest class and a fixed-count run waited for it."""
    n = a.sparse.get(cls, 1)
    if n > 1:
        return (i // a.jobs // n) % max(2, a.dup // n) == 0
    return i % a.dup == 0


def reset_state() -> None:
    """The process-wide state entrylint keeps between files (overlays, read
    and lexed files, tree caches): emptied after an input that was stopped
    by the time guard, memory or a crash in the middle of it."""
    from entrylint.cpp import lexer
    from entrylint.source import overlay, reader

    overlay._active = None  # (tree caches are keyed by the overlay's generation: nothing else to drop)
    for stack in (reader._overlays, reader._recorders, reader._noted):
        stack.clear()
    lexer._LEXED.clear()


def _write(a, stats, failures, digests, base_rss, i, peak_rss, remeasured):
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    data = {"worker": a.worker, "hashseed": os.environ.get("PYTHONHASHSEED"), "next_index": i,
            "corpus": corpus_id(),
            "max_rss_mb": rss // 1024, "start_rss_mb": base_rss // 1024, "max_rss_at": peak_rss[1],
            "stats": stats, "failures": failures, "digests": digests, "remeasured": list(remeasured)}
    tmp = a.out + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(data, fh)
    os.replace(tmp, a.out)


# ---------------------------------------------------------------- driver

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", type=int, default=1_000_000, help="inputs in all (over every class)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--class", dest="classes", action="append", choices=CLASSES)
    ap.add_argument("--seconds", type=float, default=0, help="stop after this long (0: when --inputs are done)")
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds per input before it counts as a hang")
    ap.add_argument("--memory", type=int, default=500, help="MB a worker may reach")
    ap.add_argument("--share", type=float, default=0.02, help="share of inputs also run through the pipeline")
    ap.add_argument("--asm-share", type=float, default=0.002, help="share run through it with GNU as")
    ap.add_argument("--macro-share", type=float, default=0.1,
                    help="share of the macro class run through the pipeline (its programs are the largest)")
    ap.add_argument("--dup", type=int, default=50, help="every N-th input runs in every worker (determinism)")
    ap.add_argument("--out", default="fuzz-summary.json")
    ap.add_argument("--sparse", action="append", default=[], metavar="CLASS=N",
                    help="run CLASS on every N-th index only (a class whose inputs cost seconds)")
    ap.add_argument("--replay", metavar="CLASS:INDEX", help="run one input here and print what it gives")
    ap.add_argument("--as-run", action="store_true", help="--replay with the run's --share and --asm-share "
                    "(default: every layer)")
    # worker mode
    ap.add_argument("--worker", type=int, default=-1, help=argparse.SUPPRESS)
    ap.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--start", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--memory-cap", type=int, default=1500, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.out:  # (the folder of --out is made, as the workers write beside it)
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    a.classes = a.classes or list(CLASSES)
    sparse = a.sparse
    a.sparse = {}
    for spec in sparse:
        cls, _, n = spec.partition("=")
        a.sparse[cls] = int(n)
    if a.replay:
        cls, idx = a.replay.split(":")
        text, path = generate(a.seed, cls, int(idx))
        print(repr(text)[:2000])
        t0 = time.perf_counter()
        share, asm = ((a.macro_share if cls == "macro" else a.share), a.asm_share) if a.as_run else (1.0, 1.0)
        got = run_layers(cls, text, path, int(idx), share, asm, Path(tempfile.gettempdir()) / "entrylint-fuzz-input")
        print({k: hashlib.sha256(v.encode("utf-8", "surrogateescape")).hexdigest()[:12] for k, v in (got or {}).items()},
              f"{time.perf_counter() - t0:.2f}s", {k: round(v, 2) for k, v in LAYER_SECONDS.items()})
        return 0
    if a.worker >= 0:
        return worker(a)
    per_class = -(-a.inputs // len(a.classes))
    per_worker = -(-per_class // a.jobs)
    procs, outs = [], []
    for w in range(a.jobs):
        out = f"{a.out}.w{w}"
        outs.append(out)
        env = dict(os.environ, PYTHONHASHSEED=str(w + 1))
        cmd = [sys.executable, __file__, "--worker", str(w), "--jobs", str(a.jobs), "--count", str(per_worker),
               "--seed", str(a.seed), "--seconds", str(a.seconds), "--timeout", str(a.timeout),
               "--share", str(a.share), "--asm-share", str(a.asm_share), "--macro-share", str(a.macro_share),
               "--dup", str(a.dup), "--out", out,
               "--memory-cap", str(max(a.memory * 3, 1500))]
        for c in a.classes:
            cmd += ["--class", c]
        for c, n in a.sparse.items():
            cmd += ["--sparse", f"{c}={n}"]
        procs.append(subprocess.Popen(cmd, env=env))
    for p in procs:
        p.wait()
    return summarize(outs, a)


def replay_diffs(diffs, a) -> dict:
    """Each input that differed, run again in two fresh processes with the
    workers' hash seeds: "reproduces" (the output follows the hash seed) or
    "fresh processes agree" (it followed what the worker had run before)."""
    out = {}
    for d in diffs:
        key = d.split(" ")[0]
        got = []
        for seed in range(1, a.jobs + 1):
            cmd = [sys.executable, __file__, "--replay", key, "--as-run", "--seed", str(a.seed),
                   "--share", str(a.share), "--asm-share", str(a.asm_share), "--macro-share", str(a.macro_share)]
            try:
                p = subprocess.run(cmd, env=dict(os.environ, PYTHONHASHSEED=str(seed)), capture_output=True,
                                   text=True, timeout=600)
                got.append(p.stdout.splitlines()[-1].rsplit("}", 2)[0] if p.stdout else p.stderr[-300:])
            except subprocess.TimeoutExpired:
                got.append("timeout")
        out[key] = "reproduces" if len(set(got)) > 1 else "fresh processes agree"
    return out


def summarize(outs, a) -> int:
    data = [json.load(open(o)) for o in outs if os.path.exists(o)]
    total = {}
    for d in data:
        for cls, st in d["stats"].items():
            t = total.setdefault(cls, {"inputs": 0, "skipped": 0, "crashes": 0, "hangs": 0, "memory": 0,
                                       "max_seconds": 0.0, "layers": {}})
            for k in ("inputs", "skipped", "crashes", "hangs", "memory"):
                t[k] += st[k]
            t["remeasured"] = t.get("remeasured", 0) + st.get("remeasured", 0)
            t["max_wall"] = max(t.get("max_wall", 0), st.get("max_wall", 0))
            if st["max_seconds"] > t["max_seconds"]:
                t["max_seconds"], t["max_at"], t["max_layer"] = st["max_seconds"], st["max_at"], st.get("max_layer")
            t["max_input_seconds"] = max(t.get("max_input_seconds", 0), st.get("max_input_seconds", 0))
            for layer, n in st["layers"].items():
                t["layers"][layer] = t["layers"].get(layer, 0) + n
    keys = set().union(*(d["digests"] for d in data)) if data else set()
    compared = differ = 0
    diffs = []
    for k in sorted(keys):
        vals = [d["digests"][k] for d in data if k in d["digests"]]
        if len(vals) > 1:
            compared += 1
            if any(v != vals[0] for v in vals[1:]):
                differ += 1
                layers = sorted({la for v in vals for la in v if any(w.get(la) != v.get(la) for w in vals)})
                diffs.append(f"{k} ({', '.join(layers)})")
    summary = {"seed": a.seed, "classes": total, "inputs": sum(t["inputs"] for t in total.values()),
               "crashes": sum(t["crashes"] for t in total.values()), "hangs": sum(t["hangs"] for t in total.values()),
               "memory_over": sum(t["memory"] for t in total.values()),
               "max_rss_mb": max((d["max_rss_mb"] for d in data), default=0),
               "max_rss_at": [(d["max_rss_mb"], d.get("max_rss_at")) for d in data],
               "hashseeds": [d["hashseed"] for d in data],
               "corpus": sorted({d.get("corpus", "") for d in data}),
               "determinism": {"compared": compared, "differ": differ, "examples": diffs[:20],
                               "replayed": replay_diffs(diffs[:5], a)},
               "remeasured": sorted((r for d in data for r in d.get("remeasured", ())),
                                    key=lambda r: (r["class"], r["index"])),
               "failures": [f for d in data for f in d["failures"]][:50]}
    with open(a.out, "w") as fh:
        json.dump(summary, fh, indent=1)
    print(json.dumps({k: v for k, v in summary.items() if k != "failures"}, indent=1))
    for f in summary["failures"][:10]:
        print(f"{f['class']}:{f['index']}: {f['error'][:300]}")
    bad = summary["crashes"] or summary["hangs"] or summary["memory_over"] or differ
    bad = bad or summary["max_rss_mb"] > a.memory
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
