"""The decoder's table on disk: machine code per (code mode, text), kept
across runs under the user's cache folder (``Decoder`` reads and writes it;
keyed by the versions of binutils and iced-x86 and the schema).  When it is
written: ``source.cachedir.WrittenLater``.
"""

from __future__ import annotations

import json
from pathlib import Path

from entrylint.source.cachedir import WrittenLater

_CACHE_MAX_ENTRIES = 200_000


class DiskTable(WrittenLater):
    """What ``Decoder`` keeps on disk.  The subclass sets ``cache_path``
    (None: no table), ``_cache_key`` and ``_disk`` ((mode, text) -> hex
    bytes, or "!" + error), and calls ``_later`` after adding entries."""

    cache_path: Path | None
    _cache_key: str
    _disk: dict

    # -- the file: {"key": ..., "entries": {"64": {text: hex}, "32": {...}}}
    def _merge(self, data: bytes) -> None:
        try:
            got = json.loads(data)
        except ValueError:
            return
        if not isinstance(got, dict) or got.get("key") != self._cache_key:
            return
        entries = got.get("entries")
        if not isinstance(entries, dict):
            return
        for mode_name, by_text in entries.items():
            mode = int(mode_name) if mode_name in ("16", "32", "64") else None
            if mode is None or not isinstance(by_text, dict):
                continue
            for text, raw in by_text.items():
                if isinstance(raw, str):
                    self._disk.setdefault((mode, text), raw)

    def _entries(self) -> int:
        return len(self._disk)

    def _serialized(self) -> bytes:
        entries: dict[str, dict[str, str]] = {}
        for (mode, text), raw in list(self._disk.items())[-_CACHE_MAX_ENTRIES:]:
            entries.setdefault(str(mode), {})[text] = raw
        return json.dumps({"key": self._cache_key, "entries": entries}).encode("utf-8")
