"""The inputs of tools/fuzz.py: six classes, each input made from (seed,
class, index) alone (``generate``), so a failure is replayed from those;
the classes are described in fuzz.py's doc.  The vocabulary (WORDS, PUNCT,
ODD) is also the property tests' (tests/test_fuzz_properties.py)."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path


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
