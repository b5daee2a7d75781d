"""The later profiles of a single file checked in a process apart
(entrylint/apart.py; api.check's ``jobs``, the CLI's -j with one file):
the same findings, bytes for bytes, as one process makes; a child that
fails is made up for here; and what the child read is part of the cached
result, so an edit of a file only the child's profile reads is seen."""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from entrylint import ahead, api, apart
from entrylint.report import findings_json

REPO = Path(__file__).resolve().parents[1]
KAISER = REPO / "fixtures" / "kaiser-2017"

pytestmark = pytest.mark.skipif(not apart.available(), reason="no fork on this system")


def _json(res) -> str:
    return findings_json.render([(res.root, f) for f in res.findings], 1, 1)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """The 2017 tree, its entry_64.S with a line only pti-off reads: findings
    of every profile (merged from both processes) and of the child's alone."""
    root = tmp_path_factory.mktemp("apart") / "tree"
    shutil.copytree(KAISER, root)
    p = root / "arch/x86/entry/entry_64.S"
    p.write_text("#ifndef CONFIG_PAGE_TABLE_ISOLATION\n#error only pti-off reads this\n#endif\n" + p.read_text())
    # C callees for the C index (entry_64.S calls do_syscall_64 and do_nmi)
    (root / "arch/x86/entry/common.c").write_text("__visible void do_syscall_64(unsigned long nr, struct pt_regs *regs)\n{\n}\n")
    (root / "arch/x86/kernel").mkdir(parents=True, exist_ok=True)
    (root / "arch/x86/kernel/nmi.c").write_text("void do_nmi(struct pt_regs *regs)\n{\n}\n")
    return root


def _check(root: Path, jobs: int):
    return api.check(root / "arch/x86/entry/entry_64.S", api.Options(root=root, assemble=False),
                     keep_analysis=False, jobs=jobs)


def test_profiles_apart_give_the_bytes_one_process_gives(tree, monkeypatch):
    children = []
    real = apart.start
    monkeypatch.setattr(apart, "start", lambda *a: children.append(real(*a)) or children[-1])
    one = _check(tree, 1)
    assert children == []
    two = _check(tree, 2)
    assert len(children) == 1 and children[0] is not None  # the later profiles went to a child
    assert {f.profiles for f in one.findings} == {("max", "defconfig", "pti-off"), ("pti-off",)}
    assert _json(two) == _json(one)


def test_one_profile_is_checked_here_and_asks_the_c_index_apart(tree, monkeypatch, tmp_path):
    """A single profile is not split; its C callees' answers are made apart
    (cindex.LazyCIndex.ask_apart), the same as made here."""
    from entrylint.analysis import cindex

    from entrylint.program import build

    started, asked, built = [], [], []
    real_start, real_ask, real_build = apart.start, cindex.LazyCIndex.ask_apart, build.build_program
    monkeypatch.setattr(apart, "start", lambda fn, *a: started.append(fn) or real_start(fn, *a))
    monkeypatch.setattr(cindex.LazyCIndex, "ask_apart", lambda self, names: asked.append((self, set(names), bool(built)))
                        or real_ask(self, names))
    monkeypatch.setattr(build, "build_program", lambda *a, **k: built.append(1) or real_build(*a, **k))
    monkeypatch.setattr(cindex, "_memo", {})  # (no answer known yet in this process ...
    monkeypatch.setenv("ENTRYLINT_CACHE_DIR", str(tmp_path))  # ... nor on the disk)
    monkeypatch.setattr(cindex.LazyCIndex, "_later", lambda self: None)  # (the child's reach us by the pipe alone)
    opts = api.Options(root=tree, profile="defconfig")  # (decoded: the calls' targets known)
    path = tree / "arch/x86/entry/entry_64.S"
    two = api.check(path, opts, keep_analysis=False, jobs=2)
    # asked once GNU as made the statements (callees.ask_before_build), before
    # the program was built; asked again after it, the answers on their way
    assert api._found_under not in started and len(asked) == 2 and [b for _, _, b in asked] == [False, True]
    index, names, _ = asked[0]
    assert asked[1][:2] == (index, names)  # (the same names the build found)
    assert {"do_syscall_64", "do_nmi"} <= names and index.pending is None  # (taken)
    nmi = [p.name for p in index._list()].index("nmi.c")
    assert nmi not in index._parsed  # parsed apart (do_nmi's file)
    # and whether the index is empty (c-call-user-cr3 asks it): answered
    # apart too, so no C source was read here
    assert index.answers[""] is not None and index._parsed == {} and index._texts == []
    fresh = cindex.LazyCIndex(tree, cindex.DEFAULT_FOLDERS)
    assert {n: index.answers[n] for n in names} == {n: fresh.get(n) for n in names}
    assert index.answers["do_syscall_64"] is not None and index.answers["do_syscall_64"].params == 2
    monkeypatch.setattr(cindex, "_memo", {})
    assert _json(two) == _json(api.check(path, opts, keep_analysis=False))


