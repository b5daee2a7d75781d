"""Issue 11 (cold speed and memory): the shortcuts taken inside the layers
give what the long way gives, and what a process keeps stays bounded.
A small tree written here: a header included by two files."""

from __future__ import annotations

import random

import pytest

from entrylint.cpp import CppOptions, preprocess_text
from entrylint.cpp import lexer
from entrylint.cpp.types import PPLine, Segment
from entrylint.source import Location
from entrylint.source.tree import IncludeSearch

HDR = """#ifndef _H
#define _H
#define SAVE(reg) pushq reg
#define TWICE(x) x; x
#endif
"""

MAIN = """#include "h.h"
#define LOCAL movq %rax, %rbx
\tTWICE(SAVE(%rax))
\tmovq %rsp, %rdi
\tLOCAL
"""


@pytest.fixture
def two(tmp_path):
    (tmp_path / "h.h").write_text(HDR)
    for n in ("a.S", "b.S"):
        (tmp_path / n).write_text(MAIN)
    return tmp_path


def _pp(path):
    return preprocess_text(path.read_text(), str(path), CppOptions(search=IncludeSearch()))


def test_a_headers_macros_are_made_once_per_process(two):
    a, b = _pp(two / "a.S"), _pp(two / "b.S")
    assert [ln.text.split() for ln in a.lines] == [ln.text.split() for ln in b.lines] == [
        ["pushq", "%rax;", "pushq", "%rax"], ["movq", "%rsp,", "%rdi"], ["movq", "%rax,", "%rbx"]]
    # the header's definitions: one object for both files; the file's own: one each
    assert a.macros["TWICE"] is b.macros["TWICE"] and a.macros["SAVE"] is b.macros["SAVE"]
    assert a.macros["LOCAL"].body == b.macros["LOCAL"].body and a.macros["LOCAL"] is not b.macros["LOCAL"]


def test_a_define_under_another_condition_is_another_macro(tmp_path):
    (tmp_path / "h.h").write_text("#ifdef X\n#define M 1\n#else\n#define M 2\n#endif\n")
    (tmp_path / "m.S").write_text('#include "h.h"\n.long M\n')
    one = _pp(tmp_path / "m.S")
    other = preprocess_text((tmp_path / "m.S").read_text(), str(tmp_path / "m.S"),
                            CppOptions(search=IncludeSearch(), defines={"X": "1"}))
    assert [ln.text for ln in one.lines] == [".long 2"] and [ln.text for ln in other.lines] == [".long 1"]
    assert one.macros["M"].cond != other.macros["M"].cond


def test_files_checked_are_not_kept_lexed(two):
    """A run over a tree keeps its headers' tokens, and those of the last few
    files checked (the file, and the files its profiles expand beside it),
    not those of every file checked."""
    _pp(two / "a.S")
    _pp(two / "b.S")
    assert str(two / "h.h") in lexer._LEXED
    assert str(two / "a.S") not in lexer._LEXED and str(two / "b.S") not in lexer._LEXED
    assert list(lexer._CHECKED)[-2:] == [str(two / "a.S"), str(two / "b.S")]
    a = lexer.lex_file_once("nop\n", str(two / "a.S"), keep=False)
    names = [str(two / f"c{k}.S") for k in range(lexer.CHECKED_KEPT)]
    for n in names:
        lexer.lex_file_once("nop\n", n, keep=False)
    assert list(lexer._CHECKED) == names
    assert lexer.lex_file_once("nop\n", str(two / "a.S"), keep=False) is not a  # lexed again
    lexer.checking(names[-1])  # a check of another file: only that file's tokens stay
    assert list(lexer._CHECKED) == [names[-1]]


