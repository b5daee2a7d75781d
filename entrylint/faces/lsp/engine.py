"""The language server's analysis engine: one worker thread, a cache of
results by content, and cancellation of work a newer edit made stale.

Nothing here speaks LSP: the server hands in (path, text, version) jobs and
gets back ``Result`` objects through a callback, in the worker thread.

Incremental, in-process only:

* a result is cached under the hash of the buffer, the configuration
  (profiles, options, settings) and the stamps (mtime, size) of every file
  the last analysis of that path read (its ``#include``s): an edit that
  restores an earlier text, a save that changes nothing, a second view of
  the same file, are answered from the cache without analysing;
* jobs are kept per path, latest only: edits typed while an analysis runs
  replace each other in the queue and only the newest is analysed;
* an analysis of a path that a newer edit made stale is cancelled: an
  exception is raised in the worker thread (``Cancelled``, a BaseException
  so no ``except Exception`` in the pipeline swallows it) and its result is
  never published.  The event loop never waits for an analysis.
"""

from __future__ import annotations

import ctypes
import hashlib
import threading
import time
from collections import OrderedDict
from dataclasses import field, replace
from pathlib import Path
from typing import Callable

from entrylint.faces.lsp import features, reuse
from entrylint.source.reader import stamps as file_stamps
from entrylint.source.record import data


class Cancelled(BaseException):
    """Raised in the worker thread to stop an analysis a newer edit made stale."""


@data
class Config:
    """What the editor and the workspace settings file say about a check."""

    profiles: tuple[str | None, ...] = ("defconfig",)  # (None,) = every built-in profile
    select: tuple[str, ...] | None = None
    ignore: tuple[str, ...] = ()
    rule_options: dict = field(default_factory=dict)
    baseline: Path | None = None
    root: Path | None = None

    def key(self) -> tuple:
        return (self.profiles, self.select, self.ignore, repr(sorted(self.rule_options.items())),
                str(self.baseline), str(self.root))


@data
class Result:
    """One analysis of one buffer: the findings after suppressions and the
    baseline, the first profile's analysis (for hover, definition, hints)."""

    path: Path
    version: int | None
    text: str
    findings: list
    analysis: object | None  # api.Analysis
    files: tuple[str, ...] = ()  # every other file the preprocessor read (the headers)
    error: str | None = None
    seconds: float = 0.0
    cached: bool = False
    raw: list = field(default_factory=list)  # the findings before suppressions and the baseline
    config: Config | None = None
    stamps: tuple = ()  # (file, mtime, size) of the headers read, when analysed
    # reuse.py: this text's line -> the analysed text's line, when the result
    # was carried over from an analysis of a text with the same code (None: same text)
    lines: dict[int, int] | None = None
    reused: bool = False
    how: str = ""  # how the file was read (incremental.py: "full", "resumed at ...")
    skeleton: list | None = field(default=None, repr=False)  # reuse.skeleton(text), once asked

    def code(self) -> list:
        """reuse.skeleton of the text, made once (each edit compares the new text with recent results')."""
        if self.skeleton is None:
            self.skeleton = reuse.skeleton(self.text)
        return self.skeleton

    def analysed_line(self, line: int) -> int | None:
        """The line of the analysed text that ``line`` (1-based) of this text is."""
        return line if self.lines is None else self.lines.get(line)

    def shown_line(self, line: int) -> int | None:
        """The line of this text that ``line`` of the analysed text is."""
        if self.lines is None:
            return line
        inv = getattr(self, "_inv", None)
        if inv is None:
            inv = self._inv = {v: k for k, v in self.lines.items()}
        return inv.get(line)


@data
class Job:
    path: Path
    text: str
    version: int | None
    config: Config
    submitted: float = field(default_factory=time.monotonic)


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


_SESSIONS = None
PUBLISH_WAIT = 1.0  # seconds the worker waits for a result to be published before freeing the last one


def sessions():
    """The incremental re-reading state of the buffers analysed (incremental.py),
    used by the worker thread only."""
    global _SESSIONS
    if _SESSIONS is None:
        from entrylint.incremental import Sessions

        _SESSIONS = Sessions()
    return _SESSIONS


_TREES: set[str] = set()  # the trees analysed in this process: their facts are known here


