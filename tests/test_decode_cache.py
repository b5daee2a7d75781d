"""The decoder's table on disk (program/decode.py): one table per schema
with the code modes apart, written a few times per run and at a process's
exit (the CLI's too, which skips the interpreter's teardown), merged between
processes, read again only when another process wrote it."""

import json
import os
import subprocess
from pathlib import Path

import pytest

from entrylint.program.decode import Decoder, find_assembler
from entrylint.program.effects import Flow

needs_as = pytest.mark.skipif(find_assembler() is None, reason="GNU as (binutils) not on PATH")


@needs_as
def test_disk_cache_keeps_modes_apart(tmp_path):
    texts, modes = ["inc %eax", "inc %eax", "pushal", "pushal"], [32, 64, 32, 64]
    d1 = Decoder(cache_dir=tmp_path)
    infos1, errors1 = d1.infos(texts, modes)
    assert [i for i, _ in errors1] == [3]
    d2 = Decoder(cache_dir=tmp_path)
    infos2, errors2 = d2.infos(texts, modes)
    assert d2.as_runs == 0 and infos2 == infos1 and errors2 == errors1
    assert infos2[0].bytes != infos2[1].bytes


@needs_as
def test_disk_cache_of_another_schema_is_ignored(tmp_path):
    d1 = Decoder(cache_dir=tmp_path)
    d1.infos(["inc %eax"])
    path = d1.cache_path
    data = json.loads(path.read_text())
    # a schema-1 style file (flat text -> bytes) under the current key and name
    data["entries"] = {"inc %eax": "40", "nop": "90"}
    path.write_text(json.dumps(data))
    d2 = Decoder(cache_dir=tmp_path)
    info = d2.info("inc %eax")
    assert d2.as_runs == 1 and info.bytes == b"\xff\xc0"
    # and a file written under another schema key is not read at all
    data["key"] = data["key"].replace("schema=2", "schema=1")
    path.write_text(json.dumps(data))
    d3 = Decoder(cache_dir=tmp_path)
    assert d3.info("nop") is not None and d3.as_runs == 1


@needs_as
def test_disk_cache_round_trip(tmp_path):
    d1 = Decoder(cache_dir=tmp_path)
    infos1, _ = d1.infos(["swapgs", "mov %rax, %cr3", "bogus_insn"])
    assert d1.cache_path is not None and d1.cache_path.exists()
    d2 = Decoder(cache_dir=tmp_path)
    infos2, errors2 = d2.infos(["swapgs", "mov %rax, %cr3", "bogus_insn"])
    assert d2.as_runs == 0
    assert infos2 == infos1 and infos2[1].cr3_write
    assert errors2 and errors2[0][0] == 2


def test_disk_cache_round_trip_keeps_operand_fields(tmp_path):
    """The disk cache holds bytes only; the operand fields (op, imm, dst, src,
    memory displacements, conditions) are re-derived from text + bytes, also
    for a text assembled with stand-ins (`$~SYM` needs them), so no schema
    bump was needed for them."""
    texts = ["andq $~0x1000, %rdi", "andq $~SYM, %rdi", "testb $3, CS(%rsp)",
             "testb $3, 0x88(%rsp)", "movq %rsp, %gs:0x10", "jnz 1f", "ud2"]  # fmt: skip
    d1 = Decoder(cache_dir=tmp_path)
    infos1, errors1 = d1.infos(texts)
    assert errors1 == []
    d2 = Decoder(cache_dir=tmp_path)
    infos2, _ = d2.infos(texts)
    assert d2.as_runs == 0 and infos2 == infos1
    assert infos2[0].imm == ~0x1000 and infos2[1].imm is None and infos2[2].src_mem.disp is None
    assert infos2[3].src_mem.disp == 0x88 and infos2[5].cond == ("zf", False)
    assert infos2[6].flow is Flow.STOP