def test_the_file_checked_is_lexed_once_for_its_profiles_and_the_files_expanded_beside_it(tmp_path):
    """6.8's entry_64.S calls asm of four other files (retpoline.S, entry.S,
    entry_64_compat.S, xen-asm.S), expanded once per profile between the
    profiles' runs of the file checked: each stays lexed for the check (the
    preprocessor's memo of a line's expansion lives on the lexed text, for
    the next profile); with one file kept, each was lexed once per profile.
    In a process of its own, cold: nothing of the tree is at hand."""
    import json
    import os
    import shutil
    import subprocess
    import sys

    import kernels

    tree = kernels.shared_tree("linux-6.8.1")
    if tree is None:
        pytest.skip("../shared/kernels/linux-6.8.1-x86.tar.xz is not there")
    if shutil.which("as") is None:
        pytest.skip("GNU as decodes the callees' code")
    code = ("import collections, json, sys\n"
            "from pathlib import Path\n"
            "from entrylint import api\n"
            "from entrylint.cpp import lexer\n"
            "seen = collections.Counter()\n"
            "real = lexer.lex_file\n"
            "lexer.lex_file = lambda text, file: (seen.update([file]), real(text, file))[1]\n"
            "tree = Path(sys.argv[1])\n"
            "api.check(tree / 'arch/x86/entry/entry_64.S', api.Options(root=tree))\n"
            "print(json.dumps({f: n for f, n in seen.items() if f.endswith('.S')}))\n")
    env = dict(os.environ, ENTRYLINT_CACHE_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code, str(tree)], capture_output=True, text=True, env=env, check=True)
    files = json.loads(out.stdout)
    assert str(tree / "arch/x86/entry/entry_64.S") in files and len(files) >= 3
    assert set(files.values()) == {1}


def test_a_line_without_macros_keeps_its_columns(two):
    line = _pp(two / "a.S").lines[1]
    assert line.text.split() == ["movq", "%rsp,", "%rdi"]
    seg = line.segment_at(line.text.index("%rdi"))
    assert (seg.origin.file, seg.origin.line) == (str(two / "a.S"), 4) and not seg.macros
    assert seg.origin.col + line.text.index("%rdi") - seg.col == MAIN.splitlines()[3].index("%rdi") + 1


def test_segment_at_is_the_last_segment_starting_at_or_before_the_column():
    rnd = random.Random(11)
    for _ in range(300):
        cols = sorted({0, *(rnd.randrange(200) for _ in range(rnd.randrange(1, 40)))})
        segs = tuple(Segment(c, Location("f", k + 1, 1)) for k, c in enumerate(cols))
        line = PPLine("x" * 220, segs)
        for col in range(0, 220, 3):
            want = segs[0]
            for s in segs:  # the definition, read the long way
                if s.col > col:
                    break
                want = s
            assert line.segment_at(col) is want


def test_decoded_register_sets_are_shared():
    """The decoder's memo keeps tens of thousands of InsnInfo: equal register
    and flag sets are one object."""
    from entrylint.program.decode import Decoder

    dec = Decoder(disk_cache=False)
    if not dec.available:
        pytest.skip(dec.status)
    (a, b), _ = dec.infos(["addq $1, %rax", "subq $2, %rax"])
    assert a.regs_read == b.regs_read == frozenset({"rax"})
    assert a.regs_read is b.regs_read and a.flags_written is b.flags_written


def test_quiet_takes_a_decoder_records_part_once_and_asks_each_load(tmp_path):
    """transfer.quiet keeps what a decoder record says per record; whether a
    load names a stack's area is the instruction's own (its displacement
    text): an instruction given another's record, asked before or after
    it, gets its own answer."""
    from dataclasses import replace

    from entrylint import api
    from entrylint.analysis import transfer
    from entrylint.analysis.walking import transfer_config

    src = tmp_path / "q.S"
    src.write_text("\t.text\nf:\n\tmovq cpu_entry_area, %rsi\n\tmovq other_var, %rsi\n\tret\n")
    exp = api.expand(src, api.Options(root=None))
    area, plain = exp.program.instructions[:2]
    if area.info is None:
        pytest.skip("no assembler")
    cfg = transfer_config(exp.program, exp)
    assert transfer.quiet(area, cfg) is None  # the entry stack's area loaded: a value made
    assert transfer.quiet(plain, cfg) == frozenset({"rsi"})
    for first in (0, 1):
        transfer._QUIET.clear()
        shared = replace(plain, info=area.info)  # another load text on the area load's record
        order = [(area, None), (shared, frozenset({"rsi"}))]
        for ins, want in order[first:] + order[:first]:
            assert transfer.quiet(ins, cfg) == want, (ins.args, first)


