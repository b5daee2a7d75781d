"""The language server's engine without the protocol: the content-hash cache,
the latest-only queue, cancellation of a stale analysis, header stamps."""

from __future__ import annotations

import threading
import time
from pathlib import Path


from entrylint.faces.lsp.engine import Config, Engine, Job, Result, run_check

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "lsp"


class Recorder:
    def __init__(self):
        self.got: list[Result] = []
        self.event = threading.Event()

    def __call__(self, res):
        self.got.append(res)
        self.event.set()

    def wait(self, n: int, timeout: float = 30) -> list[Result]:
        end = time.monotonic() + timeout
        while len(self.got) < n and time.monotonic() < end:
            self.event.wait(0.05)
            self.event.clear()
        return self.got


def _slow_runner(log):
    """A runner that spins in Python (as the analysis does) until stopped."""

    def run(path, text, config):
        log.append(("start", text))
        if text.startswith("slow"):
            end = time.monotonic() + 20
            while time.monotonic() < end:
                pass
        log.append(("end", text))
        return Result(path, None, text, [], None)

    return run


def test_newer_edit_cancels_the_running_analysis():
    log, rec = [], Recorder()
    eng = Engine(rec, runner=_slow_runner(log))
    p = Path("/x/a.S")
    eng.submit(Job(p, "slow v1", 1, Config()))
    while not log:
        time.sleep(0.01)
    t0 = time.monotonic()
    eng.edited(p, 2)
    eng.submit(Job(p, "fast v2", 2, Config()))
    got = rec.wait(1)
    assert time.monotonic() - t0 < 5  # not the 20 s of the stale analysis
    assert [r.text for r in got] == ["fast v2"] and got[0].version == 2
    assert ("end", "slow v1") not in log and eng.stats["cancelled"] == 1
    eng.stop()


def test_queue_keeps_only_the_newest_text_of_a_path():
    log, rec = [], Recorder()
    gate = threading.Event()

    def run(path, text, config):
        log.append(text)
        gate.wait(10)
        return Result(path, None, text, [], None)

    eng = Engine(rec, runner=run)
    a, b = Path("/x/a.S"), Path("/x/b.S")
    eng.submit(Job(b, "b1", 1, Config()))  # occupies the worker
    while not log:
        time.sleep(0.01)
    for v in range(1, 6):
        eng.submit(Job(a, f"a{v}", v, Config()))
    gate.set()
    got = rec.wait(2)
    assert [r.text for r in got] == ["b1", "a5"]
    assert log == ["b1", "a5"]  # a1..a4 were never analysed
    eng.stop()


def test_same_content_is_answered_from_the_cache():
    calls, rec = [], Recorder()

    def run(path, text, config):
        calls.append(text)
        return Result(path, None, text, [], None)

    eng = Engine(rec, runner=run)
    p = Path("/x/a.S")
    for v, t in ((1, "one"), (2, "two"), (3, "one")):
        eng.submit(Job(p, t, v, Config()))
        rec.wait(v)
    assert calls == ["one", "two"]
    assert rec.got[2].cached and rec.got[2].version == 3
    # another profile is another key
    eng.submit(Job(p, "one", 4, Config(profiles=("max",))))
    rec.wait(4)
    assert calls == ["one", "two", "one"]
    eng.stop()


def test_a_changed_header_on_disk_misses_the_cache(tmp_path):
    for f in FIX.iterdir():
        (tmp_path / f.name).write_text(f.read_text())
    src, hdr = tmp_path / "entry_lsp.S", tmp_path / "switch_cr3.h"
    rec = Recorder()
    eng = Engine(rec)
    text = src.read_text()
    eng.submit(Job(src, text, 1, Config()))
    (r1,) = rec.wait(1)
    assert str(hdr.resolve()) in r1.files and any(f.id == "EL201" for f in r1.findings)
    assert eng.includers_of(str(hdr.resolve())) == [src]
    hdr.write_text(hdr.read_text().replace("\tcall\ttrace_hardirqs_off\n", ""))
    eng.submit(Job(src, text, 2, Config()))
    r2 = rec.wait(2)[1]
    assert not r2.cached and not any(f.id == "EL201" for f in r2.findings)
    eng.stop()


def test_run_check_applies_suppressions_in_the_buffer():
    src = FIX / "entry_lsp.S"
    text = src.read_text().replace("\tTRACE_THEN_SWITCH", "\t/* entrylint: ignore[EL201] test */\n\tTRACE_THEN_SWITCH")
    ids = [f.id for f in run_check(src, text, Config()).findings]
    assert "EL201" not in ids and "EL912" not in ids and "EL204" in ids


def test_cancel_stops_a_real_analysis_of_a_big_file(kernel_tree_612):
    src = kernel_tree_612 / "arch/x86/entry/entry_64.S"
    text = src.read_text()
    rec = Recorder()
    eng = Engine(rec)
    eng.submit(Job(src, text + "\n/* v1 */\n", 1, Config()))
    time.sleep(0.3)  # inside the analysis
    eng.edited(src, 2)
    eng.submit(Job(src, text, 2, Config()))
    got = rec.wait(1, timeout=120)
    assert [r.version for r in got] == [2] and got[0].error is None
    assert eng.stats["cancelled"] == 1 and eng.stats["analysed"] == 1
    eng.stop()


