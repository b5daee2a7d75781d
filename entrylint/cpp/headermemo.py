"""A header read once per process, not once per file that includes it.

Every ``.S`` file of a tree starts with the same few headers (linkage.h,
the asm headers it pulls in, kconfig.h's autoconf.h): a run over
arch/x86 read them about 1150 times in 144 files, 1.9 s of its 12.7 s
(6.12, one profile).  What reading a header does is a function of the
macro table when it starts, the ``#if`` condition around the ``#include``,
the include depth, where ``#include_next`` goes on from, the options, and
the files and the include search it reads.  So the first reading of a
header in a given state is recorded, and a later ``#include`` of it in the
same state replays the record: the same ``#define``/``#undef`` in the same
order, the same output lines, files read, include answers and limit counts.

**The state** is named by an id: the id of the options' starting table
(everything ``Preprocessor.setup`` reads), then, at each header start and
end, the id of (id before, the ``#define``/``#undef`` since, as (name, the
Macro object or None)).  A header's ``#define`` gives one Macro object per
lexed line and condition (``preprocessor._DEFINES``), so two runs that
read the same headers in the same order share the ids; equal ids are equal
tables, with their order (an id is a sequence of writes, never a guess).
Two equal tables reached otherwise get two ids: a record missed, no more.

**A record is replayed** only when it still holds: the header's text is the
same object lexed (``lex_file_once`` gives one per text), every file it read
has the text it had (read again, as an ``#include`` reads it), every
include it resolved resolves the same (the search probed again), and the
limits it counted (``includes``, ``cpp-lines``, ``cpp-expansions``) hold
its counts here.  A reading is **not recorded** when it gave a problem
(limits, errors, missing headers), moved ``__COUNTER__``, read
``__BASE_FILE__``, read the file being checked, or read a file whose text
is no longer at hand -- each of these depends on more than the state.

A run resumed from a snapshot (cpp/resume.py) has no id for its table and
neither records nor replays.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from entrylint.cpp import directives as D
from entrylint.cpp.lexer import _LEXED
from entrylint.source.reader import read_source

_ids = itertools.count(1)  # never reused: a record keyed by a forgotten id is never met again
_STATES: dict[tuple, int] = {}  # (id before, writes since) or ("setup", options) -> id
_RECORDS: dict[tuple, list[Record]] = {}  # (path, id, condition, depth, found_idx) -> records
_KCONFIG: dict[int, tuple] = {}  # id(Kconfig) -> (it, its value as a key)
# bounds: the tables are emptied when they pass them (a long-lived language
# server, a fuzzer's headers).  A run over 6.12's arch/x86 keeps about 2.4k
# ids, 2k records and 290k writes in them: ~14 MB, most of it the Macros of
# headers read under another #if condition in each file
MAX_STATES = 100_000
MAX_RECORDS = 20_000
MAX_WRITES = 1_000_000
_held = [0]  # the writes the tables hold
PER_KEY = 4  # records of one key kept (other lexed texts of the header)


@dataclass(slots=True, eq=False)
class Record:
    lexed: object  # the header's LexedFile when recorded (a replay needs this one)
    exit_id: int
    writes: tuple  # ((name, Macro | None), ...) in order
    lines: tuple  # PPLines output
    files: tuple  # ((path, text, lexed, given), ...) the first _lex of each path, in order
    seen: tuple  # paths read, in order (Preprocessor.files)
    found: tuple  # ((resolve key, answer), ...)
    fallbacks: tuple
    includes: int
    cpp_lines: int
    depth: int  # the deepest include depth reached (0: none)
    exp_count: int
    exp_deepest: int
    exp_site: object


class Recorder:
    __slots__ = ("key", "lexed", "tainted", "depth", "w0", "f0", "s0", "r0", "out0", "problems0", "fallbacks0",
                 "includes0", "lines0", "count0", "counter0", "deepest0", "over0", "deep0")


def _kconfig_key(kc) -> tuple | None:
    if kc is None:
        return None
    got = _KCONFIG.get(id(kc))
    if got is None or got[0] is not kc:
        if len(_KCONFIG) > 64:
            _KCONFIG.clear()
        got = _KCONFIG[id(kc)] = (kc, (kc.name, frozenset(kc.values.items())))
    return got[1]


def start(pp) -> None:
    """After ``pp.setup()``: the id of its starting table."""
    o = pp.opts
    try:
        key = ("setup", o.search, _kconfig_key(o.kconfig), tuple(o.defines.items()), o.undefines, o.limits)
        hash(key)
    except TypeError:  # an option of a kind that cannot be a key: this run neither records nor replays
        pp._sid = None
        return
    if len(_STATES) > MAX_STATES or len(_RECORDS) > MAX_RECORDS or _held[0] > MAX_WRITES:
        _STATES.clear()
        _RECORDS.clear()
        _held[0] = 0
    sid = _STATES.get(key)
    if sid is None:
        sid = _STATES[key] = next(_ids)
    pp._sid, pp._wmark = sid, len(pp._wlog)


def _point(pp) -> int:
    """The id of ``pp``'s table now: negative for a table no other run can
    have (made with a ``#define`` of the file checked, whose Macro is this
    run's own), which is neither kept nor recorded in."""
    log, mark = pp._wlog, pp._wmark
    if mark == len(log):
        return pp._sid
    if pp._sid < 0 or pp._mine:
        sid = -next(_ids)
    else:
        key = (pp._sid, tuple(log[mark:]))
        sid = _STATES.get(key)
        if sid is None:
            sid = _STATES[key] = next(_ids)
            _held[0] += len(key[1])
    pp._sid, pp._wmark, pp._mine = sid, len(log), False
    return sid


def taint(pp) -> None:
    for r in pp._recs:
        r.tainted = True


REPLAYED = object()


def begin(pp, path: str, lexed, found_idx):
    """At the start of a header's lines (``Preprocessor.run_file``): replay
    a record of it (``REPLAYED`` back: its reading is done), or start
    recording (a Recorder for ``end``), or neither (None: a table of this
    run's own)."""
    sid = _point(pp)
    if sid < 0:
        return None
    key = (path, sid, pp.cond, len(pp.stack), found_idx)
    for rec in _RECORDS.get(key, ()):
        if rec.lexed is lexed and _replay(pp, rec):
            return REPLAYED
    r = Recorder()
    r.key, r.lexed, r.tainted, r.depth = key, lexed, False, 0
    r.w0, r.f0, r.s0, r.r0 = len(pp._wlog), len(pp._flog), len(pp._slog), len(pp._rlog)
    r.out0, r.problems0, r.fallbacks0 = len(pp.out), len(pp.problems), len(pp.fallbacks)
    r.includes0, r.lines0 = pp.peak["includes"], pp.peak["cpp-lines"]
    r.count0, r.counter0, r.deepest0 = pp.exp.count, pp.counter, pp.exp.deepest
    r.over0, r.deep0 = len(pp._over), len(pp._deep)
    pp.exp.deepest = 0  # (the header's own deepest nesting, kept with it)
    pp._recs.append(r)
    return r


def end(pp, r: Recorder, finished: bool) -> None:
    """After the header's lines (``finished``: read to the end, no exception)."""
    pp._recs.pop()  # (r: the innermost)
    exp = pp.exp
    deepest = exp.deepest
    exp.deepest = max(r.deepest0, deepest)
    if not finished or r.tainted or len(pp.problems) != r.problems0 or pp.counter != r.counter0 \
            or len(pp._over) != r.over0 or len(pp._deep) != r.deep0 or exp.exhausted:
        return
    firsts: dict[str, tuple] = {}
    for entry in pp._flog[r.f0:]:
        firsts.setdefault(entry[0], entry)
    count = exp.count - r.count0
    rec = Record(r.lexed, _point(pp), tuple(pp._wlog[r.w0:]), tuple(pp.out[r.out0:]), tuple(firsts.values()),
                 tuple(pp._slog[r.s0:]), tuple(pp._rlog[r.r0:]), tuple(pp.fallbacks[r.fallbacks0:]),
                 pp.peak["includes"] - r.includes0, pp.peak["cpp-lines"] - r.lines0, r.depth, count, deepest,
                 exp.site if count else None)
    _held[0] += len(rec.writes)
    got = _RECORDS.setdefault(r.key, [])
    if len(got) >= PER_KEY:
        del got[0]
    got.append(rec)


def lexed_file(pp, path: str, lexed, given: str | None) -> None:
    """``Preprocessor._lex`` gave ``lexed`` for ``path`` (``given``: the text
    it was handed, the autoconf.h a configuration writes) while recording."""
    if lexed is None or path == pp.main:
        taint(pp)
        return
    if given is not None:
        pp._flog.append((path, given, lexed, True))
        return
    got = _LEXED.get(path)
    if got is None or got[1] is not lexed:
        taint(pp)  # its text is no longer at hand: a replay could not compare it
        return
    pp._flog.append((path, got[0], lexed, False))


def _replay(pp, rec: Record) -> bool:
    lim, peak, exp = pp.opts.limits, pp.peak, pp.exp
    if peak["includes"] + rec.includes > lim.includes or peak["cpp-lines"] + rec.cpp_lines > lim.cpp_lines \
            or exp.exhausted or exp.count + rec.exp_count > exp.limit:
        return False  # a limit would be met inside: read it, and report it where it is met
    cache = pp.cache
    for path, text, lexed, given in rec.files:
        if given or path in cache:
            if not given and cache[path] is not lexed:
                return False
            continue
        now, problem = read_source(path, lim)
        if problem is not None or now != text:
            return False
    found = pp._found
    for key, answer in rec.found:
        got = found.get(key)
        if got is None:
            name, angled, cur_dir, after = key
            got = found[key] = D.find_include(name, angled, cur_dir, pp.opts.search, after)
        if got != answer:
            return False
    # it holds: what reading the header did, done
    macros = pp.macros
    for name, m in rec.writes:
        if m is None:
            macros.pop(name, None)
        else:
            macros[name] = m
    pp._wlog.extend(rec.writes)
    pp._sid, pp._wmark = rec.exit_id, len(pp._wlog)
    for path, text, lexed, given in rec.files:
        if given or path not in cache:
            peak["file-size"] = max(peak["file-size"], len(text))
            pp.headers_size = max(pp.headers_size, len(text))
            cache[path] = lexed
    pp.out.extend(rec.lines)
    seen = pp._seen_files
    for path in rec.seen:
        if path not in seen:
            seen.add(path)
            pp.files.append(path)
    pp.fallbacks.extend(rec.fallbacks)
    peak["includes"] += rec.includes
    peak["cpp-lines"] += rec.cpp_lines
    if rec.depth > peak["include-depth"]:
        peak["include-depth"] = rec.depth
    exp.count += rec.exp_count
    if rec.exp_deepest > exp.deepest:
        exp.deepest = rec.exp_deepest
    if rec.exp_count:
        exp.site = rec.exp_site
    if pp._recs:  # a header being recorded includes this one: its record holds this one's reading
        pp._flog.extend(rec.files)
        pp._slog.extend(rec.seen)
        pp._rlog.extend(rec.found)
        for r in pp._recs:
            r.depth = max(r.depth, rec.depth)
    return True
