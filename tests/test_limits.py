"""Each limit (source/limits.py) ends what runs over it with an EL906 that
names the limit and the option that raises it; reading goes on with the rest
of the file; the option raises it (issue 9)."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from entrylint import api
from entrylint.cpp import CppOptions, preprocess_file, preprocess_text
from entrylint.cpp.types import plain_lines
from entrylint.gas import GasOptions, expand
from entrylint.source import ProblemKind
from entrylint.source.limits import DEFAULT, Limits

REPO = Path(__file__).resolve().parents[1]
FIX = REPO / "fixtures" / "limits"


def limit_hits(problems_or_findings) -> list[str]:
    out = []
    for p in problems_or_findings:
        if getattr(p, "kind", None) is ProblemKind.LIMIT or getattr(p, "id", None) == "EL906":
            out.append(p.message)
    return out


def named(messages, name) -> list[str]:
    return [m for m in messages if f"limit {name}=" in m and f"--limit {name}=N" in m]


def insns(stmts):
    return [s.name for s in stmts if s.kind == "insn"]


def exp(name, limits=DEFAULT, **kw):
    return api.expand(FIX / name, api.Options(assemble=False, limits=limits, **kw))


def test_issue_example_ends_fast_with_a_named_limit():
    t0 = time.process_time()
    e = exp("doubling.S")
    assert time.process_time() - t0 < 1.0
    hits = limit_hits(e.problems)
    assert named(hits, "expansion-bytes"), hits
    assert insns(e.gas.statements)[-1] == "swapgs"  # the line after the runaway is still read
    f = next(f for f in e.findings if f.id == "EL906")
    assert f.location.line == 8  # the outermost invocation: `B a`


def test_line_length_of_an_expanded_statement():
    e = exp("doubling.S", Limits(line_length=4096))
    hits = limit_hits(e.problems)
    assert named(hits, "line-length") and not named(hits, "expansion-bytes")
    assert e.gas.peak["line-length"] > 4096 and insns(e.gas.statements)[-1] == "swapgs"


def test_macro_depth():
    r = expand(plain_lines(".macro R\n nop\n R\n.endm\nR\nswapgs\n", "r.S"), GasOptions(limits=Limits(macro_depth=9)))
    assert insns(r.statements) == ["nop"] * 9 + ["swapgs"]
    assert len(named(limit_hits(r.problems), "macro-depth")) == 1


def test_expansion_statements():
    e = exp("exponential.S", Limits(expansion_statements=1000))
    assert named(limit_hits(e.problems), "expansion-statements")
    assert len(e.gas.statements) <= 1000
    raised = exp("exponential.S", Limits(expansion_statements=100_000))
    assert not limit_hits(raised.problems)
    assert insns(raised.gas.statements).count("nop") == 2 ** 13 - 1


def test_program_instructions_bound_the_program_not_the_reading():
    """A file that reads few statements but produces many instructions (a
    .rept of a few lines) is cut by program-instructions; the statements read
    are a separate count (expansion-statements)."""
    src = ".rept 3000\nnop\nmovq %rax, %rbx\n.endr\nswapgs\n"
    low = expand(plain_lines(src, "p.S"), GasOptions(limits=Limits(program_instructions=1000)))
    assert named(limit_hits(low.problems), "program-instructions")
    assert not named(limit_hits(low.problems), "expansion-statements")
    assert insns(low.statements) == ["swapgs"]  # the repetition is skipped, the file read on
    full = expand(plain_lines(src, "p.S"), GasOptions(limits=Limits(program_instructions=6001)))
    assert not limit_hits(full.problems) and len(insns(full.statements)) == 6001
    assert full.peak["program-instructions"] == 6001 and full.peak["expansion-statements"] >= 6001
    # a macro producing statements one by one is cut at the limit as it goes
    mac = ".macro M n\nnop\n.if \\n\nM \"(\\n-1)\"\n.endif\n.endm\nM 90\n"
    cut = expand(plain_lines(mac, "m.S"), GasOptions(limits=Limits(program_instructions=50)))
    assert named(limit_hits(cut.problems), "program-instructions") and len(cut.statements) <= 50


def test_repeat_count():
    t0 = time.process_time()
    e = exp("rept_count.S")
    assert time.process_time() - t0 < 2.0
    assert named(limit_hits(e.problems), "repeat-count")
    assert insns(e.gas.statements) == ["swapgs"]  # the repetition is skipped, the file read on
    few = exp("rept_count.S", Limits(repeat_count=5_000_000, expansion_statements=10))
    assert named(limit_hits(few.problems), "expansion-statements") and not named(limit_hits(few.problems), "repeat-count")


def test_include_cycle_names_the_cycle():
    t0 = time.process_time()
    e = exp("include_cycle.S")
    assert time.process_time() - t0 < 5.0
    hits = named(limit_hits(e.problems), "include-depth")
    assert len(hits) == 1 and "cycle_a.h -> cycle_b.h" in hits[0] and "include cycle" in hits[0]
    assert insns(e.gas.statements) == ["swapgs"]


def test_include_depth_raised():
    low = preprocess_file(FIX / "include_cycle.S", CppOptions(limits=Limits(include_depth=10)))
    assert named(limit_hits(low.problems), "include-depth") and low.peak["include-depth"] == 10


def test_cpp_expansions():
    r = preprocess_file(FIX / "cpp_blowup.S", CppOptions(limits=Limits(cpp_expansions=1000)))
    assert named(limit_hits(r.problems), "cpp-expansions")
    full = preprocess_file(FIX / "cpp_blowup.S", CppOptions())
    assert not limit_hits(full.problems) and full.peak["cpp-expansions"] >= 2 ** 12


def test_cpp_depth():
    r = preprocess_file(FIX / "cpp_nest.S", CppOptions(limits=Limits(cpp_depth=4)))
    assert named(limit_hits(r.problems), "cpp-depth")
    assert [ln.text.strip() for ln in r.lines][-1] == "swapgs"
    ok = preprocess_file(FIX / "cpp_nest.S", CppOptions())
    assert not limit_hits(ok.problems) and ok.lines[0].text.strip() == "nop"


def test_source_line_length(tmp_path):
    f = tmp_path / "long.S"
    f.write_text("\tnop\n\t.byte " + "1," * 5000 + "1\n\tswapgs\n")
    e = api.expand(f, api.Options(assemble=False, limits=Limits(line_length=1000)))
    hits = named(limit_hits(e.problems), "line-length")
    assert len(hits) == 1 and "line 2" in hits[0]
    assert insns(e.gas.statements) == ["nop", "swapgs"]


def test_file_size(tmp_path):
    big = tmp_path / "big.S"
    big.write_text("\tnop\n" * 1000)
    e = api.expand(big, api.Options(assemble=False, limits=Limits(file_size=1000)))
    assert named(limit_hits(e.problems), "file-size") and not e.gas.statements
    hdr = tmp_path / "main.S"
    hdr.write_text('#include "big.S"\n\tswapgs\n')
    e = api.expand(hdr, api.Options(assemble=False, limits=Limits(file_size=1000)))
    assert named(limit_hits(e.problems), "file-size") and insns(e.gas.statements) == ["swapgs"]


def test_analysis_visits():
    an = api.analyze(FIX / "walk.S", api.Options(assemble=True, profile="max", limits=Limits(analysis_visits=3)))
    assert an.forward.truncated
    hits = named(limit_hits(an.expansion.findings), "analysis-visits")
    assert len(hits) == 1
    full = api.analyze(FIX / "walk.S", api.Options(assemble=True, profile="max"))
    assert not full.forward.truncated and not limit_hits(full.expansion.findings)


def test_analysis_steps():
    """A walk whose visits step (each instruction changes the tuple) is cut
    by analysis-steps, not only by analysis-visits: such a visit costs
    several quiet ones."""
    from entrylint.program.decode import find_assembler

    if find_assembler() is None:
        pytest.skip("no GNU as: no instruction has effects, nothing steps")
    opts = dict(assemble=True, profile="max")
    full = api.analyze(FIX / "walk.S", api.Options(**opts))
    assert not full.forward.truncated and full.forward.steps >= 6
    an = api.analyze(FIX / "walk.S", api.Options(**opts, limits=Limits(analysis_steps=3)))
    assert an.forward.truncated and an.forward.truncated_by == "analysis-steps"
    assert an.forward.steps == 4 and an.forward.visits < full.forward.visits
    hits = named(limit_hits(an.expansion.findings), "analysis-steps")
    assert len(hits) == 1 and "--limit analysis-steps=N" in hits[0]
    assert not named(limit_hits(an.expansion.findings), "analysis-visits")


def test_patch_size_refuses_a_larger_patch_with_one_line():
    """Patch mode reads the patch within patch-size: a larger one is exit 2
    with one line naming the limit (a review of part of a patch would pass
    what it did not read); --limit patch-size=N raises it."""
    patch = sorted((REPO / "fixtures" / "kaiser-2017-series").glob("*.patch"))[0]
    assert 1024 < patch.stat().st_size < 64 << 10
    args = ("--patch", str(patch), "--root", str(REPO / "fixtures" / "kaiser-2017"), "--no-assemble", "--no-cache")
    low = run_cli(*args, "--limit", "patch-size=1k")
    assert low.returncode == 2 and low.stdout == ""
    assert len(low.stderr.strip().splitlines()) == 1 and named([low.stderr], "patch-size"), low.stderr
    assert DEFAULT.patch_size >= 16 << 20
    raised = run_cli(*args, "--limit", "patch-size=64k")
    assert raised.returncode in (0, 1) and "patch-size" not in raised.stderr and raised.stdout, raised.stderr


def test_a_control_character_in_a_refused_path_stays_one_line(tmp_path):
    """A damaged patch's file name can hold a CR or a newline (the patch
    fuzzer's patch:18112); the one line on stderr writes them as escapes."""
    bad = "../e\rvil\x1b[2J.S"
    patch = tmp_path / "cr.diff"
    patch.write_bytes((f"--- a/{bad}\n+++ b/{bad}\n@@ -1,1 +1,2 @@\n nop\n+nop\n").encode())
    r = run_cli("--patch", str(patch), "--root", str(REPO / "fixtures" / "kaiser-2017"), "--no-cache")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and "\r" not in r.stderr and "\x1b" not in r.stderr, repr(r.stderr)
    assert "e\\rvil\\x1b[2J.S" in r.stderr


