"""Patched files held in memory (issue 12: patches are applied in memory).

A review applies a patch to a tree without writing it: the patched contents
of the files a patch touches live in an ``Overlay``, and every layer that
reads the tree (the preprocessor and its include search, the tree facts, the
callee and sibling readers) reads through ``read_text`` and ``is_file``
here.  With no overlay installed these are the plain disk reads.

    with using(Overlay(root, {"arch/x86/entry/calling.h": text})):
        api.check(...)

Paths are compared after ``os.path.realpath``, so a file reached through a
symlinked folder of the tree is the same file.

What a reader learns from the tree and keeps per process (the Kconfig
names, the callee programs, the C index's symbols) is good for the tree as
it read it: such a cache is a ``tree_cache``, keyed by ``generation()``,
which names the contents the tree reads now (the disk, or the disk with
this overlay's files).  Another patch applied in memory is another
generation, so no cache can serve the tree before it, and going back to a
state read before (a series' "before" is the last patch's "after") finds
its entries again.
"""

from __future__ import annotations

import functools
import hashlib
import os
from contextlib import contextmanager
from pathlib import Path

_active: "Overlay | None" = None


class Overlay:
    """Files of one tree with new contents (``None``: deleted)."""

    def __init__(self, root: Path | str, files: dict[str, str | None] | None = None) -> None:
        self.root = Path(os.path.realpath(root))
        self._files: dict[str, str | None] = {}
        self._token: tuple | None = None
        for rel, text in (files or {}).items():
            self.set(rel, text)

    def key(self, path: Path | str) -> str:
        p = Path(path)
        return os.path.realpath(p if p.is_absolute() else self.root / p)

    def set(self, rel: str, text: str | None) -> None:
        self._files[self.key(rel)] = text
        self._token = None

    def token(self) -> tuple:
        """The overlay's contents as a key: equal for two overlays that hold
        the same texts for the same files."""
        if self._token is None:
            self._token = tuple(sorted((k, None if v is None else hashlib.blake2b(
                v.encode("utf-8", "surrogateescape"), digest_size=16).digest()) for k, v in self._files.items()))
        return self._token

    def get(self, path: Path | str):
        """(True, text or None) when the overlay decides, (False, None) when the disk does."""
        k = os.path.realpath(path)
        if k in self._files:
            return True, self._files[k]
        return False, None

    def changed(self) -> dict[str, str | None]:
        """Absolute path -> contents, for every file the overlay holds."""
        return dict(self._files)

    def new_files(self, folder: Path | str, suffix: str = "") -> list[Path]:
        """Files the overlay adds in ``folder`` (they are not on the disk to glob)."""
        base = os.path.realpath(folder)
        return sorted(Path(k) for k, v in self._files.items()
                      if v is not None and os.path.dirname(k) == base and k.endswith(suffix)
                      and not os.path.exists(k))


def active() -> Overlay | None:
    return _active


def generation() -> tuple:
    """What the tree reads now: ``()`` for the disk, else the active
    overlay's contents (``Overlay.token``).  A cache of what the tree holds
    is only good for the generation it was filled in."""
    return _active.token() if _active is not None and _active._files else ()


@contextmanager
def using(overlay: Overlay | None):
    global _active
    saved = _active
    _active = overlay
    try:
        yield overlay
    finally:
        _active = saved


def tree_cache(maxsize: int = 8):
    """``functools.lru_cache`` for what a function learns by reading the
    tree: each entry is keyed by its arguments and the ``generation()`` it
    was computed in, so a patch applied in memory never meets an entry of
    another state of the tree.  ``cache_clear``/``cache_info`` as lru_cache."""

    def wrap(fn):
        @functools.lru_cache(maxsize=maxsize)
        def cached(_generation, *args, **kw):
            return fn(*args, **kw)

        @functools.wraps(fn)
        def tree_cached(*args, **kw):
            return cached(generation(), *args, **kw)

        tree_cached.cache_clear = cached.cache_clear
        tree_cached.cache_info = cached.cache_info
        return tree_cached

    return wrap


def read_text(path: Path | str, encoding: str = "utf-8", errors: str = "surrogateescape") -> str:
    """The file's contents: the overlay's when it holds the file, else the disk's."""
    if _active is not None:
        decided, text = _active.get(path)
        if decided:
            if text is None:
                raise FileNotFoundError(2, "No such file or directory (deleted by the patch)", str(path))
            return text
    with open(path, encoding=encoding, errors=errors) as fh:
        return fh.read()


def open_bytes(path: Path | str):
    """A binary file object for ``path``: the overlay's contents when it holds the file."""
    if _active is not None:
        decided, text = _active.get(path)
        if decided:
            if text is None:
                raise FileNotFoundError(2, "No such file or directory (deleted by the patch)", str(path))
            import io

            return io.BytesIO(text.encode("utf-8", "surrogateescape"))
    return open(path, "rb")


def is_file(path: Path | str) -> bool:
    if _active is not None:
        decided, text = _active.get(path)
        if decided:
            return text is not None
    return os.path.isfile(path)
