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
than --timeout seconds of CPU in each layer (else a hang: an input over it
is measured once more and judged by the lesser time, both kept in the
summary's ``remeasured``, since a shared machine's CPU time varies by a third
between runs) and the worker stays under --memory MB,
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
from array import array
from operator import attrgetter, is_
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CLASSES = ("soup", "mutated", "macro", "bytes", "patch", "size")
SURVEY = Path.home() / ".cache/entrylint/survey-kernels"
DEBIAN = Path.home() / ".cache/entrylint/kernels"

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


def corpus_id() -> str:
    """What the mutated class draws from (the workers must agree: a file
    missing in one would change its inputs, not entrylint's output)."""
    h = hashlib.sha256()
    for f, text in corpus():
        h.update(f"{f}\0{len(text)}\0".encode("utf-8", "surrogateescape"))
    return f"{len(corpus())} files {h.hexdigest()[:12]}"


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


# the body lines of a random macro, by their share of draws (up to the bound)
_MACRO_LINES = (
    (0.25, lambda r, names, p: " " + r.choice(("nop", "movq %rax, %rbx", "swapgs", "pushq " + p,
                                               "lea " + p + "(%rip), %rax"))),
    (0.5, lambda r, names, p: f" {r.choice(names)} {p}{p if r.random() < 0.3 else ''}"),  # \\x\\x doubling
    (0.6, lambda r, names, p: f" .rept {r.choice((1, 2, 10, 1000))}\n {r.choice(names)} {p}\n .endr"),
    (0.7, lambda r, names, p: f" .irp v, {p}, b, c\n  {r.choice(names)} \\v\n .endr"),
    (0.8, lambda r, names, p: f" .ifc {p},a\n  .exitm\n .endif"),
    (0.85, lambda r, names, p: f" .ifb {p}\n  {r.choice(names)}\n .else\n nop\n .endif"),
    (0.9, lambda r, names, p: " label\\@: jmp label\\@"),
    (1.0, lambda r, names, p: f" .set cnt, cnt+1\n .if cnt < {r.randint(1, 50)}\n  {r.choice(names)} {p}\n .endif"),
)


def _macro_line(r: random.Random, names, params) -> str:
    p = "\\" + r.choice(params) if params else "x"
    k = r.random()
    return next(make for upto, make in _MACRO_LINES if k < upto)(r, names, p)


def machine_code(r: random.Random) -> bytes:
    return bytes(r.randrange(256) for _ in range(r.randint(0, 30)))


FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "kaiser-2017"
_FIXTURE_FILES: list[tuple[str, str]] | None = None
NEW_LINES = ("\tswapgs", "\tsysretq", "\tmov\t%cr3, %rax", "\tmovq\t%rax, %cr3", "\tSWITCH_TO_KERNEL_CR3 scratch_reg=%rax",
             "\tTRACE_IRQS_OFF", "\tcall\tdo_nmi", "\tiretq", "ENTRY(x)", "END(x)", ".macro M r:req", ".endm",
             "#ifdef CONFIG_X86_64", "#endif", "#include \"calling.h\"", "\tpushq\t%rax", "\tjmp\t1f", "1:", "")
BAD_PATHS = ("../outside.S", "arch/x86/../../../etc/passwd", "/etc/passwd", "/abs/arch/x86/entry/entry_64.S",
             "arch/x86/entry", "C:/x.S", "arch/x86/entry/new.S", "a b.S", "arch/x86/entry/entry_64.S\t(tab)")


def fixture_files() -> list[tuple[str, str]]:
    """The files of the bundled 2017-style tree (read only, never written)."""
    global _FIXTURE_FILES
    if _FIXTURE_FILES is None:
        _FIXTURE_FILES = [(f.relative_to(FIXTURE).as_posix(), f.read_text(encoding="utf-8"))
                          for f in sorted(FIXTURE.rglob("*")) if f.is_file()]
    return _FIXTURE_FILES


