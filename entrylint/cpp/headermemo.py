"""A header read once per process, not once per file that includes it.

Every ``.S`` file of a tree starts with the same few headers (linkage.h,
the asm headers it pulls in, kconfig.h's autoconf.h): a run over
arch/x86 read them about 1150 times in 144 files, 1.9 s of its 12.7 s
(6.12, one profile).  What reading a header does depends on the options,
the ``#if`` condition around the ``#include``, where ``#include_next``
goes on from, the macros the reading looks up, and the files and include
answers it reads.  (The include depth only bounds it: a record keeps how
much deeper than its ``#include`` its own includes went, and is replayed
at any depth where they stay within the include-depth limit -- a header
the file checked includes directly, another file reaches through three
others.)  So a reading is recorded with what it
looked up, and a later ``#include`` of the header replays the record when
all of that is the same: the same ``#define``/``#undef`` in the same order
(applied to the table as it is: what reading it would do), the same output
lines, files read, include answers and limit counts.

**What a reading looks up** is noted where the table is read: the
expander's lookup of each name (text lines, ``#if`` expressions, computed
``#include``) and ``IS_ENABLED``'s ``CONFIG_`` names (their macros), and
whether a name is defined: every name of a header's text line (the
preprocessor asks whether the line holds a macro at all),
``#ifdef``/``defined``, an include guard.  Each name is kept with what the
table held for it when the reading started (for a name the reading
defined, what its first ``#define``/``#undef`` replaced), and a replay needs
each to mean the same: for a name only asked about, defined or not; for a
name looked up, the same Macro, or one made from an equal ``#define`` (the
same text at the same place), as the main file's line memo asks.  (A name
the reading defines before it looks it up is checked too: a replay is
missed where it need not be, never made where it must not be.)

**A record is replayed** only when it still holds: the header's text is the
same object lexed (``lex_file_once`` gives one per text), every file it read
has the text it had (read again, as an ``#include`` reads it), every
include it resolved resolves the same (the search probed again), and the
limits it counted (``includes``, ``cpp-lines``, ``cpp-expansions``) hold
its counts here.  A reading is **not recorded** when it gave a problem
(limits, errors, missing headers), moved ``__COUNTER__``, read
``__BASE_FILE__``, read the file being checked, or read a file whose text
is no longer at hand -- each of these depends on more than it looked up.

A run resumed from a snapshot (cpp/resume.py) neither records nor replays.
"""

from __future__ import annotations

import itertools
import threading
import weakref

from entrylint.cpp import directives as D
from entrylint.cpp.lexer import text_lexed
from entrylint.cpp.macros import means_same
from entrylint.source.reader import digest, read_source
from entrylint.source.record import data

_ids = itertools.count(1)
_OPTIONS: dict[tuple, int] = {}  # what Preprocessor.setup reads, and the search and limits -> an id
# (options id, path, condition, found_idx) -> records, the newest first;
# the keys in the order they were last replayed or recorded
_RECORDS: dict[tuple, list[Record]] = {}
_KCONFIG: dict[int, tuple] = {}  # id(Kconfig) -> (a weak reference to it, its key)
# what the records may hold (names looked up, writes, lines): past it, the
# keys replayed least recently go.  A run over 6.12's arch/x86 (-j 1, one
# profile) unbounded: 838 records, 983 replays, peak RSS 13 MB over the memo
# off; at 50k 216 records, 900 replays, 6 MB.  Three profiles (no --build:
# each configuration its own records) replayed too little at 50k to pay for
# the recording (-j 2: 9.4-9.8 s against 9.8 without the memo); at 100k
# 9.3 s, RSS 130-132 MB against 122-126
MAX_HELD = 100_000
_held = [0]
_lock = threading.Lock()  # (the language server reads in a thread of its own)
PER_KEY = 8  # records of one key kept (other lookups, another lexed text), the newest first
REPLAYED = object()


@data(slots=True, eq=False)
class Record:
    lexed: object  # the header's LexedFile when recorded (a replay needs this one)
    reads: tuple  # ((name, Macro | None, whether it was only asked if defined), ...) as it found them
    writes: tuple  # ((name, Macro | None), ...) in order
    lines: tuple  # PPLines output
    files: tuple  # ((path, text, lexed, given), ...) the first _lex of each path: the files read, in order
    found: tuple  # ((resolve key, answer), ...)
    fallbacks: tuple
    includes: int
    cpp_lines: int
    depth: int  # how much deeper than its includer the reading's includes went (0: none)
    exp_count: int
    exp_deepest: int
    exp_site: object