def run_check(path: Path, text: str, config: Config) -> Result:
    """Analyse one buffer under ``config`` (in the worker thread): an edited
    buffer is read again from the first line the edit changed (incremental.py).
    The first analysis of a tree under one profile makes the tree's facts and
    the C answers in a process apart (api.check's ``spare_core``), when the server
    has a forker (apart.start_forker)."""
    from entrylint import api, apart
    from entrylint.findings.group import fold_profiles, merge_profile
    from entrylint.findings.model import Finding

    t0 = time.perf_counter()
    opts = api.Options(root=config.root)
    merged: dict[tuple, Finding] = {}
    first = None
    how = []
    spare = False
    if apart.forker_running() and len(config.profiles) == 1 and config.profiles[0] is not None:
        root = str(api.resolve_root(path, opts))
        spare = root not in _TREES
        _TREES.add(root)
    for prof in config.profiles:
        res = api.check(path, replace(opts, profile=prof), select=config.select, ignore=config.ignore,
                        text=text, rule_options=config.rule_options, incremental=sessions(), spare_core=spare)
        how.append(sessions().session(path, replace(opts, profile=prof))[0].last + ("; tree apart" if spare else ""))
        first = first or res
        merge_profile(merged, res.findings)  # (as api.check merges its profiles: the CLI's findings)
    raw = fold_profiles(sorted(merged.values(), key=Finding.sort_key))
    an = first.analysis if first else None
    main = features.real(str(path))
    files = tuple(f for f in an.expansion.pp.files if f != main) if an is not None else ()
    return Result(path, None, text, finish(path, text, raw, config), an, files,
                  seconds=time.perf_counter() - t0, raw=raw, config=config, how="; ".join(dict.fromkeys(how)))


def finish(path: Path, text: str, raw: list, config: Config) -> list:
    """The findings shown: the suppressions of ``text`` applied, then the baseline."""
    from entrylint.findings import suppress

    found = suppress.apply(raw, {features.real(str(path)): text})
    if config.baseline is not None and config.baseline.is_file():
        found = suppress.filter_baseline(found, suppress.read_baseline(config.baseline))
    return found


def carry_over(prev: Result, job: Job, stamps: tuple, code: list | None = None) -> Result | None:
    """A result for ``job`` from ``prev`` when the edit between them changed
    no code (reuse.py) and nothing else the analysis read changed.
    ``code``: reuse.skeleton(job.text), when made."""
    if prev.error or prev.analysis is None or prev.config is None or prev.config.key() != job.config.key() \
            or prev.stamps != stamps:
        return None
    moved = reuse.line_map(prev.text, job.text, prev.code(), code)
    if moved is None:
        return None
    t0 = time.perf_counter()
    raw = reuse.move_findings(prev.raw, features.real(str(job.path)), moved)
    if raw is None:
        return None
    back = {new: (prev.analysed_line(old)) for old, new in moved.items()}
    return Result(job.path, job.version, job.text, finish(job.path, job.text, raw, job.config), prev.analysis,
                  prev.files, raw=raw, config=job.config, stamps=stamps,
                  lines={k: v for k, v in back.items() if v is not None}, reused=True,
                  seconds=time.perf_counter() - t0)


