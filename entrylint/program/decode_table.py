"""The decoder's table on disk: machine code per (code mode, text), kept
across runs under the user's cache folder (``Decoder`` reads and writes it;
keyed by the versions of binutils and iced-x86 and the schema).

Written when the new entries are a quarter of what the table held, or have
waited 30 s, and at the end of the process (a -j worker's too), each time
merged under a lock with what other processes wrote meanwhile.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

_CACHE_MAX_ENTRIES = 200_000


class _locked:
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


class DiskTable:
    """What ``Decoder`` keeps on disk.  The subclass sets ``cache_path``
    (None: no table), ``_cache_key``, ``_disk`` ((mode, text) -> hex bytes,
    or "!" + error) and ``_dirty``, and calls ``_later`` after adding entries."""

    cache_path: Path | None
    _cache_key: str
    _disk: dict
    _dirty: bool
    _saved = 0  # entries in the table when it was last read or written
    _since = 0.0  # when the first entry not yet written was made (time.monotonic)
    _exit_hook = 0  # the pid whose exit writes the table (0: none yet)
    saves = 0  # tables written (for tests and stats)
    _seen: tuple | None = None  # (mtime_ns, size) of the file as last read or written here

    # -- the file: {"key": ..., "entries": {"64": {text: hex}, "32": {...}}}
    def _stat(self) -> tuple | None:
        try:
            st = os.stat(self.cache_path)  # type: ignore[arg-type]
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def _load(self) -> None:
        self._seen = self._stat()
        try:
            data = json.loads(self.cache_path.read_text(encoding="utf-8"))  # type: ignore[union-attr]
        except (OSError, ValueError):
            return
        if not isinstance(data, dict) or data.get("key") != self._cache_key:
            return
        entries = data.get("entries")
        if not isinstance(entries, dict):
            return
        for mode_name, by_text in entries.items():
            mode = int(mode_name) if mode_name in ("16", "32", "64") else None
            if mode is None or not isinstance(by_text, dict):
                continue
            for text, raw in by_text.items():
                if isinstance(raw, str):
                    self._disk.setdefault((mode, text), raw)
        self._saved = len(self._disk)

    def _later(self) -> None:
        """After new entries: write the table now when they are a quarter of
        what it held (so a run that fills it writes it O(log n) times, not
        once per file: 135 writes of a growing 2 MB table were an eighth of a
        cold arch/x86 run) or have waited 30 s (a language server), else at
        the process's exit (a -j worker's too)."""
        import time

        now = time.monotonic()
        if not self._since:
            self._since = now
        if len(self._disk) - self._saved >= max(1, self._saved // 4) or now - self._since >= 30:
            self.save()
        elif self._exit_hook != os.getpid():
            import atexit
            from multiprocessing import util

            self._exit_hook = os.getpid()
            atexit.register(self.save)  # the process that made the decoder
            util.Finalize(None, self.save, exitpriority=0)  # a worker process (atexit does not run there)

    def save(self) -> bool:
        """Write the disk cache (atomically), with what another process wrote
        there since it was read (under a lock: two -j workers ending together
        must not each write their own half); False if it could not be written."""
        if self.cache_path is None or not self._dirty:
            return False
        try:
            self.cache_path.parent.mkdir(parents=True, exist_ok=True)
            with _locked(self.cache_path.with_suffix(".lock")):
                if self._stat() != self._seen:
                    self._load()  # entries another process wrote meanwhile: kept too
                entries: dict[str, dict[str, str]] = {}
                for (mode, text), raw in list(self._disk.items())[-_CACHE_MAX_ENTRIES:]:
                    entries.setdefault(str(mode), {})[text] = raw
                fd, tmp = tempfile.mkstemp(dir=self.cache_path.parent, suffix=".tmp")
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    json.dump({"key": self._cache_key, "entries": entries}, fh)
                os.replace(tmp, self.cache_path)
                self._seen = self._stat()
        except OSError:
            return False
        self._dirty, self._saved, self._since = False, len(self._disk), 0.0
        self.saves += 1
        return True

