"""The one folder of entrylint's caches on disk.

``$ENTRYLINT_CACHE_DIR``, else ``$XDG_CACHE_HOME/entrylint``, else ``~/.cache/entrylint``: the result
entries and the tree facts (``entrylint.cache``), the decoder's table
(``program.decode``) and the C-side index (``analysis.cindex``) all live
under it, so one variable (or one ``rm -r``) covers every cache, and a run
with a fresh folder is cold in every layer.  Never inside the analysed tree.
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
