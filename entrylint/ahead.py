"""Facts of the tree made ahead, in a process apart, while this one reads
the file checked (api.check of a single file under one profile, the second
core otherwise idle until the file's callees are known).

Every check of a file of a tree asks, once the file is expanded, for the
Kconfig names the tree declares, the MSR entry targets it writes, the
asm index of arch/x86, and what the C code of arch/x86 says of per-cpu
variables (the stores to each, those declared user-mapped: treefacts.py)
(``KINDS``: ``cache.fact`` kinds).  None of them depends on the file: on a
cold 6.12 tree they were 0.14 s of entry_64.S's 1 s, on the one core,
after its expansion.  ``begin(root)`` forks a child
(``apart.serve``) that makes them through ``cache.fact``, so they reach the
disk's facts as they would here; the first ``cache.fact`` of one of those
kinds here takes what the child made (``take``: waiting for it if it is
not done), each use telling this process's recorders what it depends on.
A fact the child did not give is made here as before; a child that failed
gives none.

The child then reads the tree's C sources and the identifiers of each
(``LazyCIndex.prepare``), and waits: the C index's answers for the names
the file calls out to, asked once they are known (``c_answers``, from
``LazyCIndex.ask_apart``), are made there without searching 4.6 MB of C
text once per name.  ``end()`` closes the check: a child not asked is
stopped once its facts are in (its preparing writes nothing), and what it
made is forgotten, so no later check meets it.
"""

from __future__ import annotations

from pathlib import Path

# the facts every check of a file of the tree asks for after its expansion
KINDS = frozenset({"sourced-kconfig", "msr-entries", "asm-index", "percpu-stores", "user-mapped-percpu"})
# what the child's _make, _prepare and _answers import: a forker imports
# them once (apart.start_forker's preload), not each child it forks
IMPORTS = ("entrylint.analysis.asmindex", "entrylint.analysis.msr_entries", "entrylint.analysis.treefacts",
           "entrylint.analysis.cindex", "entrylint.source.tree", "tree_sitter", "tree_sitter_c")

_pending = None  # the child (apart.Handle of apart.serve)
_root: Path | None = None  # the tree it works on
_facts_in = False  # its first message (the facts) taken
_asked = False  # it was asked for the C answers (c_answers: the index reads and reaps it then)
_made: dict[str, tuple] = {}  # fact key -> (value, what a use depends on: cache.depend's arguments)
making: dict[str, tuple] | None = None  # in the child: the facts of KINDS made, by key
_index = None  # in the child: the C index it prepared
_own: dict = {}  # in the child: its answers for the names the file checked defines


def _make(root, checked=None) -> dict[str, tuple]:
    """(In the child.)  The facts of ``root`` of KINDS, by key (``checked``
    is _prepare's: apart.serve gives both the same arguments)."""
    global making
    making = {}
    from entrylint.analysis.asmindex import asm_definitions
    from entrylint.analysis.msr_entries import msr_entries
    from entrylint.analysis.treefacts import percpu_stores, user_mapped_percpu
    from entrylint.source.tree import kconfig_declared

    kconfig_declared(str(root))
    msr_entries(root)
    asm_definitions(root)
    percpu_stores(root)
    user_mapped_percpu(root)
    return making


def _prepare(root, checked=None) -> None:
    """(In the child.)  The tree's C index, its sources read and their
    identifiers listed; one of its own (no table on the disk: a child
    stopped here leaves nothing half written).  Then whether the index is
    empty (every check asks it: sent with each answer,
    ``LazyCIndex._answers_of``), and its answers for the
    names the file ``checked`` defines (the asm index): another file's
    code that the file calls may call them back, and the C index asked
    there, after the answers came, reads every C source (6.12: 16 ms for
    entry_64.S's clear_bhb_loop, called by entry_64_compat.S's code; its 18
    names cost 14 ms here, before the names come)."""
    global _index, _own
    from entrylint.analysis.cindex import DEFAULT_FOLDERS, LazyCIndex

    _index = LazyCIndex(Path(root), DEFAULT_FOLDERS)
    _index.prepare()
    _index.empty()  # (sent with the answers: _answers_of)
    if checked is not None:
        _own = _index._answers_of(_defined_by(Path(root), Path(checked)))


def _defined_by(root: Path, checked: Path) -> list[str]:
    from entrylint.analysis.asmindex import asm_definitions

    try:
        rel = checked.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return []
    return sorted(name for name, files in asm_definitions(root).items() if rel in files)


def _answers(names: list[str]) -> dict:
    got = _index._answers_of(names)
    for name, answer in _own.items():
        got.setdefault(name, answer)
    return got


def begin(root, checked=None) -> None:
    """Begin making the facts of the tree at ``root`` apart (nothing
    without a root, without a fork, or while a child is making them);
    ``checked``: the file the check reads (its own names are answered too)."""
    global _pending, _root, _facts_in
    if root is None or _pending is not None:
        return
    from entrylint import apart

    _pending, _root, _facts_in = apart.serve(_make, _prepare, _answers, root, checked), Path(root), False


def _take_facts() -> None:
    global _facts_in
    if _pending is not None and not _facts_in:
        from entrylint import apart

        _made.update(apart.receive(_pending, tell=False) or {})  # (each use tells what it depends on)
        _facts_in = True


def facts_before(h) -> None:
    """The C index is about to read its answers from ``h``: the child's
    facts come first on its pipe (taken now when no use took them yet)."""
    if h is not None and h is _pending:
        _take_facts()


def take(key: str) -> tuple | None:
    """The fact made ahead under ``key``: (value, what a use of it depends
    on), or None (made here then)."""
    _take_facts()
    return _made.get(key)


def c_answers(index, names: list[str]):
    """The child asked for ``index``'s answers for ``names`` (a handle for
    ``apart.result``), when it prepared that index; else None."""
    global _pending, _asked
    from entrylint.analysis.cindex import DEFAULT_FOLDERS

    if _pending is None or _asked or index.root != _root or index.folders != tuple(DEFAULT_FOLDERS):
        return None
    from entrylint import apart

    # (asked as soon as the names are known, without waiting for the facts:
    # the child answers once it is ready; its facts, first on the pipe, are
    # taken when they are used or before its answers, facts_before)
    if not apart.request(_pending, names):
        _take_facts()
        h, _pending = _pending, None
        apart.finish(h, stop=True)
        return None
    _asked = True
    return _pending


def end() -> None:
    """The check is over: a child not asked for answers is stopped once its
    facts are in (nothing is told of them: nothing here used them); one
    asked is left to the C index that reads its answers (they are next on
    its pipe) and reaps it; what it made is forgotten."""
    global _pending, _asked
    if _pending is not None:
        from entrylint import apart

        _take_facts()  # (asked: its answers, when the index reads them, come next)
        h, _pending = _pending, None
        if not _asked:
            apart.finish(h, stop=True)
    _asked = False
    _made.clear()


def forget() -> None:
    """(In a process apart forked meanwhile: the child making facts is not its own.)"""
    global _pending, _asked
    _pending, _asked = None, False
    _made.clear()


def expected() -> bool:
    """Facts are being made ahead, or were, for this check."""
    return _pending is not None or bool(_made)
