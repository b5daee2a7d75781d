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
    """When a table kept in memory and on disk (the decoder's, the C index's
    answers) is written: after new entries, when they are a quarter of what
    it held (a run that fills it writes it O(log n) times, not once per
    entry: 135 writes of a growing 2 MB decoder table were an eighth of a
    cold arch/x86 run, 51 of the C index's answers 4% of a cold entry_64.S)
    or have waited 30 s (a language server), else at the process's exit (a
    -j worker's too).  The subclass says how many entries it holds
    (``_entries``), calls ``_later`` after adding some and ``_written`` after
    a write; ``save`` writes."""

    _saved = 0  # entries in the table when it was last read or written
    _since = 0.0  # when the first entry not yet written was made (time.monotonic)
    _exit_hook = 0  # the pid whose exit writes the table (0: none yet)
    saves = 0  # tables written (for tests and stats)

    def _entries(self) -> int:
        raise NotImplementedError

    def save(self) -> bool:
        raise NotImplementedError

    def _later(self) -> None:
        import time

        now = time.monotonic()
        if not self._since:
            self._since = now
        if self._entries() - self._saved >= max(1, self._saved // 4) or now - self._since >= 30:
            self.save()
        elif self._exit_hook != os.getpid():
            import atexit
            from multiprocessing import util

            self._exit_hook = os.getpid()
            atexit.register(self.save)  # the process that made the table
            util.Finalize(None, self.save, exitpriority=0)  # a worker process (atexit does not run there)

    def _written(self) -> None:
        self._saved, self._since = self._entries(), 0.0
        self.saves += 1