def test_skeleton_sees_code_not_comments():
    from entrylint.faces.lsp.reuse import line_map, skeleton

    text = "a /* x */\n/* multi\n line */ b\n\tmovq %rax, %rbx\t/* why */\n/* pre */ d\n"
    assert skeleton(text) == [(1, "a"), (3, " line */ b"), (4, "\tmovq %rax, %rbx"), (5, "/* pre */ d")]
    assert line_map(text, text.replace("why", "because")) == {1: 1, 3: 3, 4: 4, 5: 5}
    assert line_map(text, "/* new */\n\n" + text) == {1: 3, 3: 5, 4: 6, 5: 7}
    assert line_map(text, text.replace("pre", "post")) is None  # code after a comment: its column moved
    assert line_map(text, text.replace("movq", "movl")) is None
    assert line_map(text, text.replace("multi", "multi */ c /*")) is None  # code out of a comment


def test_comment_edit_reuses_the_analysis_and_moves_findings():
    src = FIX / "entry_lsp.S"
    text = src.read_text()
    rec = Recorder()
    eng = Engine(rec)
    eng.submit(Job(src, text, 1, Config()))
    (r1,) = rec.wait(1)
    line = 1 + next(i for i, s in enumerate(text.splitlines()) if "TRACE_THEN_SWITCH scratch" in s)
    assert any(f.id == "EL201" and f.location.line == line for f in r1.findings)
    # two comment lines above the entry, a comment changed at the end of a line
    edited = text.replace("\t.section", "/* one */\n/* two */\n\t.section", 1).replace(
        "scratch_reg=%rsp", "scratch_reg=%rsp\t/* the switch */")
    eng.submit(Job(src, edited, 2, Config()))
    r2 = rec.wait(2)[1]
    assert r2.reused and eng.stats["analysed"] == 1 and r2.analysis is r1.analysis
    el201 = [f for f in r2.findings if f.id == "EL201"]
    assert [f.location.line for f in el201] == [line + 2]
    assert el201[0].path[-1].location.line == line + 2
    assert r2.analysed_line(line + 2) == line and r2.shown_line(line) == line + 2
    # the same edit as a fresh analysis gives the same findings (what reuse stands in for)
    fresh = run_check(src, edited, Config())
    assert sorted((f.id, f.location.line, f.message) for f in fresh.findings) == \
        sorted((f.id, f.location.line, f.message) for f in r2.findings)
    # a suppression typed in a comment applies without an analysis
    sup = edited.replace("\tTRACE_THEN_SWITCH", "\t/* entrylint: ignore[EL201] tested */\n\tTRACE_THEN_SWITCH")
    eng.submit(Job(src, sup, 3, Config()))
    r3 = rec.wait(3)[2]
    assert r3.reused and eng.stats["analysed"] == 1
    assert not any(f.id in ("EL201", "EL912") for f in r3.findings)
    # a code edit is analysed again
    eng.submit(Job(src, sup.replace("pushq\t%rcx", "pushq\t%rdx"), 4, Config()))
    r4 = rec.wait(4)[3]
    assert not r4.reused and eng.stats["analysed"] == 2
    # a comment typed into the first text (after an undo) reuses the cached analysis of it
    eng.submit(Job(src, text + "/* the end */\n", 5, Config()))
    r5 = rec.wait(5)[4]
    assert r5.reused and r5.analysis is r1.analysis and eng.stats["analysed"] == 2
    eng.stop()


def test_rule_table_read_while_it_is_built(monkeypatch):
    """The server reads the rule table in a thread at `initialized`; a hover on
    the event loop that asks meanwhile gets the whole table, never the part
    read so far (CI once saw a hover of a rule id fall through to the line's
    diagnostics: EL204 was not in the table yet)."""
    from entrylint.faces.lsp import features
    from entrylint.report import sarif

    real = sarif.rule_infos()
    first_read, go_on = threading.Event(), threading.Event()

    def slow_infos():
        for k, info in enumerate(real):
            if k == 1:
                first_read.set()
                go_on.wait(10)
            yield info

    monkeypatch.setattr(sarif, "rule_infos", slow_infos)
    monkeypatch.setattr(features, "_infos", None)
    reader = threading.Thread(target=features.rule_infos)
    reader.start()
    assert first_read.wait(10)
    got = {}
    asker = threading.Thread(target=lambda: got.update(features.rule_infos()))
    asker.start()
    time.sleep(0.2)  # the asker is waiting (or, unguarded, has read the part)
    go_on.set()
    reader.join(10)
    asker.join(10)
    assert {i.id for i in real} <= set(got)
    assert features.rule_hover("EL204").startswith("**EL204 user-stack-access**")


