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

from entrylint.source.cachedir import Locked, WrittenLater

_CACHE_MAX_ENTRIES = 200_000


class DiskTable(WrittenLater):
    """What ``Decoder`` keeps on disk.  The subclass sets ``cache_path``
    (None: no table), ``_cache_key``, ``_disk`` ((mode, text) -> hex bytes,
    or "!" + error) and ``_dirty``, and calls ``_later`` after adding entries."""

    cache_path: Path | None
    _cache_key: str
    _disk: dict
    _dirty: bool
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

    def _entries(self) -> int:
        return len(self._disk)

    def save(self) -> bool:
        """Write the disk cache (atomically), with what another process wrote
        there since it was read (under a lock: two -j workers ending together
        must not each write their own half); False if it could not be written."""
        if self.cache_path is None or not self._dirty:
            return False
        try:
            self.cache_path.parent.mkdir(parents=True, exist_ok=True)
            with Locked(self.cache_path.with_suffix(".lock")):
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
        self._dirty = False
        self._written()
        return True

