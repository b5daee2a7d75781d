"""How reporters name files: relative to the kernel tree root when inside it,
else relative to the working folder when below it, else as they are."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path


def display_path(file: str, root: Path | None) -> str:
    if file.startswith("<"):
        return file
    return _display(file, str(root) if root is not None else None, os.getcwd())


@lru_cache(maxsize=4096)
def _display(file: str, root: str | None, cwd: str) -> str:
    """Named once per (file, root, working folder): a reporter names the same
    few files for every statement and finding (``expand`` of a large
    expansion asked millions of times, each resolving the path anew)."""
    p = Path(file)
    for base in (root, cwd):
        if base is None:
            continue
        try:
            return p.resolve().relative_to(Path(base).resolve()).as_posix()
        except (ValueError, OSError):
            continue
    return os.path.normpath(file)
