"""tools/fuzz.py's digest of an expansion (issue 9): the long run compares
the outputs of two processes by these digests, so a digest must follow the
output's content exactly (every field, every frame of every trace) and
nothing else (not which frames happen to be the same object).  The digest
numbers the frames and skips the shared heads of deep traces; these check
that it still says what the reprs say."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))

import fuzz  # noqa: E402
import fuzz_layers  # noqa: E402

from entrylint.cpp.types import plain_lines  # noqa: E402
from entrylint.gas import expand  # noqa: E402
from entrylint.gas.types import Frame, Stmt  # noqa: E402
from entrylint.source import Location, Problem, ProblemKind  # noqa: E402


def deep(n: int, shared: bool, depth: int = 30) -> list[Stmt]:
    """n statements of one invocation `depth` macros deep, their head's
    frames shared (as the expander makes them) or each its own copy."""
    def head():
        return tuple(Frame(Location("f.S", i + 1, 2), "macro", f"M{i % 3}") for i in range(depth))
    h = head()
    return [Stmt("insn", "nop", str(k), ".text", (h if shared else head()) + (Frame(Location("f.S", 90 + k % 4)),))
            for k in range(n)]


def test_the_digest_follows_the_content_not_the_sharing():
    assert fuzz_layers.digest(deep(50, True)) == fuzz_layers.digest(deep(50, False))


def test_a_frame_anywhere_in_a_deep_trace_changes_the_digest():
    base = fuzz_layers.digest(deep(50, True))
    for k in (0, 17, 49):
        for pos in (0, 12, -2, -1):
            st = deep(50, True)
            t = list(st[k].trace)
            f = t[pos]
            t[pos] = Frame(Location(f.location.file, f.location.line + 1000, f.location.col), f.kind, f.name)
            st[k] = Stmt(st[k].kind, st[k].name, st[k].args, st[k].section, tuple(t))
            assert fuzz_layers.digest(st) != base, (k, pos)
    st = deep(50, True)
    st[3] = Stmt("insn", "nop", "3", ".text", st[3].trace[:-2] + st[3].trace[-1:])  # a frame fewer
    assert fuzz_layers.digest(st) != base


def test_fields_and_problems_are_in_the_digest():
    st = deep(5, True)
    base = fuzz_layers.digest(st, [])
    st[2] = Stmt("insn", "nop", "2", ".data", st[2].trace)
    assert fuzz_layers.digest(st, []) != base
    loc = Location("f.S", 1)
    p = [Problem(ProblemKind.ASM_ERROR, "m", loc, (Frame(loc),))]
    q = [Problem(ProblemKind.LIMIT, "m", loc, (Frame(loc),))]
    assert fuzz_layers.digest(p) != fuzz_layers.digest(q)
    assert fuzz_layers.digest(p) == fuzz_layers.digest([Problem(ProblemKind.ASM_ERROR, "m", Location("f.S", 1), (Frame(loc),))])


def test_a_real_expansion_gives_one_digest_and_a_changed_one_another():
    text = (".macro A n\n .if \\n\n  A %(\\n-1)\n .endif\n nop\n .rept 2\n  pushq %rax\n .endr\n.endm\n"
            ".altmacro\nA 40\n")
    r = expand(plain_lines(text, "fuzz.S"))
    assert max(len(s.trace) for s in r.statements) > 30
    d = fuzz_layers.digest(r.statements, r.problems)
    assert d == fuzz_layers.digest(expand(plain_lines(text, "fuzz.S")).statements, r.problems)
    assert d != fuzz_layers.digest(expand(plain_lines(text.replace("A 40", "A 41"), "fuzz.S")).statements, r.problems)


def test_sparse_classes_share_their_compared_inputs_between_workers():
    """Each worker runs its own inputs and the compared ones of the others:
    for a sparse class the compared ones come from every worker alike, so no
    worker carries more of the costliest class (with i % dup, worker 1 ran
    twice worker 0's share of the macro class)."""
    import argparse

    for sparse, dup in ((100, 50), (4, 50), (1, 50)):
        a = argparse.Namespace(jobs=2, dup=dup, sparse={"macro": sparse} if sparse > 1 else {})
        load = []
        compared = 0
        for w in range(2):
            n = 0
            for i in range(200_000):
                if (i // 2) % sparse:
                    continue
                own = i % 2 == w
                d = fuzz.is_dup(a, "macro", i)
                n += own or d
                compared += d and own
            load.append(n)
        assert abs(load[0] - load[1]) <= 0.05 * max(load), (sparse, load)
        assert compared >= (200_000 // sparse) / max(2, dup // sparse) * 0.9 if sparse > 1 else compared > 0
