"""The limits that keep a run bounded (issue 9): one place that names them.

Each limit has a name (what ``--limit NAME=N`` and the EL906 limit-hit
finding say), a default far above what any released kernel needs (the
figures ``tools/limits_survey.py`` measures on the survey trees are in the
comments), and a sentence that says what it bounds.  A layer that hits one
reports it with ``hit(name, ...)`` and goes on where it can: the rest of the
file is read, only the expansion or walk that ran over is cut.
"""

from __future__ import annotations

from dataclasses import fields, replace

from entrylint.source.record import data

MiB = 1 << 20


@data(frozen=True)
class Limits:
    # largest use in a released kernel's arch/x86 .S files (tools/limits_survey.py) in brackets
    macro_depth: int = 100  # GNU as macro invocations nested in one another
    # statements GNU as reads in one file (a macro body or .rept body line
    # counts each time it is read): the expander's work, ~7-15 us a statement
    # (202,362: 2.0x; the fuzzer's worst program costs 15 us each, 5.8 s at
    # 400k on a quiet machine, ~7.5 s with both cores busy: under the 10 s bound)
    expansion_statements: int = 400_000
    # instructions of the expanded program: what every later stage (the
    # program, the CFG, liveness, the walk, the rules) costs, ~17 us each per
    # profile, and ~4.5 KB each while a profile's analysis is held: 100k
    # keeps a run near 460 MB (46,578: 6.8.1 aesni-intel_avx-x86_64.S, 2.1x;
    # 200k, 4.3x, let a program of unknown mnemonics take 900 MB)
    program_instructions: int = 100_000
    # text produced by GNU as macro and repetition expansion, and 8 bytes per
    # frame of each expanded statement's trace (a deep expansion costs per frame)
    expansion_bytes: int = 64 * MiB
    repeat_count: int = 100_000  # times a .rept/.irp/.irpc body is repeated
    # work limits, counted as the expansion goes (not only its final size)
    macro_invocations: int = 300_000  # GNU as macro invocations expanded in one file (30,064: 10x)
    repeat_statements: int = 500_000  # statements all .rept/.irp/.irpc of one file produce (45,234: 11x)
    cpp_expansions: int = 1_000_000  # cpp macro invocations expanded in one file
    cpp_depth: int = 200  # cpp macro invocations nested in one another
    # #if conditions recorded on one line (the enclosing groups' branches, the
    # earlier ones as false, the including files' too): each line keeps them
    # all, so 20k nested #if kept 1.9 GB; past it a group is read and its
    # condition left off its lines (6: 4.14.5 entry_64.S, 42x)
    if_depth: int = 256
    # lines of the files the preprocessor reads for one check, headers and
    # every profile included: its work, 2-8 us a line (42,346: 6.12
    # head_64.S, its three profiles; 11.8x)
    cpp_lines: int = 500_000
    include_depth: int = 200  # #include nesting (a cycle without a guard ends here)
    includes: int = 2_000  # #include directives that read a file, in one file, guarded repeats too (168: 12x)
    line_length: int = 1 * MiB  # characters in one source line or one expanded statement
    # bytes of one file read (the analysed file or a header); 32 MiB until
    # session 12, when a file of 2 MiB of short lines took 15 s and 620 MB
    # (the lexer keeps ~320 bytes a line): 512 KiB of one-letter lines takes
    # ~5.5 s and 455 MB (104,846: 5.0x; the largest header under include/ is
    # 0.49 MB)
    file_size: int = 512 * 1024
    patch_size: int = 64 * MiB  # bytes of one patch or mbox read by patch mode (--patch, --git)
    # (instruction, state) pairs the forward walks of one check visit, every
    # profile included (each walks its own tuples: they carry the features it
    # compiles out), 15-40 us each; 1M per profile until session 13
    # (664,470: 6.8.1 aesni-intel_avx-x86_64.S with GNU as, 221,490 a
    # profile; 2.26x)
    analysis_visits: int = 1_500_000
    # transfer steps of those walks (a visit whose instruction changes the
    # tuple, once per (instruction, tuple) pair), every profile included:
    # such a visit costs several quiet ones and keeps its result, so visits
    # alone let a walk whose every visit steps run 31 s and 885 MB
    # (bench/limits.py flag-moves.S, session 13); at 300k it costs 1.1x the
    # largest released check (59,268: 6.8.1 aesni-intel_avx-x86_64.S with
    # GNU as, every profile; 5.1x)
    analysis_steps: int = 300_000
    # findings one rule plugin reports in one file and profile before grouping
    # folds them (a rule judges each instruction, and each finding carries its
    # path: a .rept of 100k calls with the user CR3 was ~40 s of findings);
    # past it the rest of the file is not examined for that rule (29: 5.4.273
    # entry_32.S, EL401, arch/x86/entry of the survey trees, every profile; 34x)
    rule_findings: int = 1_000
    # front-end problems of one kind (EL9xx) reported for one file and profile;
    # past it one finding says how many more (released kernels: none that is an
    # error or warning, 17 notes at most in a tree)
    problems: int = 1_000

    @staticmethod
    def names() -> tuple[str, ...]:
        return tuple(f.name.replace("_", "-") for f in fields(Limits))

    def value(self, name: str) -> int:
        return getattr(self, name.replace("-", "_"))

    def with_(self, **raised: int) -> "Limits":
        return replace(self, **raised)

    def parse(self, spec: str) -> "Limits":
        """``NAME=N`` (N may end in k, M or G): these limits with one raised
        (or lowered).  ValueError with a message that lists the names."""
        name, eq, val = spec.partition("=")
        name = name.strip().replace("_", "-")
        if not eq or name not in self.names():
            raise ValueError(f"--limit {spec!r}: expected NAME=N with NAME one of {', '.join(self.names())}")
        mult = {"k": 1 << 10, "m": MiB, "g": 1 << 30}.get(val.strip()[-1:].lower(), 1)
        digits = val.strip()[:-1] if mult != 1 else val.strip()
        if not (digits.isascii() and digits.isdigit()) or len(digits) > 18 or int(digits) <= 0:
            raise ValueError(f"--limit {spec!r}: N must be a positive whole number")
        return replace(self, **{name.replace("-", "_"): int(digits) * mult})


DEFAULT = Limits()


def together(spent) -> str:
    """What a limit's message adds when the check's earlier profiles had
    spent some of it (the work limits bound a check, not each profile)."""
    return " (by this check's profiles together)" if spent else ""


def hit(limits: Limits, name: str, what: str) -> str:
    """The message of a limit-hit finding: what ran over, the limit's name and
    value, and the option that raises it."""
    return f"{what}: limit {name}={limits.value(name)} reached (raise it with --limit {name}=N)"
