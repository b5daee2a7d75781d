"""The process's heap while files are checked: the cyclic collector
paused for each check (``gc_paused``), what a check leaves alive frozen."""

from __future__ import annotations

import gc
import itertools
from contextlib import contextmanager

_paused = itertools.count(1)  # the gc_paused blocks (one per profile checked) of this process
THAW_EVERY = 16  # blocks between two passes of the collector over what they left


@contextmanager
def gc_paused():
    """The expanders and the walk make millions of short-lived objects and
    hardly any reference cycles: the cyclic collector's passes over a heap
    that keeps growing cost a quarter of a check.  It is paused while one
    file is checked under one profile.  When the collector was on (the
    language server, the -j workers: the CLI's own process runs without it),
    what the check leaves alive (its result, the caches; their garbage is
    freed by reference counts) is then frozen, else the first young
    collection after it walks every one of those objects (45 ms after each
    re-analysis of 6.12 entry_64.S in the language server); every THAW_EVERY
    blocks it is thawed, so the collector sees any cyclic garbage among it
    once."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            if next(_paused) % THAW_EVERY:
                gc.freeze()
            else:
                gc.unfreeze()
            gc.enable()