def _file_diff(r: random.Random, rel: str, text: str) -> tuple[str, str | None]:
    """A diff of one file and the file's text after it: hunks of random edits
    near real lines (right counts and places, mostly), or a creation,
    deletion, rename, symlink, binary, or a path the review must refuse."""
    lines = text.splitlines()
    k = r.random()
    if k < 0.06:
        rel = r.choice(BAD_PATHS)
    if k < 0.1:  # a new file (a symlink now and then)
        body = [r.choice(NEW_LINES) for _ in range(r.randint(0, 6))]
        mode = "120000" if r.random() < 0.3 else "100644"
        return (f"diff --git a/{rel} b/{rel}\nnew file mode {mode}\n--- /dev/null\n+++ b/{rel}\n"
                f"@@ -0,0 +1,{len(body)} @@\n" + "".join(f"+{x}\n" for x in body)), text
    if k < 0.12:  # deleted
        return (f"diff --git a/{rel} b/{rel}\ndeleted file mode 100644\n--- a/{rel}\n+++ /dev/null\n"
                f"@@ -1,{len(lines)} +0,0 @@\n" + "".join(f"-{x}\n" for x in lines)), None
    if k < 0.14:
        return f"diff --git a/{rel} b/{rel}\nindex 1..2 100644\nBinary files a/{rel} and b/{rel} differ\n", text
    head = f"diff --git a/{rel} b/{rel}\nindex 9724692..e2b1352 100644\n--- a/{rel}\n+++ b/{rel}\n"
    if k < 0.16:
        new = r.choice(("arch/x86/entry/moved.S", "../moved.S", rel))
        head = (f"diff --git a/{rel} b/{new}\nsimilarity index 90%\nrename from {rel}\nrename to {new}\n"
                f"--- a/{rel}\n+++ b/{new}\n")
    out, after, pos, shift = [head], [], 0, 0
    for _ in range(r.randint(1, 3)):
        if pos >= len(lines):
            break
        start = r.randrange(pos, len(lines))
        n = min(r.randint(0, 8), len(lines) - start)
        body = []
        for ln in lines[start:start + n]:
            e = r.random()
            if e < 0.6:
                body.append(" " + ln)
            elif e < 0.8:
                body.append("-" + ln)
            else:
                body += ["-" + ln, "+" + (r.choice(NEW_LINES) if r.random() < 0.8 else soup(r)[:60].replace("\n", " "))]
        for _ in range(r.randint(0 if body else 1, 3)):
            body.insert(r.randint(0, len(body)), "+" + r.choice(NEW_LINES))
        a = sum(1 for x in body if x[:1] in " -")
        b = sum(1 for x in body if x[:1] in " +")
        o = start + 1 if a else start
        after += lines[pos:start] + [x[1:] for x in body if x[:1] in " +"]
        if r.random() < 0.08:  # wrong counts or places
            a, b, o = a + r.choice((-1, 1, 5)), b + r.choice((-1, 0, 2)), o + r.choice((-3, 7, 1000))
        out.append(f"@@ -{o},{a} +{o + shift + (0 if a else 1)},{b} @@{r.choice(('', ' ENTRY(x)'))}\n"
                   + "".join(x + "\n" for x in body))
        shift += b - a
        pos = start + n
    return "".join(out), "\n".join(after + lines[pos:]) + "\n"


def _mail(r: random.Random, k: int, n: int, diff: str) -> str:
    subject = f"[PATCH {k + 1}/{n}] x86/entry: {r.choice(('switch CR3', 'fix swapgs', 'x' * r.randint(1, 200)))}"
    if r.random() < 0.2:  # a header wrapped by a mailer
        subject = subject[:30] + "\n " + subject[30:]
    return (f"From 921f32b3943a98b47aa173978949d007007bd798 Mon Sep 17 00:00:00 2001\nFrom: A <a@example.org>\n"
            f"Date: Tue, 31 Oct 2017 15:03:48 -0700\nSubject: {subject}\n\nWhy.\n\nSigned-off-by: A <a@example.org>\n"
            f"---\n{diff}-- \n2.14.1\n\n")