class Engine:
    """A single worker thread analysing the newest buffer of each path."""

    def __init__(self, on_result: Callable[[Result], threading.Event | None], runner=run_check,
                 cache_size: int = 12):
        """``on_result(res)`` hands a result over (the server publishes it on
        its own thread) and may return an event set once it is out: what
        the analysis replaced is freed after that (a cascade of frees of
        tens of thousands of records holds the interpreter lock to its end,
        and the publishing waited for it: 5 to 6 ms of each answer)."""
        self._on_result = on_result
        self._runner = runner
        self._cache: OrderedDict[tuple, Result] = OrderedDict()
        self._cache_size = cache_size
        self._deps: dict[Path, tuple[str, ...]] = {}  # path -> files its last analysis read
        self._pending: OrderedDict[Path, Job] = OrderedDict()
        self._latest: dict[Path, int | None] = {}  # newest version submitted, per path
        self._results: dict[Path, Result] = {}  # newest published result, per path
        self._running: Job | None = None
        self._in_analysis = False
        self._cond = threading.Condition()
        self._stopped = False
        self._last: dict[Path, Result] = {}  # the newest result of each path (for carry_over)
        self.stats = {"analysed": 0, "cached": 0, "reused": 0, "cancelled": 0, "dropped": 0}
        self._thread = threading.Thread(target=self._loop, name="entrylint-analysis", daemon=True)
        self._thread.start()

    # -- called from the server's thread ----------------------------------
    def submit(self, job: Job) -> None:
        with self._cond:
            self._latest[job.path] = job.version
            self._pending.pop(job.path, None)
            self._pending[job.path] = job
            run = self._running
            if run is not None and run.path == job.path and self._in_analysis and run.text != job.text:
                self._cancel_running()
            self._cond.notify()

    def edited(self, path: Path, version: int | None) -> None:
        """A newer text of ``path`` exists (it is submitted after the debounce):
        the running analysis of an older one is cancelled now."""
        with self._cond:
            self._latest[path] = version
            self._pending.pop(path, None)
            run = self._running
            if run is not None and run.path == path and self._in_analysis and run.version != version:
                self._cancel_running()

    def result(self, path: Path) -> Result | None:
        with self._cond:
            return self._results.get(path)

    def busy(self, path: Path) -> bool:
        with self._cond:
            return path in self._pending or (self._running is not None and self._running.path == path)

    def includers_of(self, file: str) -> list[Path]:
        """The analysed paths whose last analysis read ``file``."""
        with self._cond:
            return [p for p, files in self._deps.items() if file in files]

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()

    def _cancel_running(self) -> None:
        # the lock is held and the worker is inside the runner: stop it there
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self._thread.ident),
                                                   ctypes.py_object(Cancelled))
        self._in_analysis = False  # one exception per analysis
        self.stats["cancelled"] += 1

    # -- the worker thread --------------------------------------------------
    def _key(self, job: Job) -> tuple:
        deps = self._deps.get(job.path, ())
        return (str(job.path), text_hash(job.text), job.config.key(), file_stamps(deps))

    def _carry_over(self, job: Job, prev: Result | None, stamps: tuple, code: list) -> Result | None:
        """A result carried over from the newest result of the path, else from
        a cached one (an undo back to an older text, then a comment typed).
        ``code``: reuse.skeleton(job.text)."""
        cands = [prev] if prev is not None else []
        cands += [r for r in reversed(self._cache.values()) if r.path == job.path and r is not prev][:4]
        for cand in cands:
            res = carry_over(cand, job, stamps, code)
            if res is not None:
                res.skeleton = code
                return res
        return None

    def _loop(self) -> None:
        while True:
            try:
                self._one()
            except Cancelled:
                with self._cond:
                    self._in_analysis = False
                    self._running = None
            if self._stopped:
                return

    def _one(self) -> None:
        with self._cond:
            while not self._pending and not self._stopped:
                self._cond.wait()
            if self._stopped:
                return
            _, job = self._pending.popitem(last=False)
            self._running = job
        key = self._key(job)
        res = self._cache.get(key)
        prev = self._last.get(job.path)
        if res is not None:
            self._cache.move_to_end(key)
            self.stats["cached"] += 1
            res = replace(res, version=job.version, cached=True, seconds=0.0)
        elif (res := self._carry_over(job, prev, key[3], code := reuse.skeleton(job.text))) is not None:
            self.stats["reused"] += 1
            self._cache[key] = res
        else:
            with self._cond:
                self._in_analysis = True
            try:
                res = self._runner(job.path, job.text, job.config)
            except Cancelled:
                raise
            except Exception as e:  # noqa: BLE001 - the editor gets a message, the server lives on
                res = Result(job.path, job.version, job.text, [], None,
                             error=f"internal error: {type(e).__name__}: {e}")
            finally:
                with self._cond:
                    self._in_analysis = False
            res.version = job.version
            res.skeleton = code if res.text is job.text else None
            self.stats["analysed"] += 1
            if res.error is None:
                self._deps[job.path] = res.files
                res.stamps = file_stamps(res.files)
                self._cache[(*key[:3], res.stamps)] = res  # (_key with the files this analysis read)
        # the results let go (the oldest cached, the path's last one), and what
        # the check replaced of the incremental state, are freed once the
        # diagnostics are out (__init__'s ``on_result``)
        evicted = [self._cache.popitem(last=False) for _ in range(len(self._cache) - self._cache_size)]
        if res.error is None:
            evicted.append(self._last.get(job.path))
            self._last[job.path] = res
        with self._cond:
            self._running = None
            stale = self._latest.get(job.path, job.version) != job.version or job.path in self._pending
            if stale:
                self.stats["dropped"] += 1  # a newer edit came in: never publish the stale result
            else:
                evicted.append(self._results.get(job.path))
                self._results[job.path] = res
        out = self._on_result(res) if not stale else None
        if out is not None:  # (the publishing first: freeing holds the interpreter until it ends)
            out.wait(PUBLISH_WAIT)
        del evicted, prev
        if _SESSIONS is not None:
            _SESSIONS.release()
