"""Immutable records made once per statement, edge or operand.

A frozen dataclass's ``__init__`` sets each field through
``object.__setattr__``: 1.5 us for four fields, against 0.45 us for a plain
slotted class.  A file at the limits makes close to a million such records
(a body line and a statement per line read, a problem per bad invocation,
an edge per successor), and the guard cost a tenth of its run.

``record`` makes a slotted dataclass with the equality and hash of a frozen
one and a plain ``__init__``.  The records are still never changed after
they are made (they are shared by the profiles of one file and by the
caches); the guard is put back when ``ENTRYLINT_FROZEN_RECORDS`` is set, as
the test suite sets it, so a write to a record fails there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

FROZEN = bool(os.environ.get("ENTRYLINT_FROZEN_RECORDS"))


def record(cls=None, /, **kwargs):
    """``@record`` or ``@record(order=True)``: ``@dataclass(frozen=True,
    slots=True, ...)`` in behaviour, without the per-field cost of the guard."""

    def wrap(c):
        if FROZEN:
            return dataclass(frozen=True, slots=True, **kwargs)(c)
        return dataclass(slots=True, unsafe_hash=True, **kwargs)(c)

    return wrap if cls is None else wrap(cls)
