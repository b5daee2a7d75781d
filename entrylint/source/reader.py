"""The one function that reads a source file of the tree (stdlib only).

Every ``.S`` file and header the preprocessor opens is read here, so that

- a layer that serves other contents for some paths (an editor buffer, a
  patch applied in memory) hooks one place: ``push_overlay``;
- the result cache (``entrylint/cache.py``) learns what a run read: while a
  recorder is active (``recording``), each path read and a digest of the
  text it had are noted, and a cached result is reused only when every one
  of them still reads the same.
"""

from __future__ import annotations

import hashlib
from contextlib import contextmanager

_overlays: list = []  # callables path -> text or None (None: read the disk)
_recorders: list[dict[str, str | None]] = []


def read_source(path: str) -> str:
    """The text of ``path`` (UTF-8, undecodable bytes kept as surrogates);
    OSError when it cannot be read."""
    path = str(path)
    text = None
    for ov in reversed(_overlays):
        text = ov(path)
        if text is not None:
            break
    try:
        if text is None:
            with open(path, encoding="utf-8", errors="surrogateescape") as fh:
                text = fh.read()
    except OSError:
        for rec in _recorders:
            rec.setdefault(path, None)
        raise
    if _recorders:
        d = digest(text)
        for rec in _recorders:
            rec.setdefault(path, d)
    return text


def digest(text: str | None) -> str | None:
    if text is None:
        return None
    return hashlib.blake2b(text.encode("utf-8", "surrogateescape"), digest_size=16).hexdigest()


def current_digest(path: str) -> str | None:
    """What ``read_source(path)`` would read now, as a digest (None: unreadable)."""
    try:
        return digest(read_source_unrecorded(path))
    except OSError:
        return None


def read_source_unrecorded(path: str) -> str:
    saved = _recorders[:]
    _recorders.clear()
    try:
        return read_source(path)
    finally:
        _recorders.extend(saved)


@contextmanager
def recording():
    """Collect {path: digest or None} of every file read inside the block."""
    rec: dict[str, str | None] = {}
    _recorders.append(rec)
    try:
        yield rec
    finally:
        _recorders.remove(rec)


@contextmanager
def overlay(lookup):
    """Serve ``lookup(path)`` (a text, or None for the disk) inside the block."""
    _overlays.append(lookup)
    try:
        yield
    finally:
        _overlays.remove(lookup)