def test_c_answers_a_failed_child_did_not_give_are_made_here(tree, monkeypatch, tmp_path):
    from entrylint.analysis import cindex

    parent = os.getpid()
    real = cindex.LazyCIndex._answers_of

    def fails_apart(self, names):
        if os.getpid() != parent:
            raise RuntimeError("injected in the child")
        return real(self, names)

    monkeypatch.setattr(cindex.LazyCIndex, "_answers_of", fails_apart)
    monkeypatch.setattr(cindex, "_memo", {})
    monkeypatch.setattr(ahead, "begin", lambda root, *a: None)  # (the C answers' child alone: test_ahead.py)
    monkeypatch.setenv("ENTRYLINT_CACHE_DIR", str(tmp_path))
    got = []
    real_result = apart.result
    monkeypatch.setattr(apart, "result", lambda h: got.append(real_result(h)) or got[-1])
    opts = api.Options(root=tree, profile="defconfig")
    path = tree / "arch/x86/entry/entry_64.S"
    two = api.check(path, opts, keep_analysis=False, jobs=2)
    index = next(iter(cindex._memo.values()))
    assert got == [None] and index.answers["do_nmi"] is not None and index._parsed  # made here
    monkeypatch.setattr(cindex, "_memo", {})
    assert _json(two) == _json(api.check(path, opts, keep_analysis=False))


def test_a_child_that_fails_is_made_up_for_here(tree, monkeypatch):
    parent = os.getpid()
    real = api._found_under

    def fails_apart(*a):
        if os.getpid() != parent:
            raise RuntimeError("injected in the child")
        return real(*a)

    monkeypatch.setattr(api, "_found_under", fails_apart)
    got = []
    real_result = apart.result
    monkeypatch.setattr(apart, "result", lambda h: got.append(real_result(h)) or got[-1])
    two = _check(tree, 2)
    assert got == [None]  # the child said it failed ...
    assert _json(two) == _json(_check(tree, 1))  # ... and its profile was checked here


def test_a_failure_here_stops_the_child(tree, monkeypatch):
    stopped = []
    real = apart.abandon
    monkeypatch.setattr(apart, "abandon", lambda h: stopped.append(h) or real(h))
    monkeypatch.setattr(api, "check_one", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("here")))
    with pytest.raises(RuntimeError, match="here"):
        _check(tree, 2)
    assert len(stopped) == 1 and stopped[0] is not None
    with pytest.raises(ChildProcessError):
        os.waitpid(stopped[0].pid, os.WNOHANG)  # reaped: no process left behind


ASM = """#include <linux/linkage.h>
#ifndef CONFIG_PAGE_TABLE_ISOLATION
#include "off.h"
#endif
\t.text
SYM_CODE_START(foo)
\tnop
\tret
SYM_CODE_END(foo)
"""


def _cli(root: Path, cache: Path, *args, path: str = "a.S") -> subprocess.CompletedProcess:
    env = dict(os.environ, ENTRYLINT_CACHE_DIR=str(cache), PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "entrylint", "--root", ".", "--no-assemble", "--format", "json",
                           *args, path], cwd=root, env=env, capture_output=True, text=True, timeout=300)