def _damage(r: random.Random, text: str) -> str:
    """What mail does to a patch."""
    for _ in range(r.choice((0, 0, 0, 1, 1, 2))):
        k = r.random()
        if k < 0.12:
            text = "".join("> " + ln for ln in text.splitlines(True))  # quoted in a reply
        elif k < 0.25:
            text = text.replace("\t", r.choice(("    ", " ", "        ")))
        elif k < 0.4:
            text = text.replace("\n ", "\n", r.randint(1, 20))  # lost leading space of context lines
        elif k < 0.5:
            text = text.replace("\n", "\r\n")
        elif k < 0.62:
            text = text[:r.randrange(len(text) + 1)]  # truncated
        elif k < 0.72:  # a long line wrapped
            i = r.randrange(len(text) + 1)
            text = text[:i] + "\n" + text[i:]
        elif k < 0.8:
            text = text.replace("=", "=3D").replace("\n", "=\n", r.randint(0, 3))  # quoted-printable
        elif k < 0.9:
            i = r.randrange(len(text) + 1)
            text = text[:i] + soup(r)[:200] + text[i:]
        else:
            text = text.replace("\n", "\n\n", r.randint(1, 5))
    return text


def patch(r: random.Random) -> str:
    """A random patch against the bundled 2017-style tree: a plain unified
    diff, a format-patch mail or an mbox series, with mail damage."""
    state = dict(fixture_files())  # each patch of a series applies over the ones before
    n = r.choice((1, 1, 1, 2, 3))
    msgs = []
    for k in range(n):
        diff = ""
        for rel in sorted({r.choice(sorted(state)) for _ in range(r.choice((1, 1, 2)))}):
            d, after = _file_diff(r, rel, state[rel])
            diff += d
            if after is None:
                del state[rel]
            else:
                state[rel] = after
        msgs.append(diff if n == 1 and r.random() < 0.4 else _mail(r, k, n, diff))
    return _damage(r, "".join(msgs))


_PTI = "#ifdef CONFIG_PAGE_TABLE_ISOLATION\n\tnop\n#endif\n"
_NUMBER_SPOTS = ("#if {n}\n#endif\n", "x = {n}\n", ".set y, {n}\n", ".byte {n}\n", "\tmovq ${n}, %rax\n",
                 "\tmovq {n}(%rax), %rax\n", ".rept {n}\n\tnop\n.endr\n", ".if {n}\n\tnop\n.endif\n",
                 "\tjmp {n}f\n{n}:\n", ".word {n}\n", "#define N {n}\n\tmovq $N, %rax\n", ".org {n}\n",
                 "\tmovq (%rax,%rbx,{n}), %rcx\n", "\tleaq {n}(%rip), %rax\n", ".long {n}\n", "#line {n}\n")
_UNITS = ("7", "a", "a,", "> ", "(", ")", '"', "'", "\\", "a\\", "%rax,", "((", "1+", "x##", "#", "/*", ":", ";",
          " ", "\\@", "0x", "$")
_CONTEXTS = ("{}", "\t{}\n", "#if {}\n#endif\n", ".ascii \"{}\"\n", "\tmovq ${}, %rax\n", "#define X {}\nX\n",
             ".macro M a\n\\a\n.endm\nM {}\n", ".if {}\n.endif\n", "{}:\n", "\tjmp {}\n")
_VOCAB = ("a", "\tnop", ";", "", "#if 1", "#endif", "x:", "\tjmp x", "\tmovq %rax, %rbx", ".set c, c+1", "1:",
          "\tjmp 1b", "#define A B", "A", "\tpushq %rax", "\tswapgs", ".rept 2", ".endr", "/* c */", "#ifdef X",
          "\tmovq %gs:8, %rsp", "SYM_CODE_START(f)", "SYM_CODE_END(f)", "\tcall f", "\tret")


