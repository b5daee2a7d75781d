#!/usr/bin/env python3
"""CPU time of a whole ``entrylint --no-cache`` process on inputs at the
work limits (issue 9: 10 s and 500 MB per input), beside the assembler's
own time on the same file as the anchor.

    bench/limits.py [--entrylint CMD] [--runs N]

The inputs are written here, into a temporary folder:

* ``both-limits.S``: 33,333 repetitions of a macro of three instructions
  and nine ``.set``; it reads 400k statements (expansion-statements stops
  it) and makes 92k instructions (program-instructions is 100k);
* ``labels.S``: 33k ``label\\@: jmp label\\@`` between two instructions
  (132k statements read, 99k instructions, 33k labels and branches);
* ``deep.S``: a recursion 90 macros deep with 60k instructions at the
  bottom, each with a trace of 92 frames (expansion-bytes counts 8 bytes a
  frame: about as many as it lets through);
* ``both-pti.S``: ``both-limits.S`` after an ``#ifdef
  CONFIG_PAGE_TABLE_ISOLATION``: pti-off reads other lines than max and
  defconfig (the limits bound the check, not each profile);
* ``short-lines.S``: a file at file-size of one-letter lines (262k lines,
  the preprocessor's worst per byte, and 100k instructions GNU as does not
  know), after the same ``#ifdef``;
* ``nop-lines.S``: a file at file-size of ``nop`` lines.
* ``flag-words.S``: eight 0/1 words, each set on one path of a branch and
  read at the end, around 4,000 ``nop``: 256 tuples at every node after
  them (widening keeps a 0/1 word), the walk at analysis-visits;
* ``flag-moves.S``: the same around 4,000 ``movq %r8, %rdx``: each visit
  steps (a ``nop`` is quiet), the walk at analysis-steps.

Each line: the median user+system CPU seconds of ``--runs`` processes and
the largest RSS, the assembler's time (``as``, when it is on PATH) and the
ratio to the bound.  With ``--released FILE`` (a released kernel's largest
check, e.g. 5.10.89's arch/x86/crypto/aesni-intel_avx-x86_64.S, run where
the tree is), its time is measured before and after the inputs and each
input's ratio to it is printed too: the bound is in seconds, and the same
code costs 1.6x more on one machine than on another.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path

BOUND_S, BOUND_MB = 10.0, 500

SETS = "".join(f"\t.set c{k}, c{k}+1\n" for k in range(9))
INIT = "".join(f"\t.set c{k}, 0\n" for k in range(9))
INPUTS = {
    "both-limits.S": INIT + (".macro M\n\tlea x(%rip), %rax\nlabel\\@: jmp label\\@\n\tmovq %rax, %rbx\n"
                             + SETS + ".endm\n.rept 33333\n\tM\n.endr\n"),
    "labels.S": ".macro M\n\tlea x(%rip), %rax\nlabel\\@: jmp label\\@\n\tmovq %rax, %rbx\n.endm\n"
                ".rept 33000\n\tM\n.endr\n",
    "deep.S": ".macro D n\n.if \\n\n\tD \"(\\n-1)\"\n.else\n.rept 20000\n\tlea x(%rip), %rax\n1: jmp 1b\n"
              "\tmovq %rax, %rbx\n.endr\n.endif\n.endm\n\tD 90\n",
}
PTI = "#ifdef CONFIG_PAGE_TABLE_ISOLATION\n\tnop\n#endif\n"
FILE_SIZE = 512 * 1024  # the file-size limit
INPUTS["both-pti.S"] = PTI + INPUTS["both-limits.S"]
INPUTS["short-lines.S"] = PTI + "a\n" * ((FILE_SIZE - len(PTI)) // 2)
INPUTS["nop-lines.S"] = "\tnop\n" * (FILE_SIZE // 5)
WORDS = ("r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15")


def _words(body: str) -> str:
    return (".globl entry_SYSCALL_64\nentry_SYSCALL_64:\n\tswapgs\n"
            + "".join(f"\ttestq %rax, %rax\n\tjz 1f\n\tmovl $1, %{r}d\n1:\n" for r in WORDS)
            + f".rept 4000\n\t{body}\n.endr\n" + "".join(f"\tpushq %{r}\n" for r in WORDS) + "\tswapgs\n\tsysretq\n")


INPUTS["flag-words.S"] = _words("nop")
INPUTS["flag-moves.S"] = _words("movq %r8, %rdx")


def run(cmd: list[str], cwd: Path) -> tuple[float, int, int]:
    """(CPU seconds of the process, its peak RSS in MB, its exit code; -1
    for a Python traceback on stderr: a crash exits 1, as findings do, and a
    broken command -- an ``entrylint`` on PATH that is not installed -- took
    0.08 s and was measured as a result)."""
    with tempfile.TemporaryFile() as err:
        p = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=err)
        _, status, use = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        crashed = b"Traceback (most recent call last)" in err.read()
    return use.ru_utime + use.ru_stime, use.ru_maxrss // 1024, -1 if crashed else p.returncode


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--entrylint", default="entrylint", help="the command to measure (default: entrylint)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--input", action="append", choices=sorted(INPUTS), help="only this input (repeatable)")
    ap.add_argument("--released", type=Path, help="a released kernel's file to measure beside them (the anchor)")
    args = ap.parse_args()
    entrylint = args.entrylint.split()
    gas = shutil.which("as")
    anchor: list[float] = []

    def released() -> None:
        if args.released is not None:
            f = args.released.resolve()
            for _ in range(args.runs):
                cpu, _, code = run([*entrylint, "--no-cache", str(f)], f.parent)
                if code not in (0, 1):
                    raise SystemExit(f"{f.name}: {' '.join(entrylint)} exited {code} (-1: a traceback)")
                anchor.append(cpu)

    released()
    print(f"{'input':<16} {'entrylint CPU s':>16} {'RSS MB':>7} {'as CPU s':>9} {'x bound':>8}"
          + (f" {'x released':>11}" if anchor else ""))
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp)
        env_cache = where / "cache"
        os.environ["ENTRYLINT_CACHE_DIR"] = str(env_cache)  # the user's cache is neither read nor filled
        for name, text in INPUTS.items():
            if args.input and name not in args.input:
                continue
            (where / name).write_text(text)
            times, rss = [], 0
            for _ in range(args.runs):
                cpu, mb, code = run([*entrylint, "--no-cache", name], where)
                if code not in (0, 1):
                    print(f"{name}: {' '.join(entrylint)} exited {code} (-1: a traceback)")
                    return 2
                times.append(cpu)
                rss = max(rss, mb)
            t = statistics.median(times)
            worst = max(worst, t)
            # (as on the short lines: 262k errors; its time still says what reading them costs)
            as_t = run([gas, "-o", str(where / "out.o"), name], where)[0] if gas else float("nan")
            print(f"{name:<16} {t:>16.2f} {rss:>7} {as_t:>9.2f} {t / BOUND_S:>8.2f}"
                  + (f" {t / statistics.median(anchor):>11.2f}" if anchor else ""), flush=True)
    print(f"slowest: {worst:.2f} s CPU against the {BOUND_S:.0f} s bound")
    if anchor:
        released()
        print(f"released: {args.released.name} {statistics.median(anchor):.2f} s CPU (median of {len(anchor)}, "
              f"before and after; the ratios above use the ones before)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