def test_macro_invocations_counted_as_they_are_expanded():
    src = ".macro N\n nop\n.endm\n.rept 50\n N\n N\n.endr\nswapgs\n"
    r = expand(plain_lines(src, "n.S"), GasOptions(limits=Limits(macro_invocations=30)))
    assert len(named(limit_hits(r.problems), "macro-invocations")) == 1
    assert insns(r.statements) == ["nop"] * 30 + ["swapgs"]  # cut where it ran over; the file read on
    full = expand(plain_lines(src, "n.S"), GasOptions(limits=Limits(macro_invocations=100)))
    assert not limit_hits(full.problems) and insns(full.statements).count("nop") == 100
    assert full.peak["macro-invocations"] == 100


def test_repeat_statements_count_every_repetition_of_a_file():
    # each .rept is small (under repeat-count), together they run over
    src = "".join(".rept 40\n nop\n nop\n.endr\n" for _ in range(5)) + "swapgs\n"
    r = expand(plain_lines(src, "r.S"), GasOptions(limits=Limits(repeat_statements=200, repeat_count=1000)))
    assert len(named(limit_hits(r.problems), "repeat-statements")) == 1
    assert insns(r.statements) == ["nop"] * 160 + ["swapgs"]  # the two past the limit are skipped
    full = expand(plain_lines(src, "r.S"), GasOptions(limits=Limits(repeat_statements=400)))
    assert not limit_hits(full.problems) and full.peak["repeat-statements"] == 400