def size_input(r: random.Random) -> str:
    """An input as large as the limits let through (file-size 512 KiB,
    line-length 1 MiB): long numbers, one long token or line, a file of
    short lines; half of them behind an #ifdef the profiles disagree on."""
    head = _PTI if r.random() < 0.5 else ""
    k = r.random()
    if k < 0.35:
        parts = []
        for _ in range(r.randint(1, 6)):
            base, digits = r.choice((("", "0123456789"), ("0x", "0123456789abcdef"), ("0", "01234567"),
                                     ("0b", "01"), ("", "9")))
            n = r.choice((20, 21, 64, 4299, 4300, 5000, r.randint(1, 200_000)))
            num = base + "".join(r.choice(digits) for _ in range(min(n, 64))) * max(1, n // 64)
            parts.append(r.choice(_NUMBER_SPOTS).format(n=num))
        return head + "".join(parts)
    if k < 0.7:
        unit = r.choice(_UNITS)
        n = r.choice((1000, 65_536, 300_000, (1 << 20) // len(unit) - 16, (1 << 20) // len(unit) + 16))
        return head + r.choice(_CONTEXTS).format(unit * max(1, n // len(unit)) if len(unit) > 1 else unit * n)
    vocab = r.sample(_VOCAB, r.randint(1, 5))
    target = r.choice((100_000, 300_000, 500_000, 524_000, 600_000))
    lines, size = [], len(head)
    while size < target:
        ln = r.choice(vocab)
        lines.append(ln)
        size += len(ln) + 1
    return head + "\n".join(lines) + "\n"


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
    if cls == "size":
        return size_input(r), None
    return patch(r), None


# ---------------------------------------------------------------- layers

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


def run_layers(cls: str, text, path, index: int, share: float, asm_share: float, tmp: Path):
    """Run one input through the layers: {layer: digest}."""
    from entrylint.cpp import CppOptions, preprocess_text
    from entrylint.cpp.lexer import lex_file
    from entrylint.cpp.types import plain_lines
    from entrylint.gas import expand
    from entrylint.gas import lex as glex

    out = {}
    LAYER_SECONDS.clear()
    if cls == "bytes":
        from entrylint.program.decode import decode_bytes

        for mode in (64, 32, 16):
            out[f"decode{mode}"] = canon(timed(f"decode{mode}", decode_bytes, text, mode))
        if _pick(index, share):
            src = ".byte " + ", ".join(f"0x{b:02x}" for b in text) + "\nswapgs\nsysretq\n" if text else "nop\n"
            out["pipeline"] = pipeline(src, tmp / "bytes.S", assemble=True)
        return out
    if cls == "patch":
        return review_patch(text, _pick(index // 7, asm_share / share if share else 0))
    if cls == "size":  # what a user's run does with it: the whole pipeline, the layers inside it
        out["pipeline"] = pipeline(text, tmp / "size.S", assemble=_pick(index // 7, asm_share / share if share else 0))
        return out
    lx = timed("cpp-lex", lex_file, text, "fuzz.S")
    out["cpp-lex"] = digest([[t.text for t in ln] for ln in lx.lines], lx.problems)
    g = []
    for ln in text.split("\n"):
        s = glex.strip_comments(ln)
        for col, st in glex.split_statements(s):
            labels, rest, off = glex.peel_labels(st)
            p = glex.classify(rest)
            g.append((col, labels, off, p.kind, p.name, p.args, [a.text for a in glex.split_args(p.args)]))
    out["gas-lex"] = digest(g)
    pp = timed("cpp", preprocess_text, text, str(tmp / "fuzz.S"), CppOptions())
    out["cpp"] = digest([(ln.text, ln.segments, ln.cond) for ln in pp.lines], pp.problems, list(pp.macros))
    raw = plain_lines(text, "fuzz.S")
    r = timed("gas", expand, raw)
    out["gas"] = digest(r.statements, r.problems, sorted(r.symbols.items()))
    if [ln.text for ln in pp.lines] != [ln.text for ln in raw if ln.text.strip()]:
        r = timed("cpp+gas", expand, pp.lines)
        out["cpp+gas"] = digest(r.statements, r.problems, sorted(r.symbols.items()))
    if _pick(index, share):
        out["pipeline"] = pipeline(text, tmp / "fuzz.S", assemble=_pick(index // 7, asm_share / share))
    if _pick(index + 1, share / 4):
        out["incremental"] = incremental(text, index, tmp / "inc.S")
    if path is not None and _pick(index, share / 20):  # the real file's own tree: its headers
        root = path.parents[3] if "entry" in path.parts or "kernel" in path.parts else None
        if root is not None and (root / "arch").is_dir():
            out["pipeline-tree"] = pipeline(text, path, assemble=False, root=root)
    return out


PATCH_FORMATS = ("text", "json", "b4-json", "sarif", "gcc", "github")


def review_patch(text: str, assemble: bool) -> dict:
    """Patch mode on one input, as ``entrylint --patch - --root FIXTURE``
    runs it (the face's own code: stdin, the limits, every format, the
    one-line message of exit 2): {format: digest of stdout, stderr, exit}.
    The review is made once and rendered in each format."""
    from entrylint.patch import review as rv

    out = {}
    data = text.encode("utf-8", "surrogateescape")
    real, memo = rv.review, []

    def review_once(*args, **kw):
        # a review that raises (a refused series: exit 2) is remembered too:
        # else each format ran it again
        if not memo:
            try:
                memo.append((real(*args, **kw), None))
            except Exception as e:  # noqa: BLE001 - raised again, as the real review would
                memo.append((None, e))
        got, exc = memo[0]
        if exc is not None:
            raise exc
        return got

    rv.review = review_once
    try:
        for fmt in PATCH_FORMATS:
            out[f"patch-{fmt}"] = _patch_face(fmt, data, assemble)
    finally:
        rv.review = real
    return out


def _patch_face(fmt: str, data: bytes, assemble: bool) -> str:
    import contextlib
    import io

    from entrylint.faces import cli

    argv = ["--patch", "-", "--root", str(FIXTURE), "--format", fmt, "--no-cache", "--profile", "max"]
    argv += [] if assemble else ["--no-assemble"]
    argv += ["--show-existing"] if fmt in ("text", "json") else []
    so, se = io.StringIO(), io.StringIO()
    stdin = sys.stdin
    sys.stdin = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors="surrogateescape")
    try:
        with contextlib.redirect_stdout(so), contextlib.redirect_stderr(se):
            # the bound is per entrylint call: each format is its own layer
            code = timed(f"patch-{fmt}", cli.cmd_check, argv)
    finally:
        sys.stdin = stdin
    err = se.getvalue()
    if code == 2 and ("internal error" in err or "Traceback" in err):
        raise RuntimeError(f"patch mode, --format {fmt}: {err.strip()}")
    if code not in (0, 1, 2) or (code == 2 and len(err.strip().splitlines()) != 1):
        raise RuntimeError(f"patch mode, --format {fmt}: exit {code}, stderr {err!r}")
    return digest([so.getvalue(), err, code])


# CPU seconds of each entrylint call of the input in hand (the harness's own
# digests are not counted: the 10 s bound is entrylint's)
LAYER_SECONDS: dict[str, float] = {}


def timed(name: str, fn, *args, **kw):
    c0 = time.process_time()
    try:
        return fn(*args, **kw)
    finally:
        LAYER_SECONDS[name] = LAYER_SECONDS.get(name, 0.0) + time.process_time() - c0


def digest(*seqs) -> str:
    """sha256 of the reprs of the items, one at a time (an expansion's repr
    as one string would cost more memory than the expansion).

    A statement (a problem too: an item with a kind and a trace) is written
    as the repr of its fields but the trace, then its trace as the numbers
    of its frames: each distinct frame repr is written once, where it is
    first met, with the next number.  Every frame of every trace can be read
    back from the stream, in order, so two outputs give the same digest
    exactly when they would give the same reprs, and the stream follows the
    reprs alone, never which objects are shared.  But the work per
    statement is small: the reprs of a field value met before (a location,
    a kind) and of a frame are made once, and a deep trace's frames but the
    last are those of the statement before or of a head met before (the
    same objects: checked, then not read again); a deep expansion is
    thousands of statements of a hundred frames each."""
    h = hashlib.sha256()
    num: dict[int, int] = {}  # id(frame) -> the number of its repr (the frames live as long as seqs)
    numbered: dict[bytes, int] = {}  # a frame's repr -> its number (equal frames, equal numbers)
    reprs: dict[int, tuple[object, str]] = {}  # id(value) -> (the value, kept alive: the id stays its own; repr)

    def numbers(frames: tuple) -> bytes:
        try:
            return array("I", map(num.__getitem__, map(id, frames))).tobytes()
        except KeyError:  # frames not met yet: number them (a repr met for the first time goes into the stream)
            for fr in frames:
                if id(fr) not in num:
                    b = repr(fr).encode("utf-8", "surrogateescape")
                    n = numbered.get(b)
                    if n is None:
                        n = numbered[b] = len(numbered)
                        h.update(b"\2%d\0" % len(b))
                        h.update(b)
                    num[id(fr)] = n
            return array("I", map(num.__getitem__, map(id, frames))).tobytes()

    heads: dict[int, tuple[tuple, bytes]] = {}  # id of a head's last frame -> the head and its numbers
    for seq in seqs:
        for x in seq:
            trace = getattr(x, "trace", None)
            if isinstance(trace, tuple) and hasattr(x, "kind"):
                rs = []  # repr(the fields), with the reprs of values met before taken from `reprs`
                for v in _fields(x):
                    if type(v) is str:
                        rs.append(repr(v))
                    else:
                        got = reprs.get(id(v))
                        if got is None or got[0] is not v:
                            got = reprs[id(v)] = (v, repr(v))
                        rs.append(got[1])
                h.update(("(" + rs[0] + ",)" if len(rs) == 1 else "(" + ", ".join(rs) + ")")
                         .encode("utf-8", "surrogateescape"))
                if len(trace) < 8:
                    ns = numbers(trace)
                else:  # the head (every frame but the last): met before, or a head met before and a frame or two
                    p = trace[:-1]
                    got = heads.get(id(p[-1]))
                    if got is not None and len(got[0]) == len(p) and all(map(is_, p, got[0])):
                        ns = got[1]
                    else:
                        ns = None
                        for k in range(2, min(len(p), 8) + 1):
                            up = heads.get(id(p[-k]))
                            if up is not None and len(up[0]) == len(p) - k + 1 and all(map(is_, p, up[0])):
                                ns = up[1] + numbers(p[1 - k:])
                                break
                        if ns is None:
                            ns = numbers(p)
                        if len(heads) > 256:
                            heads.clear()
                        heads[id(p[-1])] = (p, ns)
                    ns += numbers(trace[-1:])
                h.update(b"\3%d\0" % len(ns))
                h.update(ns)
            else:
                h.update(repr(x).encode("utf-8", "surrogateescape"))
            h.update(b"\0")
        h.update(b"\1")
    return h.hexdigest()


_STMT_FIELDS = ("kind", "name", "args", "section", "cond", "cpp_macros", "message", "location", "trace")
_GETTERS: dict[type, object] = {}


def _fields(x) -> tuple:
    """The values of x's fields of _STMT_FIELDS (those it has) but its trace."""
    get = _GETTERS.get(type(x))
    if get is None:
        if hasattr(x, "__dict__"):  # attributes of its own: ask the object each time
            return tuple(getattr(x, f) for f in _STMT_FIELDS if f != "trace" and hasattr(x, f))
        names = [f for f in _STMT_FIELDS if f != "trace" and hasattr(x, f)]  # slots: the same in every object
        get = _GETTERS[type(x)] = (lambda y: ()) if not names else (
            (lambda y, g=attrgetter(names[0]): (g(y),)) if len(names) == 1 else attrgetter(*names))
    return get(x)


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

    opts = api.Options(assemble=assemble, root=root)  # every profile, as the CLI
    res = timed("pipeline-tree" if root else "pipeline", api.check, path, opts, text=text)
    rs = [(res.analysis.expansion.root if res.analysis else None, f) for f in res.findings]
    parts = [findings_json.render(rs, 1, 1), sarif.render(rs, 1, 1, root=root), gcc.render(rs),
             github.render(rs), rtext.render(rs, 1, 1)]
    if res.analysis is not None:
        parts.append(rexp.to_text(res.analysis.expansion))
        parts.append(rexpl.to_text(res.analysis, None))
    return digest(parts)


def incremental(text: str, index: int, path: Path) -> str:
    """The language server's path on one input: ``text`` read, then one
    line-wise edit of it (tools/incremental_check.py's, drawn from ``index``)
    read again incrementally, which must give what a run from the start
    gives (``incremental.outcome``); a difference is raised (a crash of this
    layer, replayable).  The digest of the edited text's findings."""
    from incremental_check import edit

    from entrylint import api
    from entrylint.incremental import Sessions, outcome

    opts = api.Options(profile="defconfig", assemble=False)
    edited = "".join(edit(text.splitlines(keepends=True) or [""], random.Random(index))[0])
    sessions = Sessions()
    timed("incremental", api.check, path, opts, text=text, incremental=sessions)
    inc = timed("incremental", api.check, path, opts, text=edited, incremental=sessions)
    full = timed("incremental", api.check, path, opts, text=edited)
    if outcome(inc) != outcome(full):
        how = sessions.session(path, opts)[0].last
        raise AssertionError(f"the incremental analysis differs from a run from the start ({how})")
    return digest([(f.id, f.location, f.message) for f in full.findings])


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
