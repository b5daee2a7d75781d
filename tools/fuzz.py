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
* ``patch``    random unified diffs, for patch mode (``PATCH_HOOK``; counted as
               skipped while entrylint has no patch mode).

Each input goes through the layers in-process: the cpp lexer, the GNU as
lexer, cpp, the GNU as expander (on the raw text and on cpp's output); a
share also through the whole pipeline (``api.check_one``, one profile, no
assembler: a program of any size; with the assembler for a smaller share)
and the output is rendered in every format.  Property: nothing but our own
problem records comes out (an exception is a crash), every input takes less
than --timeout seconds (else a hang) and the worker stays under --memory MB,
and an input run in two processes with different PYTHONHASHSEED gives the
same output bytes (every --dup-th input is run by every worker).

Workers are separate processes (each with its own hash seed); the summary
(inputs per class and layer, crashes, hangs, largest time and memory, the
determinism comparisons) is printed and written as JSON to --out.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CLASSES = ("soup", "mutated", "macro", "bytes", "patch")
SURVEY = Path.home() / ".cache/entrylint/survey-kernels"
DEBIAN = Path.home() / ".cache/entrylint/kernels"

# A patch-mode entry point: a function (text) -> output string, set once the
# patch mode exists (e.g. ``from entrylint.api import check_patch``).
PATCH_HOOK = None


def _patch_hook():
    global PATCH_HOOK
    if PATCH_HOOK is None:
        try:
            from entrylint import api

            fn = getattr(api, "check_patch", None) or getattr(api, "review_patch", None)
        except ImportError:
            fn = None
        PATCH_HOOK = fn or False
    return PATCH_HOOK or None


# ---------------------------------------------------------------- generators

WORDS = (
    ".macro", ".endm", ".rept", ".endr", ".irp", ".irpc", ".if", ".ifc", ".ifnc", ".ifb", ".ifnb", ".ifdef",
    ".ifndef", ".else", ".elseif", ".endif", ".exitm", ".purgem", ".set", ".equ", ".equiv", ".altmacro",
    ".noaltmacro", ".section", ".pushsection", ".popsection", ".previous", ".text", ".data", ".byte",
    ".long", ".quad", ".code32", ".code64", ".align", ".globl", ".type", ".size", ".fill", ".skip",
    "#if", "#ifdef", "#ifndef", "#elif", "#else", "#endif", "#define", "#undef", "#include", "#error",
    "#line", "#pragma", "defined", "__has_include", "IS_ENABLED", "CONFIG_X86_64", "ALTERNATIVE",
    "SYM_CODE_START", "SYM_CODE_END", "ENTRY", "END", "swapgs", "sysretq", "iretq", "mov", "movq", "pushq",
    "popq", "call", "jmp", "je", "jnz", "ret", "lea", "leaq", "testb", "cmpq", "wrmsr", "rdmsr", "cli",
    "sti", "lfence", "%rax", "%rsp", "%gs", "%cr3", "%rdi", "%eax", "$0", "$1", "0x1000", "(%rsp)",
    "8(%rsp)", "%gs:0", "1f", "1b", "2:", "label:", "x", "a", "b", "\\x", "\\@", "\\()", "%x", "<x>",
)
PUNCT = ("(", ")", ",", ";", ":", "=", "+", "-", "*", "/", "<<", ">>", "##", "#", "\\", "\"", "'", "[", "]",
         "{", "}", "?", "!", "&", "|", "^", "~", "$", "%", "@", ".", "/*", "*/", "//")
ODD = ("\r", "\r\n", "\x00", "\t", "\f", "\v", "\udc80", "\udcff", "\u00e9", "\u2028", "\ufeff", "\\\n")


def soup(r: random.Random) -> str:
    out = []
    for _ in range(r.randint(0, 160)):
        k = r.random()
        if k < 0.45:
            out.append(r.choice(WORDS))
        elif k < 0.7:
            out.append(r.choice(PUNCT))
        elif k < 0.8:
            out.append(str(r.choice((0, 1, -1, 7, 255, 4096, 2 ** 31, 2 ** 63, 2 ** 64, r.randint(-999, 99999)))))
        elif k < 0.86:
            out.append(r.choice(ODD))
        elif k < 0.87:
            out.append(r.choice("ax(\\#\"") * r.randint(100, 5000))  # long tokens
        else:
            out.append("\n")
        out.append(r.choice((" ", " ", "", "\n", "\t")))
    return "".join(out)


_CORPUS: list[tuple[Path, str]] | None = None


def corpus() -> list[tuple[Path, str]]:
    """Real files of the cached trees: entry code and a few headers it reads."""
    global _CORPUS
    if _CORPUS is None:
        files = []
        roots = sorted(p for p in SURVEY.glob("linux-*") if p.is_dir())
        roots += [p for p in (DEBIAN / "linux-6.1", DEBIAN / "linux-6.12") if p.is_dir()]
        for root in roots:
            files += sorted((root / "arch/x86/entry").glob("*.S"))
            files += [root / "arch/x86/include/asm" / n for n in
                      ("calling.h", "alternative-asm.h", "irqflags.h", "smap.h", "nospec-branch.h",
                       "paravirt.h", "segment.h", "processor-flags.h")]
            files += sorted((root / "arch/x86/kernel").glob("head*.S"))
        _CORPUS = []
        for f in files:
            try:
                _CORPUS.append((f, f.read_text(encoding="utf-8", errors="surrogateescape")))
            except OSError:
                pass
    return _CORPUS


def mutated(r: random.Random) -> tuple[str, Path | None]:
    files = corpus()
    if not files:
        return soup(r), None
    path, text = r.choice(files)
    lines = text.split("\n")
    if r.random() < 0.9:  # a window: most inputs small, some the whole file
        n = r.choice((5, 20, 60, 200))
        start = r.randrange(max(1, len(lines) - n))
        lines = lines[start:start + n]
    for _ in range(r.randint(1, 8)):
        k = r.random()
        if not lines:
            lines = [""]
        i = r.randrange(len(lines))
        if k < 0.2:
            del lines[i]
        elif k < 0.35:
            lines.insert(i, lines[r.randrange(len(lines))])
        elif k < 0.45:
            j = r.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        elif k < 0.55:
            lines.insert(i, soup(r)[:200])
        else:  # byte-wise: flip, insert, delete a span in one line
            s = lines[i]
            p = r.randrange(len(s) + 1)
            kk = r.random()
            if kk < 0.4:
                s = s[:p] + chr(r.randrange(0, 256)) + s[p + 1:]
            elif kk < 0.7:
                s = s[:p] + r.choice(PUNCT + ODD + WORDS) + s[p:]
            else:
                s = s[:p] + s[p + r.randint(1, 10):]
            lines[i] = s
    return "\n".join(lines), path


def macro_program(r: random.Random) -> str:
    names = [f"M{i}" for i in range(r.randint(1, 4))]
    out = []
    if r.random() < 0.2:
        out.append(".altmacro")
    for name in names:
        params = [f"p{k}" for k in range(r.randint(0, 3))]
        decl = ", ".join(p + r.choice(("", "", ":req", "=1", ":vararg", "=<a b>")) for p in params)
        out.append(f".macro {name} {decl}")
        for _ in range(r.randint(1, 6)):
            out.append(_macro_line(r, names, params))
        out.append(".endm")
    for _ in range(r.randint(1, 6)):
        k = r.random()
        if k < 0.6:
            out.append(f"{r.choice(names)} {', '.join(_arg(r) for _ in range(r.randint(0, 3)))}")
        elif k < 0.8:
            out.append(f".rept {r.choice((0, 1, 3, 10, 100, 1000, 100000, -1))}")
            out.append(f" {r.choice(names)} {_arg(r)}")
            out.append(".endr")
        else:
            out.append(f".purgem {r.choice(names)}")
    if r.random() < 0.1:  # cut: unterminated blocks
        out = out[:r.randrange(len(out) + 1)]
    return "\n".join(out) + "\n"


def _arg(r: random.Random) -> str:
    return r.choice(("a", "%rax", "1", "x y", "<a,b>", "%(1+2)", '"s"', "", "\\", "b" * r.randint(1, 50)))


def _macro_line(r: random.Random, names, params) -> str:
    p = "\\" + r.choice(params) if params else "x"
    k = r.random()
    if k < 0.25:
        return f" {r.choice(('nop', 'movq %rax, %rbx', 'swapgs', 'pushq ' + p, 'lea ' + p + '(%rip), %rax'))}"
    if k < 0.5:
        return f" {r.choice(names)} {p}{p if r.random() < 0.3 else ''}"
    if k < 0.6:
        return f" .rept {r.choice((1, 2, 10, 1000))}\n {r.choice(names)} {p}\n .endr"
    if k < 0.7:
        return f" .irp v, {p}, b, c\n  {r.choice(names)} \\v\n .endr"
    if k < 0.8:
        return f" .ifc {p},a\n  .exitm\n .endif"
    if k < 0.85:
        return f" .ifb {p}\n  {r.choice(names)}\n .else\n nop\n .endif"
    if k < 0.9:
        return f" label\\@: jmp label\\@"
    return f" .set cnt, cnt+1\n .if cnt < {r.randint(1, 50)}\n  {r.choice(names)} {p}\n .endif"


def machine_code(r: random.Random) -> bytes:
    return bytes(r.randrange(256) for _ in range(r.randint(0, 30)))


def patch(r: random.Random) -> str:
    text, path = mutated(r)
    old = text.split("\n")[:r.randint(1, 30)]
    new = [(ln if r.random() < 0.8 else soup(r)[:80]) for ln in old]
    name = f"arch/x86/entry/{path.name if path else 'x.S'}"
    hunk = [f"@@ -{r.randint(0, 999)},{len(old)} +{r.randint(0, 999)},{len(new)} @@"]
    hunk += [" " + a if a == b else f"-{a}\n+{b}" for a, b in zip(old, new)]
    head = f"From x Mon Sep 17 00:00:00 2001\nSubject: [PATCH] fuzz\n\n---\ndiff --git a/{name} b/{name}\n--- a/{name}\n+++ b/{name}\n"
    body = head + "\n".join(hunk) + "\n"
    if r.random() < 0.3:  # mail damage
        body = body.replace("\n ", "\n", r.randint(1, 5)).replace("\t", "    ")
    return body


def generate(seed: int, cls: str, index: int):
    r = random.Random(f"{seed}:{cls}:{index}")  # a str seed: sha512, not hash()
    if cls == "soup":
        return soup(r), None
    if cls == "mutated":
        return mutated(r)
    if cls == "macro":
        return macro_program(r), None
    if cls == "bytes":
        return machine_code(r), None
    return patch(r), None


# ---------------------------------------------------------------- layers

class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang


def run_layers(cls: str, text, path, index: int, share: float, asm_share: float, tmp: Path):
    """Run one input through the layers: {layer: digest}."""
    from entrylint.cpp import CppOptions, preprocess_text
    from entrylint.cpp.lexer import lex_file
    from entrylint.cpp.types import plain_lines
    from entrylint.gas import expand
    from entrylint.gas import lex as glex

    out = {}
    if cls == "bytes":
        from entrylint.program.decode import decode_bytes

        for mode in (64, 32, 16):
            out[f"decode{mode}"] = canon(decode_bytes(text, mode))
        if _pick(index, share):
            src = ".byte " + ", ".join(f"0x{b:02x}" for b in text) + "\nswapgs\nsysretq\n" if text else "nop\n"
            out["pipeline"] = pipeline(src, tmp / "bytes.S", assemble=True)
        return out
    if cls == "patch":
        hook = _patch_hook()
        if hook is None:
            return None  # skipped: no patch mode yet
        out["patch"] = str(hook(text))
        return out
    lx = lex_file(text, "fuzz.S")
    out["cpp-lex"] = digest([[t.text for t in ln] for ln in lx.lines], lx.problems)
    g = []
    for ln in text.split("\n"):
        s = glex.strip_comments(ln)
        for col, st in glex.split_statements(s):
            labels, rest, off = glex.peel_labels(st)
            p = glex.classify(rest)
            g.append((col, labels, off, p.kind, p.name, p.args, [a.text for a in glex.split_args(p.args)]))
    out["gas-lex"] = digest(g)
    pp = preprocess_text(text, str(tmp / "fuzz.S"), CppOptions())
    out["cpp"] = digest([(ln.text, ln.segments, ln.cond) for ln in pp.lines], pp.problems, list(pp.macros))
    raw = plain_lines(text, "fuzz.S")
    r = expand(raw)
    out["gas"] = digest(r.statements, r.problems, sorted(r.symbols.items()))
    small = len(r.statements) < PIPELINE_MAX
    if [ln.text for ln in pp.lines] != [ln.text for ln in raw if ln.text.strip()]:
        r = expand(pp.lines)
        out["cpp+gas"] = digest(r.statements, r.problems, sorted(r.symbols.items()))
        small = small and len(r.statements) < PIPELINE_MAX
    if small and _pick(index, share):
        out["pipeline"] = pipeline(text, tmp / "fuzz.S", assemble=_pick(index // 7, asm_share / share))
    if path is not None and _pick(index, share / 20):  # the real file's own tree: its headers
        root = path.parents[3] if "entry" in path.parts or "kernel" in path.parts else None
        if root is not None and (root / "arch").is_dir():
            out["pipeline-tree"] = pipeline(text, path, assemble=False, root=root)
    return out


# the whole pipeline runs on small inputs (what GNU as expands them to): a
# limit-sized expansion is fuzzed through the layers that produce it
PIPELINE_MAX = 20_000


def digest(*seqs) -> str:
    """sha256 of the reprs of the items, one at a time (an expansion's repr
    as one string would cost more memory than the expansion)."""
    h = hashlib.sha256()
    for seq in seqs:
        for x in seq:
            h.update(repr(x).encode("utf-8", "surrogateescape"))
            h.update(b"\0")
        h.update(b"\1")
    return h.hexdigest()


def canon(x):
    """A value with its sets sorted (a repr of a set follows the hash seed;
    the fuzzer compares outputs, not set iteration order)."""
    import dataclasses

    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return "%s(%s)" % (type(x).__name__, ", ".join(f"{f.name}={canon(getattr(x, f.name))}"
                                                      for f in dataclasses.fields(x)))
    if isinstance(x, (set, frozenset)):
        return "{" + ", ".join(sorted(canon(v) for v in x)) + "}"
    if isinstance(x, (list, tuple)):
        return "[" + ", ".join(canon(v) for v in x) + "]"
    if isinstance(x, dict):
        return "{" + ", ".join(sorted(f"{canon(k)}: {canon(v)}" for k, v in x.items())) + "}"
    return repr(x)


def _pick(index: int, share: float) -> bool:
    if share <= 0:
        return False
    return int(hashlib.sha256(str(index).encode()).hexdigest()[:8], 16) < share * 0x100000000


def pipeline(text: str, path: Path, assemble: bool, root: Path | None = None) -> str:
    """The whole pipeline on one input, rendered in every format."""
    from entrylint import api
    from entrylint.report import expand as rexp, explain as rexpl, findings_json, gcc, github, sarif, text as rtext

    opts = api.Options(profile="max", assemble=assemble, root=root)
    res = api.check_one(path, opts, text=text)
    rs = [(res.analysis.expansion.root if res.analysis else None, f) for f in res.findings]
    parts = [findings_json.render(rs, 1, 1), sarif.render(rs, 1, 1, root=root), gcc.render(rs),
             github.render(rs), rtext.render(rs, 1, 1)]
    if res.analysis is not None:
        parts.append(rexp.to_text(res.analysis.expansion))
        parts.append(rexpl.to_text(res.analysis, None))
    return digest(parts)


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
    t_end = time.time() + a.seconds if a.seconds else None
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    i = a.start
    done = 0
    peak_rss = [0, ""]
    while done < a.count and (t_end is None or time.time() < t_end):
        for cls in a.classes:
            if not (i % a.jobs == a.worker or i % a.dup == 0):
                continue
            if i % a.sparse.get(cls, 1):
                continue
            st = stats[cls]
            text, path = generate(a.seed, cls, i)
            t0, c0 = time.perf_counter(), time.process_time()
            signal.setitimer(signal.ITIMER_PROF, a.timeout)
            try:
                got = run_layers(cls, text, path, i, a.share, a.asm_share, tmp)
                err = None
            except Hang:
                got, err = None, "hang"
            except MemoryError:
                got, err = None, "memory"
            except Exception as e:  # noqa: BLE001 - every exception is a finding of the fuzzer
                got, err = None, f"crash: {type(e).__name__}: {e}\n{traceback.format_exc(limit=-6)}"
            finally:
                signal.setitimer(signal.ITIMER_PROF, 0)
            dt = time.process_time() - c0
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
                st["max_seconds"], st["max_at"] = round(dt, 3), i
            if err is not None:
                key = "hangs" if err == "hang" else "memory" if err == "memory" else "crashes"
                st[key] += 1
                failures.append({"class": cls, "index": i, "error": err[:3000], "seconds": round(dt, 2)})
                continue
            for layer in got:
                st["layers"][layer] = st["layers"].get(layer, 0) + 1
            if i % a.dup == 0:
                digests[f"{cls}:{i}"] = hashlib.sha256(
                    json.dumps(got, sort_keys=True, ensure_ascii=False).encode("utf-8", "surrogateescape")).hexdigest()
        i += 1
        if i % a.jobs == a.worker:
            done += 1
        if done and done % 200 == 0 and i % a.jobs == a.worker:
            _write(a, stats, failures, digests, base_rss, i, peak_rss)
    _write(a, stats, failures, digests, base_rss, i, peak_rss)
    return 0


def _write(a, stats, failures, digests, base_rss, i, peak_rss):
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    data = {"worker": a.worker, "hashseed": os.environ.get("PYTHONHASHSEED"), "next_index": i,
            "max_rss_mb": rss // 1024, "start_rss_mb": base_rss // 1024, "max_rss_at": peak_rss[1],
            "stats": stats, "failures": failures, "digests": digests}
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
    ap.add_argument("--dup", type=int, default=50, help="every N-th input runs in every worker (determinism)")
    ap.add_argument("--out", default="fuzz-summary.json")
    ap.add_argument("--sparse", action="append", default=[], metavar="CLASS=N",
                    help="run CLASS on every N-th index only (a class whose inputs cost seconds)")
    ap.add_argument("--replay", metavar="CLASS:INDEX", help="run one input here and print what it gives")
    # worker mode
    ap.add_argument("--worker", type=int, default=-1, help=argparse.SUPPRESS)
    ap.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--start", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--memory-cap", type=int, default=1500, help=argparse.SUPPRESS)
    a = ap.parse_args()
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
        got = run_layers(cls, text, path, int(idx), 1.0, 1.0, Path(tempfile.gettempdir()) / "entrylint-fuzz-input")
        print({k: hashlib.sha256(v.encode("utf-8", "surrogateescape")).hexdigest()[:12] for k, v in (got or {}).items()},
              f"{time.perf_counter() - t0:.2f}s")
        return 0
    if a.worker >= 0:
        return worker(a)
    per_class = -(-a.inputs // len([c for c in a.classes if c != "patch"] or a.classes))
    per_worker = -(-per_class // a.jobs)
    procs, outs = [], []
    for w in range(a.jobs):
        out = f"{a.out}.w{w}"
        outs.append(out)
        env = dict(os.environ, PYTHONHASHSEED=str(w + 1))
        cmd = [sys.executable, __file__, "--worker", str(w), "--jobs", str(a.jobs), "--count", str(per_worker),
               "--seed", str(a.seed), "--seconds", str(a.seconds), "--timeout", str(a.timeout),
               "--share", str(a.share), "--asm-share", str(a.asm_share), "--dup", str(a.dup), "--out", out,
               "--memory-cap", str(max(a.memory * 3, 1500))]
        for c in a.classes:
            cmd += ["--class", c]
        for c, n in a.sparse.items():
            cmd += ["--sparse", f"{c}={n}"]
        procs.append(subprocess.Popen(cmd, env=env))
    for p in procs:
        p.wait()
    return summarize(outs, a)


def summarize(outs, a) -> int:
    data = [json.load(open(o)) for o in outs if os.path.exists(o)]
    total = {}
    for d in data:
        for cls, st in d["stats"].items():
            t = total.setdefault(cls, {"inputs": 0, "skipped": 0, "crashes": 0, "hangs": 0, "memory": 0,
                                       "max_seconds": 0.0, "layers": {}})
            for k in ("inputs", "skipped", "crashes", "hangs", "memory"):
                t[k] += st[k]
            t["max_wall"] = max(t.get("max_wall", 0), st.get("max_wall", 0))
            if st["max_seconds"] > t["max_seconds"]:
                t["max_seconds"], t["max_at"] = st["max_seconds"], st["max_at"]
            for layer, n in st["layers"].items():
                t["layers"][layer] = t["layers"].get(layer, 0) + n
    keys = set().union(*(d["digests"] for d in data)) if data else set()
    compared = differ = 0
    diffs = []
    for k in sorted(keys):
        vals = [d["digests"][k] for d in data if k in d["digests"]]
        if len(vals) > 1:
            compared += 1
            if len(set(vals)) > 1:
                differ += 1
                diffs.append(k)
    summary = {"seed": a.seed, "classes": total, "inputs": sum(t["inputs"] for t in total.values()),
               "crashes": sum(t["crashes"] for t in total.values()), "hangs": sum(t["hangs"] for t in total.values()),
               "memory_over": sum(t["memory"] for t in total.values()),
               "max_rss_mb": max((d["max_rss_mb"] for d in data), default=0),
               "max_rss_at": [(d["max_rss_mb"], d.get("max_rss_at")) for d in data],
               "hashseeds": [d["hashseed"] for d in data],
               "determinism": {"compared": compared, "differ": differ, "examples": diffs[:20]},
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
