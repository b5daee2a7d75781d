"""How reporters name files: relative to the kernel tree root when inside it,
else relative to the working folder when below it, else as they are."""

from __future__ import annotations

import os
from pathlib import Path


def display_path(file: str, root: Path | None) -> str:
    if file.startswith("<"):
        return file
    p = Path(file)
    for base in (root, Path.cwd()):
        if base is None:
            continue
        try:
            return p.resolve().relative_to(base.resolve()).as_posix()
        except (ValueError, OSError):
            continue
    return os.path.normpath(file)
