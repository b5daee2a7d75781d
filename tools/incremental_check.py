#!/usr/bin/env python3
"""Incremental re-analysis against a run from the start, on a real file.

Applies N random one-line edits to a file, one after the other as typing
would (a line deleted, duplicated, an instruction inserted, a comment
appended, a line's last character removed, a register operand retyped),
and after each compares
``api.check(..., incremental=)`` -- what the language server runs -- with a
check of the same text from the start: the findings (locations, messages,
paths, traces), the preprocessed lines, the statements, the problems and
what the walk records (its steps looked up from the last walks) must be
equal.  Prints one line per edit with both times and how the incremental run
went; exits 1 on the first difference.

    python tools/incremental_check.py [FILE] [--edits 20] [--seed 1] [--profile defconfig]
                                      [--typing | --keys | --lines | --code]

``--typing``: instead of random edits, bench/lsp_latency.py's keystrokes (a
code line retyped as a push of another register four times, then the next
line 37 code lines on, the last one put back): most of them make the
program from the last one and carry the last analysis (analysis/carry.py).
``--keys``: the benchmark's instruction typed over a code line a key at a
time (the assembler refuses most of the texts), then over the next.
``--lines``: the benchmark's line edits (a nop added 37 code lines on, the
one before it deleted: analysis/shifted.py takes the last walk moved over
most of them).
``--code``: the benchmark's code edits (a nop moved 37 code lines on at
each: taken out at one place, put in at the other, once per expansion
where a place is in a macro's body).

FILE defaults to 6.12's arch/x86/entry/entry_64.S in the kernel cache.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from keystrokes import added, keyed, moved, typed  # noqa: E402 - the language-server benchmark's keystrokes

DEFAULT = Path.home() / ".cache" / "entrylint" / "kernels" / "linux-6.12" / "arch" / "x86" / "entry" / "entry_64.S"
KINDS = ("delete", "duplicate", "insert", "comment", "cut", "retype")
REGISTER = re.compile(r"%([re]?)(ax|bx|cx|dx|si|di|8|9|1[0-5])\b")
OTHER = {"ax": "bx", "bx": "cx", "cx": "dx", "dx": "si", "si": "di", "di": "ax",
         **{str(n): str(8 + (n - 7) % 8) for n in range(8, 16)}}


def edit(lines: list[str], rnd: random.Random) -> tuple[list[str], str]:
    i = rnd.randrange(len(lines))
    kind = rnd.choice(KINDS)
    new = list(lines)
    if kind == "delete":
        del new[i]
    elif kind == "duplicate":
        new.insert(i, new[i])
    elif kind == "insert":
        new.insert(i, rnd.choice(("\tnop\n", "\tpushq %rax\n", "\tswapgs\n", "\tmovq %cr3, %rax\n")))
    elif kind == "comment":
        new[i] = new[i].rstrip("\n") + " /* x */\n"
    elif kind == "cut":
        stripped = new[i].rstrip("\n")
        new[i] = stripped[:-1] + "\n" if stripped else new[i]
    else:  # the first register a line names (from a random line on) becomes another
        j = next((j for j in range(i, len(new)) if REGISTER.search(new[j])), None)
        if j is None:
            return new, f"{kind} (no register from line {i + 1})"
        i = j
        new[i] = REGISTER.sub(lambda m: f"%{m[1]}{OTHER[m[2]]}", new[i], count=1)
    return new, f"{kind} line {i + 1}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("file", nargs="?", default=str(DEFAULT))
    ap.add_argument("--edits", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--profile", default="defconfig")
    ap.add_argument("--typing", action="store_true", help="the language-server benchmark's keystrokes")
    ap.add_argument("--keys", action="store_true", help="the benchmark's instruction typed a key at a time")
    ap.add_argument("--lines", action="store_true", help="the benchmark's lines added and deleted")
    ap.add_argument("--code", action="store_true", help="the benchmark's nop moved along the file")
    args = ap.parse_args()
    from entrylint import api
    from entrylint.incremental import Sessions, outcome

    path = Path(args.file)
    if not path.is_file():
        print(f"{path}: no such file", file=sys.stderr)
        return 2
    opts = api.Options(profile=args.profile)
    lines = path.read_text(encoding="utf-8", errors="surrogateescape").splitlines(keepends=True)
    sessions = Sessions()
    rnd = random.Random(args.seed)
    api.check(path, opts, text="".join(lines), incremental=sessions)
    session = sessions.session(path, opts)[0]
    original = lines
    for k in range(args.edits):
        if args.typing:
            lines, what = typed("".join(original), k).splitlines(keepends=True), f"typed {k}"
        elif args.keys:
            lines, what = keyed("".join(original), k).splitlines(keepends=True), f"key {k}"
        elif args.lines:
            lines, what = added("".join(original), k).splitlines(keepends=True), f"line {k}"
        elif args.code:
            lines, what = moved("".join(original), k).splitlines(keepends=True), f"nop moved {k}"
        else:
            lines, what = edit(lines, rnd)
        text = "".join(lines)
        t0 = time.perf_counter()
        inc = api.check(path, opts, text=text, incremental=sessions)
        t1 = time.perf_counter()
        full = api.check(path, opts, text=text)
        t2 = time.perf_counter()
        same = outcome(inc) == outcome(full)
        walk = "walk reused" if inc.analysis is not None and getattr(inc.analysis.forward, "reused", False) else "walked"
        if inc.analysis is not None and getattr(inc.analysis, "carried", None) is not None:
            walk += ", the last analysis carried"
        print(f"{k + 1:3} {what:<22} {session.last:<30} {walk:<11} incremental {1000 * (t1 - t0):6.0f} ms  "
              f"from the start {1000 * (t2 - t1):6.0f} ms  {len(full.findings)} findings  "
              f"{'same' if same else 'DIFFERENT'}", flush=True)
        if not same:
            return 1
    print(f"{args.edits} edits: the incremental analysis equals the analysis from the start after each")
    return 0


if __name__ == "__main__":
    sys.exit(main())