def test_records_are_guarded_in_the_suite_and_compare_alike_without_the_guard():
    """source/record.py: the suite runs with the write guard (tests/conftest.py);
    without it a record equals, hashes and orders as the frozen one does."""
    import dataclasses
    import os
    import subprocess
    import sys

    from entrylint.gas.types import Frame, Stmt
    from entrylint.source import record

    assert record.FROZEN
    loc = Location("a.S", 3, 1)
    st = Stmt("insn", "swapgs", "", ".text", (Frame(loc, "file", None),))
    with pytest.raises(dataclasses.FrozenInstanceError):
        st.name = "sysretq"
    code = ("from entrylint.source import Location, record; from entrylint.gas.types import Frame, Stmt\n"
            "a, b = Location('a.S', 3, 1), Location('a.S', 2, 9)\n"
            "s = Stmt('insn', 'swapgs', '', '.text', (Frame(a, 'file', None),))\n"
            "t = Stmt('insn', 'swapgs', '', '.text', (Frame(Location('a.S', 3, 1), 'file', None),))\n"
            "s.name = 'swapgs'\n"  # no guard: a write goes through
            "print(record.FROZEN, s == t, hash(s) == hash(t), sorted([a, b]) == [b, a], hash(a))")
    env = dict(os.environ, PYTHONHASHSEED="0")
    env.pop("ENTRYLINT_FROZEN_RECORDS")
    plain = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    env["ENTRYLINT_FROZEN_RECORDS"] = "1"
    frozen = subprocess.run([sys.executable, "-c", code.replace("s.name = 'swapgs'\n", "")], env=env,
                            capture_output=True, text=True, check=True)
    assert plain.stdout.split()[:4] == ["False", "True", "True", "True"]
    assert frozen.stdout.split()[1:] == plain.stdout.split()[1:]  # the same hash of the same fields


def test_the_config_symbol_rule_reads_the_preprocessors_tokens(tmp_path, monkeypatch):
    """unknown-config-symbol scans every #if of the file checked and of the
    headers beside it: the tokens the preprocessor made of the same text, not
    a lexing of its own per profile (the language server checks at each edit)."""
    from entrylint import api

    (tmp_path / "Kconfig").write_text("config KNOWN\n\tbool \"known\"\n")
    (tmp_path / "h.h").write_text("#ifdef CONFIG_MISSING_H\n#endif\n")
    (tmp_path / "m.S").write_text('#include "h.h"\n#ifdef CONFIG_KNOWN\n\tnop\n#endif\n'
                                  "#if IS_ENABLED(CONFIG_MISSING)\n\tnop\n#endif\n")
    lexed = []
    real = lexer.lex_file
    monkeypatch.setattr(lexer, "lex_file", lambda text, file: lexed.append(file) or real(text, file))
    lexer._LEXED.pop(str(tmp_path / "h.h"), None)
    found = api.check(tmp_path / "m.S", api.Options(root=tmp_path))
    names = sorted({(f.id, f.args["name"]) for f in found.findings if f.id == "EL403"})
    assert names == [("EL403", "MISSING"), ("EL403", "MISSING_H")]
    assert sorted(lexed) == sorted([str(tmp_path / "m.S"), str(tmp_path / "h.h")])  # each once, every profile


