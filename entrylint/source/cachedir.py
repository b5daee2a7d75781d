"""The one folder of entrylint's caches on disk.

``$ENTRYLINT_CACHE_DIR``, else ``$XDG_CACHE_HOME/entrylint``, else ``~/.cache/entrylint``: the result
entries and the tree facts (``entrylint.cache``), the decoder's table
(``program.decode``) and the C-side index (``analysis.cindex``) all live
under it, so one variable (or one ``rm -r``) covers every cache, and a run
with a fresh folder is cold in every layer.  Never inside the analysed tree.
A table kept there by several processes at once is written as
``WrittenLater`` says, under ``Locked``.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    env = os.environ.get("ENTRYLINT_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base, "entrylint")


class Locked:
    """An exclusive lock on ``path`` (flock; where there is none, no lock)."""

    def __init__(self, path: Path) -> None:
        self.path, self.fd = path, None

    def __enter__(self):
        try:
            import fcntl
        except ImportError:
            return self
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing releases the lock


class WrittenLater:
    """A table kept in memory and in one file of the cache folder (the
    decoder's, the C index's answers), written after new entries when they
    are a quarter of what it held and at least the subclass's ``BATCH`` (a
    run that fills it writes it O(log n) times, not once per entry: 135
    writes of a growing 2 MB decoder table were an eighth of a cold arch/x86
    run, 51 of the C index's answers 4% of a cold entry_64.S) or have waited
    30 s (a language server), else at the process's exit (a -j worker's
    too); each write under a lock, with what other processes wrote since it
    was last read here.

    The subclass sets ``cache_path`` (None: no file) and says how many
    entries it holds (``_entries``), takes in a file's entries without
    replacing its own (``_merge(data)``: the file's bytes) and gives the
    bytes to write (``_serialized``); it calls ``_later`` after adding
    entries.  ``load`` reads the file."""

    cache_path: Path | None = None
    _dirty = False  # entries not yet written
    _seen: tuple | None = None  # (mtime_ns, size) of the file as last read or written here
    _saved = 0  # entries in the table when it was last read or written
    _since = 0.0  # when the first entry not yet written was made (time.monotonic)
    _exit_hook = 0  # the pid whose exit writes the table (0: none yet)
    BATCH = 1  # the fewest new entries written before the exit (a kill loses fewer)
    saves = 0  # tables written (for tests and stats)

    def _entries(self) -> int:
        raise NotImplementedError

    def _merge(self, data: bytes) -> None:
        raise NotImplementedError

    def _serialized(self) -> bytes:
        raise NotImplementedError

    def _stat(self) -> tuple | None:
        try:
            st = os.stat(self.cache_path)  # type: ignore[arg-type]
        except (OSError, TypeError):
            return None
        return (st.st_mtime_ns, st.st_size)

    def load(self) -> None:
        """Take in the file's entries (none when it cannot be read)."""
        self._seen = self._stat()
        try:
            data = self.cache_path.read_bytes()  # type: ignore[union-attr]
        except (OSError, AttributeError):
            return
        self._merge(data)
        self._saved = self._entries()

    def _later(self) -> None:
        import time

        self._dirty = True
        now = time.monotonic()
        if not self._since:
            self._since = now
        if self._entries() - self._saved >= max(self.BATCH, self._saved // 4) or now - self._since >= 30:
            self.save()
        elif self._exit_hook != os.getpid():
            import atexit
            import sys

            self._exit_hook = os.getpid()
            atexit.register(self.save)  # the process that made the table
            # a worker process of -j (atexit does not run there) has
            # multiprocessing loaded; a process that has not is not one, and
            # does not load it for this (8 ms of a one-file check)
            util = sys.modules.get("multiprocessing.util")
            if util is not None:
                util.Finalize(None, self.save, exitpriority=0)

    def save(self) -> bool:
        """Write the table (atomically), with what another process wrote
        there since it was read here (under a lock: two -j workers ending
        together must not each write their own half); False when there was
        nothing to write or it could not be written."""
        path = self.cache_path
        if path is None or not self._dirty:
            return False
        import tempfile

        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with Locked(path.with_suffix(".lock")):
                if self._stat() != self._seen:
                    self.load()  # entries another process wrote meanwhile: kept too
                fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
                try:
                    with os.fdopen(fd, "wb") as fh:
                        fh.write(self._serialized())
                    os.replace(tmp, path)
                finally:
                    if os.path.exists(tmp):
                        os.unlink(tmp)
                self._seen = self._stat()
        except OSError:
            return False
        self._dirty, self._saved, self._since = False, self._entries(), 0.0
        self.saves += 1
        return True
