"""The one function that reads a source file of the tree (stdlib only).

Every ``.S`` file checked and every header the preprocessor opens is read
by ``read_source`` here, so that

- one place bounds what is read (the file-size limit of ``source/limits.py``)
  and refuses what is not source (a binary file: EL907);

- a layer that serves other contents for some paths (an editor buffer, a
  patch applied in memory) hooks one place: ``push_overlay``;
- the result cache (``entrylint/cache.py``) learns what a run read: while a
  recorder is active (``recording``), each path read and a digest of the
  text it had are noted (a probe for a file, ``is_source_file``, as
  ``"?" + path``: yes or no), and a cached result is reused only when every
  one of them still reads the same.
"""

from __future__ import annotations

import hashlib
import os
from contextlib import contextmanager

from entrylint.source import overlay as patched
from entrylint.source.limits import DEFAULT as DEFAULT_LIMITS, Limits, hit
from entrylint.source.location import Location, Problem, ProblemKind

_overlays: list = []  # callables path -> text or None (None: read the disk)
_recorders: list[dict[str, str | None]] = []
_noted: list = []  # callables path -> None: told of a file a result depends on by its stat


def depends_on(path) -> None:
    """A file whose metadata a result depends on without reading it here
    (the callee index keys its own cache by the C files' sizes and times)."""
    for fn in _noted:
        fn(str(path))


def read_source(path, limits: Limits = DEFAULT_LIMITS) -> tuple[str, Problem | None]:
    """The text of ``path`` (bytes that are not UTF-8 kept as surrogates: the
    layers read them as other characters), or "" and the problem that says
    why it is not read: unreadable, larger than the file-size limit, or a
    binary file."""
    path = str(path)
    where = Location(path, 1, 1)
    try:
        text = _read(path, limits.file_size + 1)
    except OSError as e:
        return "", Problem(ProblemKind.UNREADABLE, f"cannot read {path}: {e.strerror or e}", where)
    except ValueError as e:  # a folder on some systems, an embedded NUL in the name
        return "", Problem(ProblemKind.UNREADABLE, f"cannot read {path}: {e}", where)
    if len(text) > limits.file_size:
        too_big = f"{path} is larger than {limits.file_size} bytes"
        return "", Problem(ProblemKind.LIMIT, hit(limits, "file-size", too_big), where)
    nul = text.find("\0", 0, 8000)
    if nul >= 0:  # as git and grep judge: a NUL byte near the start is a binary file
        line = text.count("\n", 0, nul) + 1
        return "", Problem(ProblemKind.UNREADABLE, f"{path} looks like a binary file (a NUL byte on line {line}): "
                                                   "not read as assembly source", Location(path, line, 1))
    return text, None


def _read(path: str, cap: int | None = None) -> str:
    """The text of ``path``: the patch under review's, an editor's, or the
    disk's (at most ``cap`` characters of it), noted for the result cache;
    OSError when it cannot be read."""
    text = None
    if patched.active() is not None:  # a patch under review, applied in memory
        decided, text = patched.active().get(path)
        if decided and text is None:
            for rec in _recorders:
                rec.setdefault(path, None)
            raise FileNotFoundError(2, "No such file or directory (deleted by the patch)", path)
    for ov in reversed(_overlays if text is None else ()):
        text = ov(path)
        if text is not None:
            break
    try:
        if text is None:
            with open(path, encoding="utf-8", errors="surrogateescape") as fh:
                text = fh.read(-1 if cap is None else cap)
    except OSError:
        for rec in _recorders:
            rec.setdefault(path, None)
        raise
    if _recorders:
        d = digest(text)
        for rec in _recorders:
            rec.setdefault(path, d)
    return text


def stamps(files) -> tuple:
    """(file, mtime in ns, size) of each of ``files`` as the disk has it now
    ((file, None, None) when it cannot be read): what a memo kept across
    edits compares to know the files are the ones it read (the incremental
    reading's headers, the language server's results, the C declarations
    EL103 reads)."""
    out = []
    for f in files:
        try:
            st = os.stat(f)
            out.append((f, st.st_mtime_ns, st.st_size))
        except OSError:
            out.append((f, None, None))
    return tuple(out)


def is_source_file(path: str) -> bool:
    """Whether ``path`` names a file ``read_source`` can read (an include
    search probes candidates with this; the answer, yes or no, is part of
    what a run depends on)."""
    path = str(path)
    found = any(ov(path) is not None for ov in _overlays) or patched.is_file(path)
    for rec in _recorders:
        rec.setdefault("?" + path, "yes" if found else "no")
    return found


def digest(text: str | None) -> str | None:
    if text is None:
        return None
    return hashlib.blake2b(text.encode("utf-8", "surrogateescape"), digest_size=16).hexdigest()


def current_digest(path: str) -> str | None:
    """What ``read_source(path)`` reads now, as a digest (None:
    unreadable); for a probe (``"?" + path``) whether the file is there."""
    saved = _recorders[:]
    _recorders.clear()
    try:
        if path.startswith("?"):
            return "yes" if is_source_file(path[1:]) else "no"
        return digest(_read(path))
    except OSError:
        return None
    finally:
        _recorders.extend(saved)


@contextmanager
def recording():
    """Collect {path: digest or None} of every file read inside the block."""
    rec: dict[str, str | None] = {}
    _recorders.append(rec)
    try:
        yield rec
    finally:  # by identity: recordings nest, and two may hold the same
        del _recorders[next(k for k in range(len(_recorders) - 1, -1, -1) if _recorders[k] is rec)]


@contextmanager
def overlay(lookup):
    """Serve ``lookup(path)`` (a text, or None for the disk) inside the block."""
    _overlays.append(lookup)
    try:
        yield
    finally:
        _overlays.remove(lookup)


_scratch: list[str] = []  # folders of our own making (the assembler's): what is read there is no input


@contextmanager
def scratch_dir(prefix: str):
    """A temporary folder a layer works in (the decoder runs ``as`` there),
    removed at the end.  What is read there is that layer's own output, not a
    file of the tree: the result cache does not note it as something a result
    depends on (nor the folder's listing when it is removed)."""
    import shutil
    import tempfile

    folder = os.path.abspath(tempfile.mkdtemp(prefix=prefix))
    _scratch.append(folder)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        _scratch.remove(folder)


def is_scratch(path: str) -> bool:
    return any(path == s or path.startswith(s + os.sep) for s in _scratch)