def test_the_cached_result_depends_on_what_the_child_read(tmp_path):
    """off.h is read under pti-off alone, the last profile: the child's.  The
    result cached after a run with -j 2 names it among what it was read
    from, and is not taken once off.h changed."""
    from entrylint import cache as cachemod

    root = tmp_path / "tree"
    (root / "include/linux").mkdir(parents=True)
    (root / "include/linux/linkage.h").write_text("")
    (root / "a.S").write_text(ASM)
    (root / "off.h").write_text("#error pti off\n")
    cache = tmp_path / "cache"
    time.sleep(cachemod.RACY_SECONDS + 0.2)  # (files changed within it are not trusted to a cached result)
    first = _cli(root, cache, "-j", "2")
    assert "pti off" in first.stdout and '"pti-off"' in first.stdout, first.stderr
    assert first.stdout == _cli(root, cache, "-j", "1", "--no-cache").stdout
    entries = [p for p in (cache / "results").glob("*/*.pickle")]
    assert len(entries) == 1
    with open(entries[0], "rb") as fh:
        assert str(root / "off.h") in pickle.load(fh)["texts"]
    (root / "off.h").write_text("/* nothing */\n")
    again = _cli(root, cache, "-j", "2")
    assert again.returncode == 0 and "pti off" not in again.stdout, again.stdout


def _first(n):
    return n


def _prepare(n):
    return None


def _then(k):
    return 3 * k


def _gone(pid: int) -> bool:
    for _ in range(100):
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state == "Z":  # (ended, its parent yet to reap it)
            return True
        time.sleep(0.05)
    return False


def _own_pid(n):
    return os.getpid()


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="no /proc")
def test_the_forker_forks_the_children_of_a_process_with_threads(monkeypatch):
    """(The language server: apart.start_forker before its threads start.)"""
    monkeypatch.setattr(apart, "_forker", None)
    monkeypatch.setattr(apart, "_forker_pid", 0)
    assert apart.start_forker(preload=("entrylint.ahead",))
    try:
        h = apart.serve(_first, _prepare, _then, 4)
        assert h is not None and not h.ours and h.pid != os.getpid()
        assert apart.receive(h) == 4
        assert apart.request(h, 5) and apart.result(h) == 15
        h = apart.serve(_first, _prepare, _then, 1)
        assert apart.receive(h) == 1
        waiting = h.pid
        apart.finish(h, stop=True)  # stopped while it waits for its request
        assert _gone(waiting)
        assert apart.serve(lambda: 1, None, None) is None  # not to be sent: made here
        big = b"x" * 900_000  # (more than the socket's buffer takes at once)
        h = apart.serve(_first, _prepare, _then, big)
        assert apart.receive(h) == big
        apart.finish(h, stop=True)
        assert apart.serve(_first, _prepare, _then, big + big) is None  # over 1 MB: made here
        # a request whose sender was stopped before the forker's answer (the
        # language server cancels an analysis from another thread): the next
        # request passes that answer over and gets its own child's pid
        import socket

        apart._forker_seq += 1
        r, w = os.pipe()
        data = pickle.dumps((_first, None, None, (7,)))
        socket.send_fds(apart._forker, [apart._forker_seq.to_bytes(8, "big") + len(data).to_bytes(8, "big") + data],
                        [w])
        os.close(w)
        h = apart.serve(_own_pid, _prepare, _then, 8)
        stale = b""
        while chunk := os.read(r, 1 << 16):
            stale += chunk
        os.close(r)
        assert pickle.loads(stale[8:])[1] == 7
        assert apart.receive(h) == h.pid  # the pid is its own child's
        assert apart.request(h, 2) and apart.result(h) == 6
    finally:
        forker = apart._forker_pid
        apart.stop_forker()
        assert apart._forker is None and _gone(forker)


def _late(value, seconds):
    time.sleep(seconds)
    return value


def test_work_given_meanwhile_is_done_while_a_child_is_waited_for(monkeypatch):
    monkeypatch.setattr(apart, "_meanwhile", [])
    done = []

    def fails():
        done.append("fails")
        raise RuntimeError("its caller makes it again, and says so")

    apart.meanwhile(fails)
    apart.meanwhile(lambda: done.append("then"))
    h = apart.start(_late, 42, 0.5)
    assert h is not None
    assert apart.result(h) == 42  # (a failure in one is not the child's)
    assert done == ["fails", "then"] and apart._meanwhile == []


def test_work_given_meanwhile_waits_when_the_value_is_there(monkeypatch):
    monkeypatch.setattr(apart, "_meanwhile", [])
    h = apart.start(_late, 7, 0)
    time.sleep(0.5)  # (the value is in the pipe)
    done = []
    apart.meanwhile(lambda: done.append(1))
    apart.meanwhile(lambda: done.append(1))
    assert apart.result(h) == 7
    assert done == [] and len(apart._meanwhile) == 2  # left to the caller

