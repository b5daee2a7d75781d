"""How the instructions of an edited file's program line up with the last
program's (analysis/shifted.py): which were put in, which taken out, and
each node's number in the other program."""

from __future__ import annotations


def inserted(old: list, new: list) -> list[int] | None:
    """Where ``new`` (instructions) is ``old`` with instructions put in
    (their places in ``new``, in order; none: the same instructions): every
    other one's text, mode and section the same, in order; None when it is
    not.  A line added to a macro's body is one instruction per expansion;
    where one is put in before one alike, the later is taken for the new one."""
    extra = len(new) - len(old)
    if extra < 0:
        return None
    got: list[int] = []
    i, n = 0, len(old)
    for j, b in enumerate(new):
        if i < n and _alike(old[i], b):
            i += 1
        else:
            got.append(j)
            if len(got) > extra:
                return None
    return got if i == n and len(got) == extra else None


def _alike(a, b) -> bool:
    return a is b or a.mnemonic == b.mnemonic and a.args == b.args and a.prefixes == b.prefixes and a.mode == b.mode \
        and a.section == b.section


def edits(old: list, new: list) -> tuple[list[int], list[int]] | None:
    """(the places in ``old`` of the instructions taken out, the places in
    ``new`` of those put in) when ``new`` is ``old`` with instructions put
    in (inserted()), taken out, or one taken out at one place and put in at
    another (a line moved, cut and pasted back: the language server's
    ``code`` edits); ([], []) for the same instructions; None otherwise."""
    if len(new) > len(old):
        got = inserted(old, new)
        return None if got is None else ([], got)
    if len(new) < len(old):
        got = inserted(new, old)
        return None if got is None else (got, [])
    n = len(old)
    a, b = 0, n
    while a < n and _alike(old[a], new[a]):
        a += 1
    if a == n:
        return [], []
    while b > a and _alike(old[b - 1], new[b - 1]):
        b -= 1
    if b - a < 2:
        return None  # (one instruction retyped: rewalk.py's)
    if all(_alike(x, y) for x, y in zip(old[a + 1:b], new[a:b - 1])):
        return [a], [b - 1]  # (taken out at a, put in before old b)
    if all(_alike(x, y) for x, y in zip(old[a:b - 1], new[a + 1:b])):
        return [b - 1], [a]
    return None


def renumbering(gone: list[int], put: list[int], total: int) -> list:
    """Each of the ``total`` nodes of a program -> its number in the one
    with the instructions at ``gone`` (its places) taken out and those at
    ``put`` (their places in the new one) put in; None for ``gone``.
    Forks move by the count, as the instructions before them."""
    out: list = []
    gone_s, put_s = set(gone), set(put)
    jn = 0
    for j in range(total):
        if j in gone_s:
            out.append(None)
            continue
        while jn in put_s:
            jn += 1
        out.append(jn)
        jn += 1
    return out