class Recorder:
    __slots__ = ("key", "lexed", "tainted", "depth", "base", "asked", "valued", "i0", "f0", "r0", "out0", "problems0",
                 "fallbacks0", "includes0", "lines0", "count0", "counter0", "deepest0", "over0", "deep0")


def _kconfig_key(kc) -> tuple | None:
    """(name, a digest of its values): a check makes a Kconfig per file, and
    neither it nor its 2-4k values are kept for the key (they were 9 MB
    over arch/x86)."""
    if kc is None:
        return None
    got = _KCONFIG.get(id(kc))
    if got is None or got[0]() is not kc:
        if len(_KCONFIG) > 64:
            _KCONFIG.clear()
        got = _KCONFIG[id(kc)] = (weakref.ref(kc), (kc.name, digest(repr(sorted(kc.values.items())))))
    return got[1]


def start(pp) -> None:
    """After ``pp.setup()``: the id of its options (None: an option of a
    kind that cannot be a key, and this run neither records nor replays)."""
    o = pp.opts
    try:
        key = (o.search, _kconfig_key(o.kconfig), tuple(o.defines.items()), o.undefines, o.limits)
        oid = _OPTIONS.get(key)
    except TypeError:
        pp._opt = None
        return
    if oid is None:
        if len(_OPTIONS) > 64:
            _OPTIONS.clear()
        oid = _OPTIONS[key] = next(_ids)
    pp._opt = oid


def taint(pp) -> None:
    for r in pp._recs:
        r.tainted = True


def begin(pp, path: str, lexed, found_idx):
    """At the start of a header's lines (``Preprocessor.run_file``): replay
    a record of it (``REPLAYED`` back: its reading is done), or start
    recording (a Recorder for ``end``)."""
    key = (pp._opt, path, pp.cond, found_idx)
    for rec in _RECORDS.get(key, ()):
        if rec.lexed is lexed and _replay(pp, rec):
            with _lock:  # (replayed last: kept longest)
                got = _RECORDS.pop(key, None)
                if got is not None:
                    _RECORDS[key] = got
            return REPLAYED
    r = Recorder()
    r.key, r.lexed, r.tainted, r.depth, r.base = key, lexed, False, 0, len(pp.stack)
    r.asked, r.valued = set(), set()  # names asked whether defined; names looked up (the expander's: noted)
    r.i0, r.f0, r.r0 = len(pp._log), len(pp._flog), len(pp._rlog)
    r.out0, r.problems0, r.fallbacks0 = len(pp.out), len(pp.problems), len(pp.fallbacks)
    r.includes0, r.lines0 = pp.peak["includes"], pp.peak["cpp-lines"]
    r.count0, r.counter0, r.deepest0 = pp.exp.count, pp.counter, pp.exp.deepest
    r.over0, r.deep0 = len(pp._over), len(pp._deep)
    pp.exp.deepest = 0  # (the header's own deepest nesting, kept with it)
    pp._recs.append(r)
    pp.exp.noted = r.valued
    return r


def end(pp, r: Recorder, finished: bool) -> None:
    """After the header's lines (``finished``: read to the end, no exception)."""
    pp._recs.pop()  # (r: the innermost)
    if pp._recs:  # the header around it looked up what it looked up
        outer = pp._recs[-1]
        outer.asked |= r.asked
        outer.valued |= r.valued
        pp.exp.noted = outer.valued
    else:
        pp.exp.noted = None
    exp = pp.exp
    deepest = exp.deepest
    exp.deepest = max(r.deepest0, deepest)
    if finished and not r.tainted and len(pp.problems) == r.problems0 and pp.counter == r.counter0 \
            and len(pp._over) == r.over0 and len(pp._deep) == r.deep0 and not exp.exhausted:
        _keep(pp, r, deepest)
    if not pp._recs:  # (the logs serve the recorders open)
        del pp._log[:], pp._flog[:], pp._rlog[:]


