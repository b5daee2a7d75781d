"""An on-disk cache of check results (issue 11): a file checked again with
nothing changed is answered from the cache, never with a stale answer.

An entry is found by a key: the entrylint version and a digest of its own
code and of the rules' code, the Python version, the assembler, the file
named and every option that changes a result (configuration, profile,
rules selected, rule options).  An entry holds the result and what the run
that made it depended on, and is used only when every one of those still
reads the same:

- every ``.S`` file and header the preprocessor read (through
  ``source.reader.read_source``: a digest of the text) and every include
  candidate it probed (there or not: a header added earlier in the search
  path changes what an ``#include`` finds);
- every other file the run opened (the tree's Kconfig, the C files of the
  callee index, ...) and every folder it listed (a file added or removed),
  by their ``stat``: device, inode, size, modification and change times.  A
  write changes the change time, which no tool sets back; an entry whose
  files changed in the last two seconds is not stored (the clock may not
  have moved on since).

Entries live under ``$ENTRYLINT_CACHE_DIR``, else
``$XDG_CACHE_HOME/entrylint/results``, else ``~/.cache/entrylint/results``;
never in the tree.  Deleting the folder is always safe.  ``--no-cache``
(``enabled=False``) neither reads nor writes it.

**Facts of a tree** (``fact``), in ``facts/`` of the same folder, on the same
terms: work that is the same for every file of a tree -- the symbols its asm
defines, the names its Kconfig declares, the MSR entry targets, what an asm
function of another file does to registers -- done once per process and
taken from the disk by later runs, so that a file whose result is not
stored (it changed, or it was never checked) does not pay for them again.
A value remembered in memory (a fact, another file's program) tells each
``cached`` computation that uses it what it was made from (``depend``), so
the entry of the second file of a run depends on the tree's files too.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import sys
import time
from pathlib import Path

from entrylint import ahead
from entrylint.source import overlay, reader
from entrylint.source.cachedir import cache_root

FORMAT = 1  # bump when what an entry holds changes
RACY_SECONDS = 2.0
_SKIP_SUFFIXES = (".py", ".pyc", ".so", ".pth", ".json", ".pickle", ".tmp")


def results_dir() -> Path:
    """Where the result entries live: ``results/`` in the cache folder
    (``source.cachedir``: ``$ENTRYLINT_CACHE_DIR`` or the user's)."""
    return cache_root() / "results"


# -- what a run opened and listed (an audit hook: every open() of the process) --

_opened: list[dict[str, tuple | None]] = []
_hooked = False


def _audit(event: str, args) -> None:
    if not _opened:
        return
    if event == "open":
        path, mode, flags = args
        if not isinstance(path, (str, os.PathLike)):
            return
        if mode is not None and any(c in mode for c in "wax+"):
            return
        if mode is None and flags is not None and flags & (os.O_WRONLY | os.O_RDWR):
            return
        path = os.fspath(path)
        if isinstance(path, bytes) or path.endswith(_SKIP_SUFFIXES):
            return
    elif event in ("os.scandir", "os.listdir"):
        path = args[0] if args else "."
        if not isinstance(path, (str, os.PathLike)):
            return
        path = os.fspath(path)
        if isinstance(path, bytes):
            return
    else:
        return
    path = os.path.abspath(path or ".")
    if reader._scratch and reader.is_scratch(path):
        return
    for rec in _opened:
        if path not in rec:
            rec[path] = _stat(path)


def _note(path: str) -> None:
    path = os.path.abspath(path)
    for rec in _opened:
        if path not in rec:
            rec[path] = _stat(path)


def _stat(path: str) -> tuple | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _own_code_digest() -> str:
    """entrylint's and the built-in rules' code, by the stat of each file
    (an edited checkout is another version)."""
    global _code_digest
    if _code_digest is None:
        import entrylint

        h = hashlib.blake2b(digest_size=16)
        h.update(f"{getattr(entrylint, '__version__', '?')}\0{sys.version}\0".encode())
        dirs = [Path(entrylint.__file__).parent]
        try:
            import entrylint_rules

            dirs.append(Path(entrylint_rules.__file__).parent)
        except ImportError:
            pass
        for d in dirs:
            for dirpath, dirnames, filenames in os.walk(d):
                dirnames[:] = sorted(x for x in dirnames if x != "__pycache__")
                for f in sorted(filenames):
                    if f.endswith((".py", ".toml", ".json", ".config", ".txt")) or "." not in f:
                        p = os.path.join(dirpath, f)
                        h.update(f"{p}\0{_stat(p)}\0".encode())
        import shutil

        asm = os.environ.get("ENTRYLINT_AS") or shutil.which("as")  # program.decode.find_assembler's choice
        h.update(f"as={asm}\0{_stat(os.path.realpath(asm)) if asm else None}".encode())
        _code_digest = h.hexdigest()
    return _code_digest


_code_digest: str | None = None


_plugins: tuple | None = None


def plugins_id() -> tuple:
    """The rule plugins a run would load, without loading them: their entry
    points and the stat of each one's module file (once per process)."""
    global _plugins
    if _plugins is None:
        _plugins = _find_plugins()
    return _plugins


def _find_plugins() -> tuple:
    import importlib.util

    from entrylint.plugins.manager import find_plugins

    out = []
    for p in find_plugins():
        try:
            spec = importlib.util.find_spec(p.value.split(":")[0])
            origin = spec.origin if spec is not None else None
        except (ImportError, ValueError):
            origin = None
        out.append((p.name, p.value, p.dist, origin, _stat(origin) if origin else None))
    return tuple(out)


def key_of(parts) -> str:
    h = hashlib.blake2b(digest_size=20)
    h.update(f"{FORMAT}\0{_own_code_digest()}\0{parts!r}".encode("utf-8", "surrogateescape"))
    return h.hexdigest()


# -- validation, memoized per process (files of a tree are shared by its .S files)

_valid: dict[tuple[str, object], bool] = {}


def _still(kind: str, path: str, want) -> bool:
    k = (overlay.generation(), kind + path, want)  # a patch applied in memory reads other texts
    got = _valid.get(k)
    if got is None:
        got = _valid[k] = (reader.current_digest(path) if kind == "t" else _stat(path)) == want
    return got


def lookup(key: str):
    """The stored value for ``key`` when every file it depended on still
    reads the same; None otherwise."""
    entry = _entry(key)
    return entry["value"] if entry is not None else None


def _entry(key: str, folder: str = "") -> dict | None:
    p = results_dir() / folder / key[:2] / f"{key}.pickle"
    try:
        with open(p, "rb") as fh:
            entry = pickle.load(fh)
    except Exception:  # noqa: BLE001 - missing, truncated or from another version: a miss
        return None
    if not isinstance(entry, dict) or entry.get("key") != key:
        return None
    for path, want in entry["texts"].items():
        if not _still("t", path, want):
            return None
    for path, want in entry["stats"].items():
        if not _still("s", path, want):
            return None
    for fk in entry.get("facts", ()):
        if not _fact_still(fk):
            return None
    return entry


def _fact_still(key: str) -> bool:
    """Whether the stored fact ``key`` (and every file it was made from) still holds."""
    k = ("f" + key, None)
    got = _valid.get(k)
    if got is None:
        got = _valid[k] = _entry(key, FACTS) is not None
    return got


def store(key: str, value, texts: dict, stats: dict, folder: str = "", facts=()) -> bool:
    """Write an entry; False when it was not (a file changed too recently to
    be sure of, or the folder cannot be written)."""
    now = time.time_ns()
    racy = int(RACY_SECONDS * 1e9)
    if any(s is not None and (now - s[3] < racy or now - s[4] < racy) for s in stats.values()):
        return False
    p = results_dir() / folder / key[:2] / f"{key}.pickle"
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(f"{p.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            pickle.dump({"key": key, "value": value, "texts": texts, "stats": stats, "facts": sorted(facts)}, fh,
                        protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, p)
    except (OSError, pickle.PicklingError, TypeError, AttributeError):
        return False
    return True


def cached(parts, compute, enabled: bool = True):
    """``compute()``, or what it returned before for the same ``parts`` when
    nothing it read has changed since."""
    if not enabled:
        return compute()
    key = key_of(parts)
    entry = _entry(key)
    if entry is not None and entry["value"] is not None:
        depend(entry["texts"], entry["stats"], entry.get("facts", ()))  # an enclosing entry depends on these too
        return entry["value"]
    value, (texts, stats, facts) = recorded(compute)
    store(key, value, texts, stats, facts=facts)
    return value


def recording() -> bool:
    """Whether some ``cached`` computation is recording what it reads."""
    return bool(_opened) or bool(reader._recorders)


def recorded(compute, *args):
    """(``compute(*args)``, (texts, stats, facts)): the value and what
    computing it read -- the text digests of the files read through
    ``source.reader``, the stat of every other file opened or folder listed
    (the cache folder left out), and the keys of the stored facts it used."""
    global _hooked
    if not _hooked:
        sys.addaudithook(_audit)
        _hooked = True
    own = os.path.abspath(cache_root())
    opened: dict[str, tuple | None] = {}
    used: set[str] = set()
    _opened.append(opened)
    _used.append(used)
    if _note not in reader._noted:
        reader._noted.append(_note)
    try:
        with reader.recording() as texts:
            value = compute(*args)
    finally:
        _drop(_opened, opened)
        _drop(_used, used)
    stats = {p: s for p, s in opened.items()
             if p not in texts and not p.startswith(own + os.sep) and p != own}
    return value, (dict(texts), stats, used)


def _drop(stack: list, item) -> None:
    """Remove ``item`` itself (recordings nest; two may be equal dicts)."""
    for k in range(len(stack) - 1, -1, -1):
        if stack[k] is item:
            del stack[k]
            return


def depend(texts: dict, stats: dict, facts=()) -> None:
    """Tell the recorders of the enclosing ``cached`` computations what a
    value taken from a cache depended on, as if it had been computed inside
    them (a value remembered in memory hides the reads that made it)."""
    for path, want in texts.items():
        for rec in reader._recorders:
            rec.setdefault(path, want)
    for rec in _opened:
        for path, want in stats.items():
            rec.setdefault(path, want)
    for rec in _used:
        rec.update(facts)


_used: list[set[str]] = []  # per recording: the keys of the stored facts it used


# -- facts of a tree: the same for every file of it -------------------------------

FACTS = "facts"  # their folder, in the results folder
facts_enabled = False  # the CLI turns it on (not with --no-cache); a library caller may
# the language server's terms: the facts on the disk are read, none is made
# to be stored.  Storing one means recording what making it opened, through
# an audit hook that, once added, runs for every audited event of the
# process -- ``id()`` among them, tens of thousands of times an edit.
facts_read_only = False
_UNRECORDED = ({}, {}, ())  # what a use of a fact made read only and unrecorded tells: nothing
_facts: dict[str, tuple] = {}  # key -> (value, what a use depends on: depend's arguments), for the process


_fact_frames: list[list[bool]] = []  # the facts being computed now (nested), each [tainted]


def from_checked_file() -> None:
    """The facts being computed now use what the process holds of the file
    being checked (its program, not read here): they are not kept."""
    for frame in _fact_frames:
        frame[0] = True


def facts_on() -> bool:
    """Whether ``fact`` keeps facts (on disk and for the process) now."""
    return facts_enabled and not reader._overlays and overlay.active() is None


def fact(parts: tuple, compute, *args):
    """``_fact``, or for a kind made ahead in a process apart, what that
    process made (``_fact_ahead``)."""
    if parts[0] in ahead.KINDS and (ahead.making is not None or ahead.expected()):
        return _fact_ahead(parts, compute, args)
    return _fact(parts, compute, *args)


def _fact(parts: tuple, compute, *args):
    """``compute(*args)`` -- work that is the same for every file of a tree
    (the symbols its asm defines, the names its Kconfig declares, what an asm
    function of another file does to registers) -- done once per process and
    stored on disk beside the results for later runs, on the terms of
    ``cached``: keyed by entrylint's code and ``parts``, valid while every
    file the computation read, probed, opened or listed still reads the same.
    Each use tells an enclosing ``cached`` computation what the fact was
    made from.  Off (``compute(*args)``, the caller's own memo) unless
    ``facts_enabled``, and while an editor buffer or a patch stands in for
    files of the tree (the overlays serve text that is not on the disk).
    With ``facts_read_only``, a fact not on the disk is made and kept for the
    process, not stored (and not recorded, unless a recording is on)."""
    if not facts_on():
        return compute(*args)
    key = key_of(("fact",) + tuple(parts))
    got = _facts.get(key)
    if got is not None and got[1] is _UNRECORDED and recording():
        got = None  # made unrecorded (read only): a recording now must learn what it reads
    if got is None:
        entry = _entry(key, FACTS)
        if entry is not None and isinstance(entry["value"], tuple):
            got = (entry["value"][0], ({}, {}, (key,)))
        else:
            # recorded on its own: an enclosing recording gets the fact's key,
            # not a copy of the thousands of files a tree's fact reads (read
            # only, with no recording to tell: made as it is, kept for the process)
            record = not facts_read_only or recording()
            saved = (_opened[:], reader._recorders[:], _used[:])
            del _opened[:], reader._recorders[:], _used[:]
            frame = [False]  # [made from the file being checked]
            _fact_frames.append(frame)
            try:
                fn = getattr(compute, "__wrapped__", compute)
                value, deps = recorded(fn, *args) if record else (fn(*args), _UNRECORDED)
            finally:
                _drop(_fact_frames, frame)
                _opened[:], reader._recorders[:], _used[:] = saved
            if frame[0]:
                # what the process holds of the file being checked went into it:
                # that file's result depends on it, nothing else may keep it
                depend(*deps)
                return value
            stored = not facts_read_only and store(key, (value,), *deps[:2], FACTS, facts=deps[2])
            got = (value, ({}, {}, (key,)) if stored else deps)
        _facts[key] = got
    depend(*got[1])
    return got[0]


def _fact_ahead(parts: tuple, compute, args):
    """``fact`` of a kind made ahead (ahead.py).  In the process that makes
    it: made, and kept with what a use of it depends on (the facts' entry
    when they are on, else what making it read).  In the check's: taken
    from what was made, each use telling what it depends on, as ``_fact``'s
    uses do; else made here."""
    key = key_of(("fact",) + tuple(parts))
    if ahead.making is None:
        got = ahead.take(key)
        if got is not None:
            if facts_on():
                _facts.setdefault(key, got)
            depend(*got[1])
            return got[0]
        return _fact(parts, compute, *args)
    if facts_on():
        value = _fact(parts, compute, *args)
        if key in _facts:  # (not one made from the file being checked)
            ahead.making[key] = _facts[key]
        return value
    value, deps = recorded(_fact, parts, compute, *args)
    ahead.making[key] = (value, deps)
    return value
