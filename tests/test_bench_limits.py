"""bench/limits.py measures whole processes; one that crashed is not a
measurement (a Python traceback exits 1, as a check with findings does)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench" / "limits.py"


def _limits():
    spec = importlib.util.spec_from_file_location("bench_limits", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _run():
    """bench/run (a script without .py) as a module."""
    from importlib.machinery import SourceFileLoader

    loader = SourceFileLoader("bench_run", str(BENCH.parent / "run"))
    mod = importlib.util.module_from_spec(importlib.util.spec_from_loader("bench_run", loader))
    loader.exec_module(mod)
    return mod


def test_a_traceback_is_not_a_measurement(tmp_path):
    run = _limits().run
    cpu, mb, code = run([sys.executable, "-c", "import sys; sys.exit(1)"], tmp_path)  # findings: exit 1
    assert code == 1 and cpu >= 0 and mb > 0
    assert run([sys.executable, "-c", "1 / 0"], tmp_path)[2] == -1  # a crash: exit 1 and a traceback
    assert run([sys.executable, "-c", "pass"], tmp_path)[2] == 0


def test_bench_run_asks_entrylint_for_the_files_a_tree_check_reads(tmp_path):
    """bench/run asks the measured entrylint's interpreter which .S files
    ``entrylint TREE`` checks: the question must be one this entrylint answers."""
    mod = _run()
    entry = tmp_path / "arch" / "x86" / "entry"
    entry.mkdir(parents=True)
    for name in ("entry_64.S", "vdso.lds.S"):
        (entry / name).write_text("\tnop\n")
    (tmp_path / "Kconfig").write_text("")
    (tmp_path / "Makefile").write_text("")
    assert mod.source_files(sys.executable, tmp_path) == ["arch/x86/entry/entry_64.S"]


def test_bench_run_stops_on_a_command_that_does_not_check(tmp_path):
    """A broken ``entrylint`` (a shim of another environment, say) exits 1
    with a traceback and prints nothing: bench/run says so and stops, where
    it measured its 0.1 s as a cold check."""
    import subprocess

    entry = tmp_path / "arch" / "x86" / "entry"
    entry.mkdir(parents=True)
    (entry / "entry_64.S").write_text("\tnop\n")
    broken = f"{sys.executable} -c 'raise ModuleNotFoundError(\"no entrylint here\")'"
    got = subprocess.run([sys.executable, str(BENCH.parent / "run"), "--tree", str(tmp_path), "--runs", "1",
                          "--quick", "--entrylint", broken], capture_output=True, text=True, timeout=60)
    assert got.returncode == 2 and "did not check arch/x86/entry/entry_64.S (exit 1)" in got.stderr
    assert "no entrylint here" in got.stderr and "Traceback" not in got.stderr


def test_bench_run_in_process_script_times_each_kind_of_edit(tmp_path):
    """The in-process rows (a line added, an operand retyped, a key typed,
    what each replaced freed) come from a script bench/run hands the
    measured entrylint's interpreter: it must run, and print the four medians."""
    import subprocess
    mod = _run()
    entry = tmp_path / "arch" / "x86" / "entry"
    entry.mkdir(parents=True)
    (entry / "entry_64.S").write_text("SYM_CODE_START(f)\n\tmovq\t%rsp, %rdi\n\tpushq\t%rax\n\tpopq\t%rax\n\tret\n")
    (tmp_path / "Kconfig").write_text("")
    (tmp_path / "Makefile").write_text("")
    code = mod.reanalysis_code(entry / "entry_64.S", tmp_path, 3)
    got = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert got.returncode == 0, got.stderr
    medians = [float(x) for x in got.stdout.split()]
    # (the three re-analyses, and the last analysis freed after each)
    assert len(medians) == 4 and all(0 < m < 60 for m in medians[:3]) and 0 <= medians[3] < 60


def test_bench_run_times_a_cold_check_and_its_anchor_in_turns():
    """A ratio's two sides come from runs made one after the other (the
    machine's speed swings for minutes at a time), which of them first
    alternating: entrylint, the anchor, the anchor, entrylint ... -- and
    each side's median of its own runs."""
    bench = _run()
    order = []
    mine = iter([3.0, 1.0, 2.0, 4.0, 5.0])
    theirs = iter([0.5, 0.1, 0.3])

    def fn():
        order.append("entrylint")
        return next(mine), 77, b"out"

    def anchor():
        order.append("checkpatch")
        return next(theirs), 0, b""

    med, outs, anchor_med, anchor_outs = bench.medians_in_turns(3, fn, anchor)
    assert order == ["entrylint", "checkpatch", "checkpatch", "entrylint", "entrylint", "checkpatch"]
    assert (med, anchor_med) == (2.0, 0.3) and outs == [[77, b"out"]] * 3 and anchor_outs == [[0, b""]] * 3
    assert bench.medians_in_turns(2, fn, None) == (4.5, [[77, b"out"]] * 2, None, [])  # (no anchor: no checkpatch)
    assert order[6:] == ["entrylint", "entrylint"]