def _keep(pp, r: Recorder, deepest: int) -> None:
    """Record what the reading ``r`` ended did."""
    before: dict[str, object] = {}  # what the table held for a name before the reading's first write of it
    writes = []
    for name, new, old in pp._log[r.i0:]:
        writes.append((name, new))
        before.setdefault(name, old)
    macros = pp.macros
    firsts: dict[str, tuple] = {}
    for entry in pp._flog[r.f0:]:
        firsts.setdefault(entry[0], entry)
    exp = pp.exp
    count = exp.count - r.count0
    reads = tuple((n, before[n] if n in before else macros.get(n), n not in r.valued) for n in r.asked | r.valued)
    rec = Record(r.lexed, reads, tuple(writes), tuple(pp.out[r.out0:]), tuple(firsts.values()),
                 tuple(pp._rlog[r.r0:]), tuple(pp.fallbacks[r.fallbacks0:]), pp.peak["includes"] - r.includes0,
                 pp.peak["cpp-lines"] - r.lines0, r.depth - r.base if r.depth else 0, count, deepest,
                 exp.site if count else None)
    with _lock:
        got = _RECORDS.pop(r.key, [])
        _RECORDS[r.key] = got
        if len(got) >= PER_KEY:
            _held[0] -= _size(got.pop())
        got.insert(0, rec)
        _held[0] += _size(rec)
        while _held[0] > MAX_HELD and len(_RECORDS) > 1:
            _held[0] -= sum(map(_size, _RECORDS.pop(next(iter(_RECORDS)))))


def _size(rec: Record) -> int:
    return len(rec.reads) + len(rec.writes) + len(rec.lines)


def lexed_file(pp, path: str, lexed, given: str | None) -> None:
    """``Preprocessor._lex`` gave ``lexed`` for ``path`` (``given``: the text
    it was handed, the autoconf.h a configuration writes) while recording."""
    if lexed is None or path == pp.main:
        taint(pp)
        return
    if given is not None:
        pp._flog.append((path, given, lexed, True))
        return
    text = text_lexed(path, lexed)
    if text is None:
        taint(pp)  # its text is no longer at hand: a replay could not compare it
        return
    pp._flog.append((path, text, lexed, False))


def _replay(pp, rec: Record) -> bool:
    lim, peak, exp = pp.opts.limits, pp.peak, pp.exp
    depth = len(pp.stack) + rec.depth if rec.depth else 0  # the deepest file it enters, from here
    if peak["includes"] + rec.includes > lim.includes or peak["cpp-lines"] + rec.cpp_lines > lim.cpp_lines \
            or depth > lim.include_depth or exp.exhausted or exp.count + rec.exp_count > exp.limit:
        return False  # a limit would be met inside: read it, and report it where it is met
    macros = pp.macros
    for name, m, only_defined in rec.reads:
        o = macros.get(name)
        if (o is None) != (m is None) if only_defined else not means_same(o, m):
            return False
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
    log = pp._log if pp._recs else None
    if log is not None:  # a header being recorded includes this one: it looks up what this one looked up
        outer = pp._recs[-1]
        outer.asked.update(name for name, _, _ in rec.reads)
        outer.valued.update(name for name, _, only_defined in rec.reads if not only_defined)
    for name, m in rec.writes:
        if log is not None:
            log.append((name, m, macros.get(name)))
        if m is None:
            macros.pop(name, None)
        else:
            macros[name] = m
    for path, text, lexed, given in rec.files:
        if given or path not in cache:
            peak["file-size"] = max(peak["file-size"], len(text))
            pp.headers_size = max(pp.headers_size, len(text))
            cache[path] = lexed
    pp.out.extend(rec.lines)
    seen = pp._seen_files
    for path, _, _, _ in rec.files:
        if path not in seen:
            seen.add(path)
            pp.files.append(path)
    pp.fallbacks.extend(rec.fallbacks)
    peak["includes"] += rec.includes
    peak["cpp-lines"] += rec.cpp_lines
    if depth > peak["include-depth"]:
        peak["include-depth"] = depth
    exp.count += rec.exp_count
    if rec.exp_deepest > exp.deepest:
        exp.deepest = rec.exp_deepest
    if rec.exp_count:
        exp.site = rec.exp_site
    if pp._recs:
        pp._flog.extend(rec.files)
        pp._rlog.extend(rec.found)
        for r in pp._recs:
            r.depth = max(r.depth, depth)
    return True
