"""The tree's facts made ahead in a process apart (entrylint/ahead.py: a
single file checked under one profile with a core to spare): the check
takes them from that process, the same as made here; a child that fails is
made up for; a process forked meanwhile does not take them; and with the
caches on they reach the disk, so a later run and a changed Kconfig are
seen as without them."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

import test_apart
from test_apart import _json

from entrylint import ahead, api, apart, cache

REPO = Path(__file__).resolve().parents[1]
KAISER = REPO / "fixtures" / "kaiser-2017"

pytestmark = pytest.mark.skipif(not apart.available(), reason="no fork on this system")


@pytest.fixture
def tree(tmp_path):
    """The 2017 tree, with the C functions its entry_64.S calls (for the C index)."""
    root = tmp_path / "tree"
    shutil.copytree(KAISER, root)
    (root / "arch/x86/entry/common.c").write_text("__visible void do_syscall_64(unsigned long nr, struct pt_regs *regs)\n{\n}\n")
    (root / "arch/x86/kernel").mkdir(parents=True, exist_ok=True)
    (root / "arch/x86/kernel/nmi.c").write_text("void do_nmi(struct pt_regs *regs)\n{\n}\n")
    return root


def _check(root: Path, jobs: int, assemble: bool = False):
    """(Decoded, ``assemble``: the calls' targets known, the C index asked.)"""
    return api.check(root / "arch/x86/entry/entry_64.S",
                     api.Options(root=root, profile="defconfig", assemble=assemble), keep_analysis=False, jobs=jobs)


def _made_here(monkeypatch) -> list:
    """The facts of ahead.KINDS made in this process (cache._fact's parts)."""
    here, real = [], cache._fact
    parent = os.getpid()

    def spy(parts, compute, *args):
        if parts[0] in ahead.KINDS and os.getpid() == parent:
            here.append(parts[0])
        return real(parts, compute, *args)

    monkeypatch.setattr(cache, "_fact", spy)
    return here


def test_one_profile_takes_the_trees_facts_from_the_process_apart(tree, monkeypatch):
    begun, taken = [], []
    real_begin, real_take = ahead.begin, ahead.take
    monkeypatch.setattr(ahead, "begin", lambda root, *a: begun.append(root) or real_begin(root, *a))
    monkeypatch.setattr(ahead, "take", lambda key: taken.append(real_take(key)) or taken[-1])
    here = _made_here(monkeypatch)
    two = _check(tree, 2)
    assert begun == [tree.resolve()]
    assert taken and all(t is not None for t in taken) and here == []  # every one made apart
    assert ahead._pending is None and not ahead._made  # (ended: nothing left for a later check)
    one = _check(tree, 1)
    assert {"msr-entries", "sourced-kconfig", "user-mapped-percpu"} <= set(here)  # made here, with -j 1
    assert _json(two) == _json(one)


def test_the_stores_of_the_per_cpu_bits_the_user_switch_ors_in_are_made_apart(tmp_path, monkeypatch):
    """(Decoded: the OR from memory is known.)  The 4.4/4.9 backport's
    switch to the user CR3 ORs in a per-cpu variable: whether it holds the
    user bit is read from the stores of the tree's C code, a fact made apart
    with -j 2 and here with -j 1, the same findings either way."""
    if not api.decoder().available:
        pytest.skip("GNU as not installed")
    root = tmp_path / "kaiser-4x"
    shutil.copytree(REPO / "fixtures" / "versions" / "kaiser-4x", root)
    here = _made_here(monkeypatch)
    two = _check(root, 2, assemble=True)
    assert "percpu-stores" not in here
    one = _check(root, 1, assemble=True)
    assert "percpu-stores" in here
    assert _json(two) == _json(one)


def test_facts_a_failed_child_did_not_give_are_made_here(tree, monkeypatch):
    parent = os.getpid()
    real = ahead._make

    def fails_apart(root):
        if os.getpid() != parent:
            raise RuntimeError("injected in the child")
        return real(root)

    monkeypatch.setattr(ahead, "_make", fails_apart)
    here = _made_here(monkeypatch)
    two = _check(tree, 2)
    assert "sourced-kconfig" in here and "msr-entries" in here
    assert _json(two) == _json(_check(tree, 1))


def test_a_process_forked_meanwhile_leaves_them_to_this_one(tree):
    ahead.begin(tree)
    try:
        h = apart.start(lambda: (ahead.expected(), ahead._pending))
        assert apart.result(h) == (False, None)  # the other child: not its to take
        assert ahead.expected()
        key = cache.key_of(("fact", "msr-entries", str(tree)))
        assert ahead.take(key) is not None  # this one's
    finally:
        ahead.end()
    assert not ahead.expected()


@pytest.mark.parametrize("facts", [True, False])
def test_each_use_of_a_fact_taken_tells_what_it_depends_on(tree, tmp_path, monkeypatch, facts):
    """A result computed with a fact made apart depends on it as on one
    made here: on the stored fact (facts on), or on the files it read."""
    from entrylint.source.tree import kconfig_declared

    monkeypatch.setenv("ENTRYLINT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(cache, "facts_enabled", facts)
    monkeypatch.setattr(cache, "_facts", {})
    time.sleep(cache.RACY_SECONDS + 0.2)  # (the copied tree is new: a fact of it is stored only past this)
    here = _made_here(monkeypatch)
    ahead.begin(tree)
    try:
        for _ in range(2):  # the first use takes it from the child, the second from what it gave
            names, (texts, stats, used) = cache.recorded(kconfig_declared, str(tree))
            assert "KAISER" in names and here == []
            if facts:
                assert used == {cache.key_of(("fact", "sourced-kconfig", str(tree), "x86"))}
            else:
                assert str(tree / "Kconfig") in {**texts, **stats}  # (read, or opened)
    finally:
        ahead.end()


def test_the_c_index_is_answered_by_the_same_process(tree, monkeypatch, tmp_path):
    """The child that made the facts reads the C sources meanwhile and
    answers the names the file calls out to (no other process is made for
    them): the answers are the ones made here."""
    from entrylint.analysis import cindex

    started, asked = [], []
    real_start, real_ask = apart.start, ahead.c_answers
    monkeypatch.setattr(apart, "start", lambda fn, *a: started.append(fn) or real_start(fn, *a))
    monkeypatch.setattr(ahead, "c_answers", lambda index, names: asked.append((index, names))
                        or real_ask(index, names))
    monkeypatch.setattr(cindex, "_memo", {})
    monkeypatch.setenv("ENTRYLINT_CACHE_DIR", str(tmp_path / "cache"))
    two = _check(tree, 2, assemble=True)
    assert started == [] and len(asked) == 1
    index, names = asked[0]
    assert {"do_syscall_64", "do_nmi"} <= set(names) and index.pending is None  # (taken)
    nmi = [p.name for p in index._list()].index("nmi.c")
    assert nmi not in index._parsed  # parsed apart
    fresh = cindex.LazyCIndex(tree, cindex.DEFAULT_FOLDERS)
    assert {n: index.answers[n] for n in names} == {n: fresh.get(n) for n in names}
    # and for the names the file defines, not asked: another file's code may call them back
    own = set(ahead._defined_by(tree, tree / "arch/x86/entry/entry_64.S")) - set(names)
    assert "entry_SYSCALL_64" in own and own <= set(index.answers)
    assert {n: index.answers[n] for n in own} == {n: fresh.get(n) for n in own}
    monkeypatch.setattr(cindex, "_memo", {})
    assert _json(two) == _json(_check(tree, 1, assemble=True))


@pytest.mark.parametrize("failing", ["_prepare", "_answers"])
def test_c_answers_the_child_failed_to_make_are_made_here(tree, monkeypatch, tmp_path, failing):
    """(A child whose preparing failed answers nothing: its index may be half made.)"""
    from entrylint.analysis import cindex

    parent = os.getpid()
    real = getattr(ahead, failing)

    def fails_apart(arg):
        if os.getpid() != parent:
            if failing == "_prepare":
                real(arg)
                ahead._index._texts, ahead._index._idents = [], None  # (half made: no answer may come of it)
            raise RuntimeError("injected in the child")
        return real(arg)

    monkeypatch.setattr(ahead, failing, fails_apart)
    monkeypatch.setattr(cindex, "_memo", {})
    monkeypatch.setenv("ENTRYLINT_CACHE_DIR", str(tmp_path / "cache"))
    here = _made_here(monkeypatch)
    two = _check(tree, 2, assemble=True)
    index = next(iter(cindex._memo.values()))
    assert here == [] and index.answers["do_nmi"] is not None and index._parsed  # facts apart, answers here
    monkeypatch.setattr(cindex, "_memo", {})
    assert _json(two) == _json(_check(tree, 1, assemble=True))


def test_a_child_not_asked_for_answers_is_stopped_and_reaped(tree, monkeypatch):
    """(Not decoded: no call's target is known, the C index is not asked.)"""
    finished = []
    real = apart.finish
    monkeypatch.setattr(apart, "finish", lambda h, stop=False: finished.append((h, stop)) or real(h, stop))
    _check(tree, 2)
    assert len(finished) == 1 and finished[0][1]
    with pytest.raises(ChildProcessError):
        os.waitpid(finished[0][0].pid, os.WNOHANG)


def test_a_check_that_fails_waits_for_the_child(tree, monkeypatch):
    monkeypatch.setattr(api, "check_one", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("here")))
    with pytest.raises(RuntimeError, match="here"):
        _check(tree, 2)
    assert ahead._pending is None and not ahead._made


def _cli(root: Path, cache_dir: Path, *args) -> subprocess.CompletedProcess:
    return test_apart._cli(root, cache_dir, "--profile", "defconfig", *args, path="arch/x86/entry/entry_64.S")


def test_facts_made_apart_reach_the_disk_and_a_kconfig_change_is_seen(tree, tmp_path):
    """A Kconfig name the file tests but the tree does not declare is EL001's
    finding (unknown config symbol); declared in the tree's Kconfig, it is
    not.  The run with -j 2 makes the Kconfig fact apart: it is stored, the
    cached result depends on it, and the declaration is seen."""
    p = tree / "arch/x86/entry/entry_64.S"
    p.write_text("#ifdef CONFIG_NOT_DECLARED_YET\n#endif\n" + p.read_text())
    cache_dir = tmp_path / "cache"
    time.sleep(cache.RACY_SECONDS + 0.2)  # (files changed within it are not trusted to the cache)
    first = _cli(tree, cache_dir, "-j", "2")
    assert "CONFIG_NOT_DECLARED_YET" in first.stdout, first.stderr
    assert first.stdout == _cli(tree, tmp_path / "other", "-j", "1", "--no-cache").stdout
    assert list((cache_dir / "results" / cache.FACTS).glob("*/*.pickle"))  # the facts, on the disk
    with open(tree / "Kconfig", "a") as fh:
        fh.write("\nconfig NOT_DECLARED_YET\n\tbool\n")
    time.sleep(cache.RACY_SECONDS + 0.2)
    again = _cli(tree, cache_dir, "-j", "2")
    assert "CONFIG_NOT_DECLARED_YET" not in again.stdout, again.stdout
    assert again.stdout == _cli(tree, tmp_path / "other2", "-j", "1", "--no-cache").stdout


def test_what_a_served_child_read_to_prepare_goes_with_its_answer(tmp_path):
    """apart.serve: its first value, then the answer to one request, with
    what preparing it read among the answer's reads (a cached result
    depends on the C sources the child read before the names came)."""
    first, prepared, asked = (tmp_path / n for n in ("first.txt", "prepared.txt", "asked.txt"))
    for p in (first, prepared, asked):
        p.write_text(p.stem)

    def run():
        h = apart.serve(lambda root: first.read_text(), lambda root: prepared.read_text(),
                        lambda n: asked.read_text() * n, "root")
        assert apart.receive(h, tell=False) == "first"
        assert apart.request(h, 2)
        return apart.result(h)

    value, (texts, stats, _) = cache.recorded(run)
    assert value == "askedasked"
    read = {**texts, **stats}
    assert str(prepared) in read and str(asked) in read and str(first) not in read  # (not told: tell=False)


def _open_fds(fds) -> list[int]:
    out = []
    for fd in fds:
        try:
            os.fstat(fd)
            out.append(fd)
        except OSError:
            pass
    return out


def test_a_child_holds_none_of_another_childs_pipes():
    """A served child waits for its request until its pipe is closed: a
    process forked meanwhile that kept a copy of that pipe would keep it
    waiting (and this one in waitpid).  Each child closes what it
    inherited of the others'."""
    served = apart.serve(lambda: "first", lambda: None, lambda n: n * 2)
    try:
        assert apart.receive(served) == "first"
        theirs = (served.fd, served.ask)
        assert _open_fds(theirs) == list(theirs)  # (open here)
        assert apart.result(apart.start(_open_fds, theirs)) == []  # closed in the other child
        assert apart.request(served, 21) and apart.result(served) == 42
    finally:
        apart.abandon(served)


def _slowed(fn):
    """``fn`` half a second later (the process apart's part, made the later one)."""

    def slow(*args):
        time.sleep(0.5)
        return fn(*args)

    return slow


def test_the_rules_are_loaded_while_the_c_answers_are_waited_for(tree, monkeypatch, tmp_path):
    """When the C index's answers come after this process needs them, the
    rules are loaded in the wait (api.check_one, apart.meanwhile), not
    after the analysis; the findings are the bytes -j 1 gives."""
    from entrylint.analysis import cindex

    monkeypatch.setattr(cindex, "_memo", {})
    monkeypatch.setenv("ENTRYLINT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(api, "_rules", None)
    monkeypatch.setattr(apart, "_meanwhile", [])
    monkeypatch.setattr(ahead, "_answers", _slowed(ahead._answers))
    loaded, waiting, real_rules, real_fill = [], [], api.rules, apart._fill

    def fill(fd):
        waiting.append(True)
        try:
            real_fill(fd)
        finally:
            waiting.pop()

    monkeypatch.setattr(apart, "_fill", fill)
    monkeypatch.setattr(api, "rules", lambda *a: loaded.append(bool(waiting)) or real_rules(*a))
    two = _check(tree, 2, assemble=True)
    assert loaded and loaded[0] is True  # the first load: in the wait for the answers
    monkeypatch.setattr(cindex, "_memo", {})
    assert _json(two) == _json(_check(tree, 1, assemble=True))


def test_the_names_are_sent_without_waiting_for_the_facts(tree, monkeypatch, tmp_path):
    """The C names go to the process apart as soon as they are known
    (callees.ask_before_build), not after its facts came: they are taken
    when used, or before its answers; the findings are the bytes -j 1 gives."""
    from entrylint.analysis import cindex

    monkeypatch.setattr(cindex, "_memo", {})
    monkeypatch.setenv("ENTRYLINT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(ahead, "_make", _slowed(ahead._make))
    sent, real = [], ahead.c_answers

    def c_answers(index, names):
        h = real(index, names)
        sent.append((h, ahead._facts_in))
        return h

    monkeypatch.setattr(ahead, "c_answers", c_answers)
    two = _check(tree, 2, assemble=True)
    assert len(sent) == 1 and sent[0][0] is not None and sent[0][1] is False  # sent before the facts were in
    monkeypatch.setattr(cindex, "_memo", {})
    assert _json(two) == _json(_check(tree, 1, assemble=True))