def test_several_profiles_give_the_command_lines_findings():
    """The profiles an editor asks for are merged as api.check merges them:
    under defconfig the unswitched entry's first harm is the %gs access
    (EL202), a later step of max's EL201 -- one fault, one finding, with
    the same profiles, sites and later steps as the command line's."""
    from entrylint import api
    from entrylint.source.tree import find_root

    src = Path(__file__).resolve().parents[1] / "fixtures" / "findings" / "entry_never_switches_profiles.S"
    root = find_root(src)
    got = run_check(src, src.read_text(), Config(profiles=("max", "defconfig", "pti-off"), root=root)).findings
    want = api.check(src, api.Options(root=root), keep_analysis=False).findings

    def shown(fs):
        return [(f.id, f.location, f.profiles, f.sites, f.later, f.message) for f in fs]

    assert "EL202" not in [f.id for f in got]
    assert shown(got) == shown(want)


def test_the_replaced_analysis_is_freed_after_the_diagnostics_are_out():
    """What a re-analysis replaced of the incremental state (the last
    reading's state) is still alive when its diagnostics are published and
    freed just after: the editor does not wait for it."""
    import gc
    import weakref

    from dataclasses import replace

    from entrylint.api import Options
    from entrylint.faces.lsp import engine

    src = FIX / "entry_lsp.S"
    text = src.read_text()
    rec, alive_at_publish, states = Recorder(), [], []

    def on(res):
        alive_at_publish.append([r() is not None for r in states])
        session = engine.sessions().session(src, replace(Options(), profile="defconfig"))[0]
        if session.state is not None:
            states.append(weakref.ref(session.state))
        rec(res)

    eng = Engine(on)
    eng.submit(Job(src, text, 1, Config()))
    rec.wait(1)
    eng.submit(Job(src, text.replace("\tswapgs\n", "\tnop\n\tswapgs\n", 1), 2, Config()))
    rec.wait(2)
    end = time.monotonic() + 30
    while states[0]() is not None and time.monotonic() < end:
        time.sleep(0.05)
        gc.collect()
    eng.stop()
    assert len(rec.got) == 2 and alive_at_publish[1] == [True]  # (the first reading's state, replaced: held)
    assert states[0]() is None  # (then freed)


def test_the_replaced_analysis_is_freed_once_the_result_is_out(monkeypatch):
    """An ``on_result`` that publishes on another thread returns an event
    set once the result is out: the worker frees what the analysis
    replaced only then (a cascade of frees holds the interpreter lock to
    its end: the publishing waited for it)."""
    import gc
    import weakref

    from dataclasses import replace

    from entrylint.api import Options
    from entrylint.faces.lsp import engine

    monkeypatch.setattr(engine, "PUBLISH_WAIT", 60.0)
    src = FIX / "entry_lsp.S"
    text = src.read_text()
    rec, states, out = Recorder(), [], [threading.Event(), threading.Event()]

    def on(res):
        session = engine.sessions().session(src, replace(Options(), profile="defconfig"))[0]
        if session.state is not None:
            states.append(weakref.ref(session.state))
        rec(res)
        return out[len(rec.got) - 1]

    eng = Engine(on)
    eng.submit(Job(src, text, 1, Config()))
    rec.wait(1)
    out[0].set()
    eng.submit(Job(src, text.replace("\tswapgs\n", "\tnop\n\tswapgs\n", 1), 2, Config()))
    rec.wait(2)
    time.sleep(0.5)
    gc.collect()
    assert len(rec.got) == 2 and states[0]() is not None  # (not out yet: the first reading's state held)
    out[1].set()
    end = time.monotonic() + 30
    while states[0]() is not None and time.monotonic() < end:
        time.sleep(0.05)
        gc.collect()
    eng.stop()
    assert states[0]() is None  # (out: freed)


def test_publishing_resolves_each_path_once(monkeypatch, tmp_path):
    """A diagnostic names its file and its related places by URI: publishing
    resolves each path once while the server runs (each resolution is a
    system call per folder of it; 6.12's entry_64.S's results named
    hundreds), and reads a file's lines once per publishing."""
    from pathlib import Path as P

    from entrylint.faces.lsp import features, server

    src, hdr = tmp_path / "a.S", tmp_path / "b.h"
    src.write_text("\tnop\n\tnop\n")
    hdr.write_text("\tnop\n")
    resolved, read = [], []
    real_resolve = P.resolve
    monkeypatch.setattr(P, "resolve", lambda self, *a: resolved.append(str(self)) or real_resolve(self, *a))
    # (no editor here: the file's lines from disk, as for a file not open)
    monkeypatch.setattr(server.EntrylintServer, "_lines", lambda self, f: read.append(f) or P(f).read_text().splitlines())
    server._uri.cache_clear()
    srv = server.EntrylintServer()
    d = features.Diag(str(src), 2, 1, "error", "EL101", "live-scratch", "m",
                      related=[(str(hdr), 1, "here"), (str(src), 1, "there")], site=(str(src), 2))
    lines_of: dict = {}
    out = [srv._diagnostic(d, lines_of) for _ in range(3)]
    assert out[0] == out[2] and out[0].related_information[0].location.uri == hdr.as_uri()
    assert len(resolved) == len(set(resolved)) and {str(src), str(hdr)} <= set(resolved) and read == [str(src)]