def test_every_limit_parses_and_bad_specs_are_refused():
    for name in Limits.names():
        assert DEFAULT.parse(f"{name}=7").value(name) == 7
    for bad in ("nope=3", "macro-depth", "macro-depth=-1", "macro-depth=x", "macro-depth=0"):
        with pytest.raises(ValueError, match="--limit"):
            DEFAULT.parse(bad)


def run_cli(*argv, cwd=REPO):
    return subprocess.run([sys.executable, "-m", "entrylint", *argv], capture_output=True, text=True, cwd=cwd,
                          timeout=120, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})


def test_cli_option_raises_a_limit():
    low = run_cli("--no-assemble", "--profile", "max", "--format", "gcc", "--limit", "expansion-statements=1000",
                  str(FIX / "exponential.S"))
    assert low.returncode == 1 and re.search(r"EL906 limit-hit", low.stdout)
    assert "--limit expansion-statements=N" in low.stdout
    high = run_cli("--no-assemble", "--profile", "max", "--format", "gcc", "--limit", "expansion-statements=1M",
                   str(FIX / "exponential.S"))
    assert "EL906" not in high.stdout, high.stdout[:2000]
    bad = run_cli("--limit", "bogus=1", str(FIX / "exponential.S"))
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "macro-depth" in bad.stderr


@pytest.mark.kernel
def test_released_entry_code_stays_far_below_every_limit():
    """What the 4.19 entry code uses of each limit, measured: at most a fifth
    (tools/limits_survey.py measures every arch/x86 file of every tree)."""
    from kernels import shared_tree

    tree = shared_tree("linux-4.19.48")
    if tree is None:
        pytest.skip("the 4.19.48 survey tree is not there")
    opts = api.Options(root=tree, profile="max", assemble=False)
    seen = {}
    for f in sorted((tree / "arch/x86/entry").glob("*.S")):
        e = api.expand(f, opts)
        assert not limit_hits(e.problems), f
        for k, v in {**e.pp.peak, **e.gas.peak}.items():
            seen[k] = max(seen.get(k, 0), v)
    assert set(seen) >= {"macro-depth", "expansion-bytes", "expansion-statements", "repeat-count",
                         "cpp-expansions", "cpp-depth", "include-depth", "file-size"}
    for name, v in seen.items():
        assert 0 < v * 5 <= DEFAULT.value(name) or (v == 0 and name in ("repeat-count", "repeat-statements")), \
            (name, v)


