"""The result cache (entrylint/cache.py): a hit only when nothing read has
changed; --no-cache; the folder from the environment.  A small tree written
here: a .S file that includes a header found through -I folders."""

from __future__ import annotations

import os
import random
import re

import pytest

from entrylint import api, cache
from entrylint.faces import cli
from entrylint.source import tree as srctree

ASM = """#include <inc.h>
\t.text
\t.globl\tfoo
foo:
\tMYOP
\tret
"""


@pytest.fixture
def small(tmp_path, monkeypatch):
    root = tmp_path / "tree"
    (root / "b").mkdir(parents=True)
    (root / "a").mkdir()
    (root / "foo.S").write_text(ASM)
    (root / "b" / "inc.h").write_text("#define MYOP nop\n")
    monkeypatch.setenv("ENTRYLINT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(cache, "RACY_SECONDS", 0.0)  # the files here were all written just now
    monkeypatch.setattr(cache, "_valid", {})
    calls = []
    real = api.check

    def counting(*a, **k):
        calls.append(a[0])
        return real(*a, **k)

    monkeypatch.setattr(api, "check", counting)
    monkeypatch.chdir(root)
    return root, tmp_path / "cache" / "results", calls


def _run(root, *extra):
    return cli.main(["--root", str(root), "-I", "a", "-I", "b", "--profile", "defconfig", "--format", "json",
                     *extra, "foo.S"])


def _entries(d):
    """The result entries (the tree's facts live in facts/ beside them)."""
    return sorted(p for p in d.rglob("*.pickle") if cache.FACTS not in p.relative_to(d).parts) if d.exists() else []


def test_second_run_is_a_hit_with_the_same_output(small, capsys):
    root, cdir, calls = small
    _run(root)
    first = capsys.readouterr().out
    assert len(_entries(cdir)) == 1 and len(calls) == 1
    cache._valid.clear()
    _run(root)
    assert capsys.readouterr().out == first
    assert len(calls) == 1  # answered from the cache


def test_edit_of_an_included_header_invalidates(small, capsys):
    root, cdir, calls = small
    hdr = root / "b" / "inc.h"
    _run(root)
    st = hdr.stat()
    hdr.write_text("#define MYOP hlt\n")  # same size: only the contents say it changed
    os.utime(hdr, ns=(st.st_atime_ns, st.st_mtime_ns))
    cache._valid.clear()
    _run(root)
    assert len(calls) == 2


def test_a_header_added_earlier_in_the_search_path_invalidates(small, capsys):
    root, cdir, calls = small
    _run(root)
    (root / "a" / "inc.h").write_text("#define MYOP nop\n")  # -I a comes first: this one is read now
    cache._valid.clear()
    _run(root)
    assert len(calls) == 2


def test_another_profile_is_another_entry(small, capsys):
    root, cdir, calls = small
    _run(root)
    cli.main(["--root", str(root), "-I", "a", "-I", "b", "--profile", "max", "--format", "json", "foo.S"])
    assert len(calls) == 2 and len(_entries(cdir)) == 2


def test_no_cache_neither_reads_nor_writes(small, capsys):
    root, cdir, calls = small
    _run(root, "--no-cache")
    assert _entries(cdir) == []
    _run(root)
    _run(root, "--no-cache")
    assert len(calls) == 3


def test_no_cache_writes_no_tree_facts_either(small, capsys):
    root, cdir, calls = small
    _run(root, "--no-cache")
    assert not cdir.exists()
    assert cache.facts_enabled is False  # the CLI's setting ends with its run


# -- facts of a tree (cache.fact) --------------------------------------------------


def _reading(calls, *paths):
    """A computation that reads ``paths`` (a header through source.reader, any
    other file by open) and returns what it read."""
    from entrylint.source import reader

    def compute():
        calls.append(1)
        out = []
        for p in paths:
            out.append(reader.read_source(str(p))[0] if p.suffix == ".h" else p.read_text())
        return tuple(out)

    return compute


def test_a_fact_is_kept_across_runs_until_a_file_it_read_changes(facts):
    tmp, restart = facts
    hdr, kconf = tmp / "a.h", tmp / "Kconfig"
    hdr.write_text("#define A 1\n")
    kconf.write_text("config A\n")
    calls = []
    compute = _reading(calls, hdr, kconf)
    assert cache.fact(("t", "x"), compute) == ("#define A 1\n", "config A\n")
    assert cache.fact(("t", "x"), compute) == ("#define A 1\n", "config A\n")
    assert len(calls) == 1  # once per process
    restart()
    assert cache.fact(("t", "x"), compute) == ("#define A 1\n", "config A\n")
    assert len(calls) == 1  # from the disk in a new process
    assert list((tmp / "cache" / "results" / cache.FACTS).rglob("*.pickle"))
    hdr.write_text("#define A 2\n")  # the header's text
    restart()
    assert cache.fact(("t", "x"), compute)[0] == "#define A 2\n"
    assert len(calls) == 2
    kconf.write_text("config B\n")  # a file opened: its stat
    restart()
    assert cache.fact(("t", "x"), compute)[1] == "config B\n"
    assert len(calls) == 3


def test_a_fact_remembered_in_memory_tells_a_result_what_it_was_made_from(facts):
    """The second file of a run takes the tree's facts from memory: its
    result entry must still depend on the files they were read from."""
    tmp, restart = facts
    hdr = tmp / "tree.h"
    hdr.write_text("one\n")
    compute = _reading([], hdr)
    cache.fact(("t", "tree"), compute)  # the first file of the run made it
    got = cache.cached(("result", "second"), lambda: cache.fact(("t", "tree"), compute)[0])
    assert got == "one\n"
    assert cache.lookup(cache.key_of(("result", "second"))) == "one\n"
    # the result names the stored fact instead of copying the files it was made from
    entry = cache._entry(cache.key_of(("result", "second")))
    assert entry["facts"] == [cache.key_of(("fact", "t", "tree"))] and str(hdr) not in entry["texts"]
    hdr.write_text("two\n")
    cache._valid.clear()
    assert cache.lookup(cache.key_of(("result", "second"))) is None  # not a stale "one"


def test_a_fact_made_from_the_file_being_checked_is_not_kept(facts):
    """A callee summary that reaches a function of the file being checked
    uses the program the process holds of it: that fact must not outlive
    the check (the file may change), and the check's result records what it read."""
    tmp, restart = facts
    hdr = tmp / "other.h"
    hdr.write_text("x\n")
    calls = []
    read = _reading(calls, hdr)

    def compute():
        cache.from_checked_file()
        return read()

    got = cache.cached(("result", "checked"), lambda: cache.fact(("t", "own"), compute))
    cache.fact(("t", "own"), compute)
    assert got == ("x\n",) and len(calls) == 2  # not remembered in the process
    assert not (tmp / "cache" / "results" / cache.FACTS).exists()  # nor on the disk
    entry = cache._entry(cache.key_of(("result", "checked")))
    assert str(hdr) in entry["texts"] and entry["facts"] == []


def test_read_only_facts_are_read_from_the_disk_and_none_is_stored(facts, monkeypatch):
    """The language server's terms: a fact a check of the command line
    stored is read, valid on the same terms; a fact not on the disk is made
    once for the process, not stored, and not recorded -- recording adds an
    audit hook that then runs at every ``id()`` of the process."""
    tmp, restart = facts
    hdr = tmp / "tree.h"
    hdr.write_text("one\n")
    calls = []
    compute = _reading(calls, hdr)
    assert cache.fact(("t", "stored"), compute) == ("one\n",)  # a CLI run stores it
    restart()
    monkeypatch.setattr(cache, "facts_read_only", True)

    def no_recording(*a, **k):
        raise AssertionError("recorded while read only")

    monkeypatch.setattr(cache, "recorded", no_recording)
    assert cache.fact(("t", "stored"), compute) == ("one\n",) and len(calls) == 1  # from the disk
    assert cache.fact(("t", "new"), compute) == ("one\n",) and len(calls) == 2
    assert cache.fact(("t", "new"), compute) == ("one\n",) and len(calls) == 2  # kept for the process
    stored = list((tmp / "cache" / "results" / cache.FACTS).rglob("*.pickle"))
    assert len(stored) == 1  # the CLI's alone
    hdr.write_text("two\n")  # the stored one is valid on the same terms
    restart()
    assert cache.fact(("t", "stored"), compute) == ("two\n",) and len(calls) == 3


def test_a_read_only_fact_made_unrecorded_is_made_again_for_a_recording(facts, monkeypatch):
    """A fact made with no recording on knows nothing of what it read: a
    result recorded later in the process must not take it on trust."""
    tmp, _ = facts
    monkeypatch.setattr(cache, "facts_read_only", True)
    hdr = tmp / "tree.h"
    hdr.write_text("one\n")
    calls = []
    compute = _reading(calls, hdr)
    assert cache.fact(("t", "unrecorded"), compute) == ("one\n",) and len(calls) == 1
    got = cache.cached(("result", "r"), lambda: cache.fact(("t", "unrecorded"), compute)[0])
    assert got == "one\n" and len(calls) == 2
    assert str(hdr) in cache._entry(cache.key_of(("result", "r")))["texts"]
    hdr.write_text("two\n")
    cache._valid.clear()
    assert cache.lookup(cache.key_of(("result", "r"))) is None  # not a stale "one"


def test_a_read_only_fact_made_from_the_file_being_checked_is_not_kept(facts, monkeypatch):
    tmp, _ = facts
    monkeypatch.setattr(cache, "facts_read_only", True)
    calls = []

    def compute():
        cache.from_checked_file()
        calls.append(1)
        return len(calls)

    assert cache.fact(("t", "own"), compute) == 1
    assert cache.fact(("t", "own"), compute) == 2  # the file may change between two checks
    assert not (tmp / "cache").exists()


def test_facts_are_off_while_an_overlay_serves_the_files(facts):
    from entrylint.source import reader

    tmp, _ = facts
    calls = []
    compute = _reading(calls)
    with reader.overlay(lambda path: None):
        cache.fact(("t", "o"), compute)
        cache.fact(("t", "o"), compute)
    assert len(calls) == 2 and not (tmp / "cache").exists()


def test_cache_folder_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("ENTRYLINT_CACHE_DIR", str(tmp_path / "x"))
    assert cache.results_dir() == tmp_path / "x" / "results"
    monkeypatch.delenv("ENTRYLINT_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.results_dir() == tmp_path / "xdg" / "entrylint" / "results"


def test_every_disk_cache_follows_the_cache_folder(tmp_path, monkeypatch):
    # one folder for the results, the facts, the decoder's table and the C
    # index: a fresh $ENTRYLINT_CACHE_DIR is a cold run in every layer
    from entrylint.analysis import cindex
    from entrylint.program import decode

    monkeypatch.setenv("ENTRYLINT_CACHE_DIR", str(tmp_path / "x"))
    assert decode.default_cache_dir() == tmp_path / "x"
    assert cindex._cache_dir() == tmp_path / "x" / "cindex"
    monkeypatch.delenv("ENTRYLINT_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert decode.default_cache_dir() == cache.cache_root() == tmp_path / "xdg" / "entrylint"
    assert cindex._cache_dir() == tmp_path / "xdg" / "entrylint" / "cindex"


def test_tests_do_not_use_the_home_cache():
    assert os.environ.get("ENTRYLINT_CACHE_DIR")
    assert not cache.results_dir().is_relative_to(os.path.expanduser("~/.cache"))


def test_a_recently_changed_dependency_is_not_stored(tmp_path, monkeypatch):
    monkeypatch.setenv("ENTRYLINT_CACHE_DIR", str(tmp_path / "c"))
    f = tmp_path / "dep"
    f.write_text("x")
    assert not cache.store("k" * 40, 1, {}, {str(f): cache._stat(str(f))})
    monkeypatch.setattr(cache, "RACY_SECONDS", 0.0)
    assert cache.store("k" * 40, 1, {}, {str(f): cache._stat(str(f))})
    assert cache.lookup("k" * 40) == 1
    f.write_text("yy")
    cache._valid.clear()
    assert cache.lookup("k" * 40) is None


# -- the faster Kconfig scan reads what the regular expression read -------------

_OLD = re.compile(r"^\s*(?:menu)?config\s+(\w+)", re.M)


def test_declared_names_match_the_line_anchored_expression():
    rnd = random.Random(7)
    words = ["config", "menu", "menuconfig", " ", "\t", "\n", "FOO", "_1", "x", "\r"]
    for _ in range(5000):
        text = "".join(rnd.choice(words) for _ in range(rnd.randint(0, 14)))
        assert srctree._declared_names(text) == _OLD.findall(text), repr(text)


def test_known_config_answers_from_the_sourced_files_first(tmp_path, monkeypatch):
    (tmp_path / "arch" / "x86").mkdir(parents=True)
    (tmp_path / "Kconfig").write_text('source "arch/$(SRCARCH)/Kconfig"\n')
    (tmp_path / "arch" / "x86" / "Kconfig").write_text("config X86_64\n\tbool\nmenuconfig XEN\n")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "Kconfig.extra").write_text("config ONLY_IN_WALK\n")
    walked = []
    real = srctree._kconfig_symbols.__wrapped__  # the walk itself, not its memo

    def spy(root):
        walked.append(root)
        return real(root)

    monkeypatch.setattr(srctree, "kconfig_symbols", spy)
    srctree._read_sourced_kconfig.cache_clear()
    known = srctree.KnownConfig(str(tmp_path))
    assert "X86_64" in known and "XEN" in known and bool(known)
    assert walked == []  # answered without walking the tree
    assert "ONLY_IN_WALK" in known and "NOPE" not in known
    assert walked
    srctree._read_sourced_kconfig.cache_clear()


def test_known_config_answers_from_the_other_architectures_before_walking(tmp_path, monkeypatch):
    """A name the x86 Kconfig does not declare (6.x lib/cmpxchg8b_emu.S tests
    CONFIG_UML) is looked up in the top folders of the other architectures
    before the whole tree is walked (0.14 s on 6.12), and only in files the
    walk reads too: a hidden folder, a folder symlink or a subfolder's file
    does not make a name known that the walk would not find."""
    tree = tmp_path / "tree"
    (tree / "arch" / "x86").mkdir(parents=True)
    (tree / "Kconfig").write_text('source "arch/$(SRCARCH)/Kconfig"\n')
    (tree / "arch" / "x86" / "Kconfig").write_text("config X86_64\n")
    (tree / "arch" / "um" / "drivers").mkdir(parents=True)
    (tree / "arch" / "um" / "Kconfig").write_text("config UML\n\tbool\n")
    (tree / "arch" / "um" / "Kconfig.debug").write_text("menuconfig UML_DEBUG\n")
    (tree / "arch" / "um" / "drivers" / "Kconfig").write_text("config UML_NET\n")  # (a subfolder)
    (tree / "arch" / ".hidden").mkdir()
    (tree / "arch" / ".hidden" / "Kconfig").write_text("config HIDDEN_ARCH\n")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "Kconfig").write_text("config LINKED_ARCH\n")
    (tree / "arch" / "linked").symlink_to(tmp_path / "outside")  # os.walk does not enter it
    walked = []
    real = srctree._kconfig_symbols.__wrapped__

    def spy(root):
        walked.append(root)
        return real(root)

    monkeypatch.setattr(srctree, "kconfig_symbols", spy)
    srctree._read_sourced_kconfig.cache_clear()
    srctree._arch_kconfig_declared.cache_clear()
    full = real(str(tree))
    assert srctree._arch_kconfig_declared(str(tree)) == {"UML", "UML_DEBUG", "X86_64"} <= full
    known = srctree.KnownConfig(str(tree))
    assert "UML" in known and "UML_DEBUG" in known
    assert walked == []  # the other architectures' top folders answered
    assert "UML_NET" in known and walked  # a subfolder's name: the walk finds it
    assert "HIDDEN_ARCH" not in known and "LINKED_ARCH" not in known and "NOPE" not in known
    srctree._read_sourced_kconfig.cache_clear()
    srctree._arch_kconfig_declared.cache_clear()


def test_the_trees_asm_symbols_and_definitions_are_one_fact(facts, monkeypatch):
    """asmindex.asm_symbols (c-call-user-cr3) and asm_definitions (a call into
    another file's asm) come from one read of the tree's .S files, made once
    (they were two reads, 42 and 100 ms on 6.12), from the disk in a later
    run, and made again when a file is added to a folder it listed."""
    from entrylint.analysis import asmindex

    tmp, restart = facts
    tree = tmp / "tree"
    (tree / "arch/x86/lib").mkdir(parents=True)
    (tree / "arch/x86/lib/a.S").write_text("SYM_FUNC_START(foo)\n\tret\nSYM_FUNC_END(foo)\n")
    made = []
    real = asmindex._read_asm_index.__wrapped__  # (not the process's memo of it)
    monkeypatch.setattr(asmindex, "_read_asm_index", lambda root: made.append(root) or real(root))
    assert asmindex.asm_symbols(tree) == {"foo"} and len(made) == 1
    assert asmindex.asm_definitions(tree) == {"foo": ("arch/x86/lib/a.S",)} and len(made) == 1
    restart()
    assert asmindex.asm_symbols(tree) == {"foo"} and len(made) == 1  # from the disk
    (tree / "arch/x86/lib/b.S").write_text(".globl bar\nbar:\n\tret\n")
    restart()
    assert asmindex.asm_symbols(tree) == {"foo", "bar"} and len(made) == 2
    assert set(asmindex.asm_definitions(tree)) == {"foo", "bar"} and len(made) == 2


# -- answers remembered in memory still name the files they were read from -------

def test_a_sibling_s_names_remembered_in_memory_still_make_a_result_depend_on_it(tmp_path):
    """siblings._names_of keeps what a sibling defines per contents of the
    file; a result recorded after that (the next file of a -j 1 run) must
    still depend on the sibling, or a sibling that stops defining the helper
    would leave it stale."""
    from entrylint.analysis import siblings

    f = tmp_path / "other.S"
    f.write_text("SYM_FUNC_START(helper)\n\tret\nSYM_FUNC_END(helper)\n")
    for _ in range(2):  # made, then remembered
        names, (texts, stats, _facts) = cache.recorded(siblings._names_of, f)
        assert names == {"helper"} and str(f) in {**texts, **stats}


def test_declared_params_remembered_in_memory_still_make_a_result_depend_on_the_headers(tmp_path):
    """The same for the C declarations EL103 reads (callees.declared_params)."""
    from entrylint.analysis import callees

    asm = tmp_path / "arch" / "x86" / "include" / "asm"
    asm.mkdir(parents=True)
    (tmp_path / "arch" / "x86" / "kernel").mkdir()
    h = asm / "suspend.h"
    h.write_text("extern void do_suspend_lowlevel(void);\n")
    for _ in range(2):
        got, (texts, stats, _facts) = cache.recorded(callees.declared_params, tmp_path, "arch/x86/kernel",
                                                     "do_suspend_lowlevel")
        assert got == 0 and str(h) in {**texts, **stats}
