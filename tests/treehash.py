"""Hash a folder tree, to show a run wrote nothing into it (issue 9, no writes).

    from treehash import tree_digest, unchanged   # tests/ is on sys.path

    before = tree_digest(tree)
    ... run entrylint on it (files, folders, expand, explain, patches, the server) ...
    assert tree_digest(tree) == before

    with unchanged(tree):          # the same, as a context manager
        run(...)

The digest covers every entry below the folder (hidden ones included): its
relative path, its type, its mode bits, the target of a symlink and the
bytes of a file, so an added, removed, renamed, rewritten or chmod-ed file or
folder changes it.  Modification times are left out (reading does not change
them; a rewrite with the same bytes would, and is caught by the test that
asks about it with ``mtimes=True``).
"""

from __future__ import annotations

import hashlib
import os
import stat
from contextlib import contextmanager
from pathlib import Path


def tree_digest(root: Path | str, mtimes: bool = False) -> str:
    h = hashlib.sha256()
    root = os.fspath(root)
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, root)
        for name in sorted(dirnames + filenames):
            full = os.path.join(dirpath, name)
            st = os.lstat(full)
            h.update(f"{os.path.join(rel_dir, name)}\0{stat.S_IFMT(st.st_mode)}\0{stat.S_IMODE(st.st_mode)}\0".encode(
                "utf-8", "surrogateescape"))
            if mtimes:
                h.update(str(st.st_mtime_ns).encode())
            if stat.S_ISLNK(st.st_mode):
                h.update(os.readlink(full).encode("utf-8", "surrogateescape"))
            elif stat.S_ISREG(st.st_mode):
                with open(full, "rb") as fh:
                    for block in iter(lambda: fh.read(1 << 20), b""):
                        h.update(block)
            h.update(b"\0")
    return h.hexdigest()


@contextmanager
def unchanged(root: Path | str, mtimes: bool = False):
    """Assert that the block leaves ``root`` byte-identical."""
    before = tree_digest(root, mtimes)
    yield
    after = tree_digest(root, mtimes)
    assert after == before, f"{root} was changed by the run"