def test_huge_data_directive_in_the_layout_run():
    """expand --format json assembles the whole file: a 2 GB .skip stops as
    (file-size and memory limits of the child), quickly and with a message."""
    from entrylint.program.decode import find_assembler

    if find_assembler() is None:
        pytest.skip("no GNU as")
    t0 = time.process_time()
    p = run_cli("expand", "--format", "json", str(FIX / "huge_skip.S"))
    assert time.process_time() - t0 < 20
    assert p.returncode == 0 and "as stopped: the assembled output would exceed" in p.stdout


def test_as_runs_under_a_lower_limit_of_the_caller(tmp_path):
    """Found by tools/fuzz.py: under a caller's own lower memory limit the
    child's limits must not be raised above it (that failed every as run)."""
    from entrylint.program.decode import find_assembler

    if find_assembler() is None:
        pytest.skip("no GNU as")
    code = ("import resource; resource.setrlimit(resource.RLIMIT_AS, (1500 << 20, 1500 << 20)); "
            "from entrylint.program.decode import Decoder; d = Decoder(disk_cache=False); "
            "i = d.info('movq %rax, %rbx'); assert i is not None and 'rax' in repr(i), i; print('ok')")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert p.returncode == 0 and p.stdout.strip() == "ok", p.stderr[-2000:]


def test_includes_counted_as_they_are_read():
    # twice.h includes itself twice: 2^200 includes before include-depth alone would stop it
    t0 = time.process_time()
    e = exp("includes.S")
    assert time.process_time() - t0 < 5.0
    hits = limit_hits(e.problems)
    assert len(named(hits, "includes")) == 1, hits
    assert insns(e.gas.statements) == ["swapgs"]  # the file is read on after the include
    low = exp("includes.S", Limits(includes=50))
    assert low.pp.peak["includes"] == 50 and named(limit_hits(low.problems), "includes")
    ok = exp("includes.S", Limits(includes=10_000, include_depth=8))  # 1 + 2 + ... + 64 includes: under it
    assert not named(limit_hits(ok.problems), "includes") and ok.pp.peak["includes"] == 2 ** 7 - 1


def test_readme_lists_every_limit_with_its_default():
    """The README's table of limits is the users' reference: every limit,
    its default as `--limit` takes it, nothing else."""
    section = (REPO / "README.md").read_text().split("### Limits", 1)[1].split("\n### ", 1)[0]
    rows = re.findall(r"^\| `([a-z-]+)` \| (\w+) \|", section, re.M)
    assert [n for n, _ in rows] == list(Limits.names())
    for name, default in rows:
        assert DEFAULT.parse(f"{name}={default}").value(name) == DEFAULT.value(name), name


def test_include_depth_reported_once_per_include_line():
    # twice.h includes itself twice: the depth limit is met at 2^7 leaves, from two lines
    pp = preprocess_file(FIX / "includes.S", CppOptions(limits=Limits(include_depth=8, includes=10_000)))
    hits = [p for p in pp.problems if "include-depth" in p.message]
    assert sorted((p.location.file.rsplit("/", 1)[-1], p.location.line) for p in hits) == [("twice.h", 2), ("twice.h", 3)]


def test_if_depth():
    """Each line keeps every #if condition around it: 20k nested #if (the
    fuzzer's size class) kept 1.9 GB of them.  Past if-depth a group is read
    as before (its lines and the #else side are decided) and its condition is
    left off its lines, with one finding."""
    text = "#if 1\n\tnop\n" * 300 + "#if 0\n\tpushq %rax\n#else\n\tswapgs\n#endif\n" + "#endif\n" * 300
    pp = preprocess_text(text, "deep.S", CppOptions())
    hits = named(limit_hits(pp.problems), "if-depth")
    assert len(hits) == 1 and "more than 256 #if conditions" in hits[0]
    assert max(len(ln.cond) for ln in pp.lines) == 256
    assert [ln.text.strip() for ln in pp.lines][-2:] == ["nop", "swapgs"] and len(pp.lines) == 301
    raised = preprocess_text(text, "deep.S", CppOptions(limits=Limits(if_depth=400)))
    assert not limit_hits(raised.problems) and max(len(ln.cond) for ln in raised.lines) == 301