def test_a_check_freezes_what_it_leaves_alive_and_thaws_it_now_and_then(tmp_path, monkeypatch):
    """With the collector on (the language server, -j workers), what a check
    leaves alive is frozen, so the next young collection does not walk it;
    every THAW_EVERY checks it is thawed for the collector to see once.  With
    the collector off (the CLI's own process) nothing is frozen."""
    import gc

    from entrylint import api, heap

    src = tmp_path / "a.S"
    src.write_text("\tswapgs\n\tmovq %rax, %cr3\n")
    opts = api.Options(root=tmp_path, profile="defconfig")
    monkeypatch.setattr(heap, "THAW_EVERY", 3)
    monkeypatch.setattr(heap, "_paused", __import__("itertools").count(1))
    was = gc.isenabled()
    try:
        gc.enable()
        gc.unfreeze()
        counts = []
        for _ in range(4):
            api.check(src, opts)
            counts.append(gc.get_freeze_count())
        assert counts[0] > 0 and counts[1] >= counts[0]  # frozen after each check
        assert counts[2] == 0 and counts[3] > 0  # the third thawed everything; the fourth froze again
        gc.unfreeze()
        gc.disable()
        api.check(src, opts)
        assert gc.get_freeze_count() == 0
    finally:
        gc.unfreeze()
        if was:
            gc.enable()
        else:
            gc.disable()


def test_a_result_read_back_from_the_cache_does_not_import_the_front_end():
    """A warm run unpickles findings, whose classes live in the rule modules,
    which import the program model; that needs cpp.types and gas.types only,
    and the cpp and gas packages load what they re-export on first use."""
    import subprocess
    import sys

    code = ("import sys, entrylint_rules.swapgs_speculation, entrylint_rules.swapgs_cr3_order;"
            "print(sorted(m for m in sys.modules if m in ('entrylint.cpp.preprocessor', 'entrylint.gas.expander')));"
            "from entrylint.cpp import preprocess_text; from entrylint.gas import expand;"
            "print('entrylint.cpp.preprocessor' in sys.modules and 'entrylint.gas.expander' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "[]" and out[1] == "True"


def test_msr_entry_names_follow_a_local_initializer_at_a_word_boundary():
    """msr_entries._names searches for the name and checks the boundary
    itself (a pattern starting with \\b was tried at every position): the
    last initializer at a word boundary before the wrmsr counts, including
    one right after another name that ends in the same letters."""
    from entrylint.analysis.msr_entries import parse

    text = """
void syscall_init(void)
{
	unsigned long xtramp = (unsigned long)not_this, tramp = (unsigned long)entry_tramp;
	wrmsrl(MSR_LSTAR, tramp);
	wrmsrl(MSR_CSTAR, xtramp);
}
"""
    got = parse(text)
    assert got.kind("entry_tramp") == "syscall" and got.msr["entry_tramp"] == "MSR_LSTAR"
    assert got.msr["not_this"] == "MSR_CSTAR"
    assert "not_this" not in {n for n, m in got.msr.items() if m == "MSR_LSTAR"}


def test_the_cli_checks_several_files_without_a_full_collection_after_each(tmp_path):
    """The CLI's own process, -j 1, several files: the collector runs as in a
    -j worker (paused during a file, what it leaves frozen), not a full
    collection after each file -- that walked everything each file left
    alive (the tree's caches) and found next to nothing to free (0.84 s of
    the 10.8 s of arch/x86 at -j 1).  Counted by the collector's own
    callbacks in the process the console entry point runs."""
    import subprocess
    import sys

    from pathlib import Path

    REPO = Path(__file__).resolve().parents[1]
    site = tmp_path / "site"
    site.mkdir()
    log = tmp_path / "full"
    (site / "sitecustomize.py").write_text(
        "import gc\n"
        "def _cb(phase, info, _log=%r):\n"
        "    if phase == 'stop' and info['generation'] == 2:\n"
        "        open(_log, 'a').write('x')\n"
        "gc.callbacks.append(_cb)\n" % str(log))
    files = sorted((REPO / "fixtures" / "analysis").glob("*.S"))[:12]
    assert len(files) == 12
    env = {"PYTHONPATH": f"{site}:{REPO}", "PATH": "/usr/bin:/bin", "ENTRYLINT_CACHE_DIR": str(tmp_path / "c")}
    p = subprocess.run([sys.executable, "-m", "entrylint", "--no-cache", "-j", "1", "--root", str(REPO / "fixtures"),
                        *map(str, files)], capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode in (0, 1), p.stderr
    assert "total:" in p.stdout or p.stdout.count("\n") > 0
    full = len(log.read_text()) if log.exists() else 0
    assert full <= 2, f"{full} full collections for {len(files)} files"