@needs_as
def test_unwritable_cache_is_skipped(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    d = Decoder(cache_dir=blocker / "sub")
    infos, errors = d.infos(["nop"])
    assert infos[0] is not None and errors == []
    assert d.save() is False


def _fill(cache_dir: str, batches: int) -> int:
    """Decode ``batches`` batches of new texts with a decoder of its own; its saves."""
    d = Decoder(cache_dir=cache_dir)
    for b in range(batches):
        d.infos([f"movq ${b * 10 + k}, %rax" for k in range(10)])
    return d.saves


@needs_as
def test_the_table_is_written_a_few_times_not_per_call(tmp_path):
    """A run that fills the table (a cold check of a tree: one call per file)
    writes it when the new entries are a quarter of it, not at every call."""
    d = Decoder(cache_dir=tmp_path)
    for b in range(60):
        d.infos([f"movq ${b * 10 + k}, %rax" for k in range(10)])
    assert 3 <= d.saves <= 20, d.saves  # once per call would be 60
    assert d.save() in (True, False)  # the rest, as the exit does
    assert Decoder(cache_dir=tmp_path).infos(["movq $599, %rax"])[0][0] is not None
    assert len(json.loads(d.cache_path.read_text())["entries"]["64"]) == 600


@needs_as
def test_what_a_process_left_unwritten_is_written_at_its_exit(tmp_path):
    """The main process (atexit) and a -j worker (multiprocessing's exit) both
    write what they decoded; two workers' tables are merged, not overwritten."""
    import subprocess
    import sys
    from concurrent.futures import ProcessPoolExecutor

    code = f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import test_decode_cache as t; t._fill({str(tmp_path)!r}, 13)"
    subprocess.run([sys.executable, "-c", code], check=True)
    path = next(tmp_path.glob("decode-*.json"))
    assert len(json.loads(path.read_text())["entries"]["64"]) == 130
    with ProcessPoolExecutor(2) as ex:
        list(ex.map(_fill, [str(tmp_path / "w")] * 2, [17, 23]))
    path = next((tmp_path / "w").glob("decode-*.json"))
    assert len(json.loads(path.read_text())["entries"]["64"]) == 230


@needs_as
def test_the_cli_ends_without_teardown_but_saves_and_says_everything(tmp_path, monkeypatch):
    """``entrylint`` as its own process skips the interpreter's teardown of its
    heap (faces/cli.py ``_exit_now``): what the decoder left for its exit hook
    is still saved, and the whole report, long or short, reaches a pipe byte
    for byte as the same check says it in a caller's process."""
    import contextlib
    import io
    import sys

    from entrylint.faces import cli

    monkeypatch.chdir(tmp_path)
    env = dict(os.environ, ENTRYLINT_CACHE_DIR=str(tmp_path / "cache"))
    env.pop("PYTHONUNBUFFERED", None)  # a pipe's writes are buffered, as for a user
    # a report longer than a pipe's buffer, then (a table that is now large)
    # a few new texts, which the decoder leaves to the exit hook, and a short report
    for name, first, n in (("long.S", 7000, 600), ("short.S", 9000, 3)):
        (tmp_path / name).write_text("".join(f"\tmovq ${first + k}, %r13\n\t.frob{k} 1\n" for k in range(n)))
        argv = ["--format", "json", "--no-cache", name]
        out = subprocess.run([sys.executable, "-m", "entrylint", *argv], capture_output=True, text=True, env=env)
        table = json.loads(next((tmp_path / "cache").glob("decode-*.json")).read_text())["entries"]["64"]
        assert all(any(f"${first + k}," in t or f"${hex(first + k)}," in t for t in table) for k in range(n))
        with monkeypatch.context() as m:
            m.setenv("ENTRYLINT_CACHE_DIR", str(tmp_path / "other"))
            mine = io.StringIO()
            with contextlib.redirect_stdout(mine):
                code = cli.main(argv)
        assert (out.returncode, out.stdout) == (code, mine.getvalue())
        assert out.stdout.count('"EL9') >= n


def test_without_cpython_s_exit_hook_runner_the_cli_exits_the_ordinary_way(monkeypatch):
    """``_exit_now`` leans on ``atexit._run_exitfuncs``, CPython's and not a
    documented interface: where it is missing, it returns (``main`` then
    returns its code and the interpreter exits as usual, hooks and all)
    instead of ending the process with hooks that never ran."""
    import atexit

    from entrylint.faces import cli

    monkeypatch.delattr(atexit, "_run_exitfuncs", raising=False)
    monkeypatch.setattr(os, "_exit", lambda code: pytest.fail(f"os._exit({code}) without the exit hooks"))
    assert cli._exit_now(1) is None


@needs_as
def test_a_write_reads_the_table_again_only_when_another_process_wrote_it(tmp_path, monkeypatch):
    d = Decoder(cache_dir=tmp_path)
    d.infos(["nop"])
    loads = []
    real = Decoder.load
    monkeypatch.setattr(Decoder, "load", lambda self: loads.append(1) or real(self))
    d.infos(["swapgs"])  # written again: the file is as this decoder left it
    assert d.saves == 2 and loads == []
    other = Decoder(cache_dir=tmp_path)
    other.infos(["ud2"])  # another process's write
    loads.clear()
    d.infos(["int3"])
    assert loads and d._disk.get((64, "ud2")) is not None
