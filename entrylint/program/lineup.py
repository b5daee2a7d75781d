"""How the instructions of an edited file's program line up with the last
program's (analysis/shifted.py), and its statements with the last build's
(program/shift.py): which were put in, which taken out, and each one's
number in the other list.  ``alike`` says when two elements are the same
for the reader (the instructions' texts; the statements' all but places)."""

from __future__ import annotations

import bisect


def inserted(old: list, new: list, alike=None) -> list[int] | None:
    """Where ``new`` (instructions) is ``old`` with instructions put in
    (their places in ``new``, in order; none: the same instructions): every
    other one's text, mode and section the same, in order; None when it is
    not.  A line added to a macro's body is one instruction per expansion;
    where one is put in before one alike, the later is taken for the new one."""
    alike = alike or _alike
    extra = len(new) - len(old)
    if extra < 0:
        return None
    got: list[int] = []
    i, n = 0, len(old)
    for j, b in enumerate(new):
        if i < n and alike(old[i], b):
            i += 1
        else:
            got.append(j)
            if len(got) > extra:
                return None
    return got if i == n and len(got) == extra else None


def _alike(a, b) -> bool:
    return a is b or a.mnemonic == b.mnemonic and a.args == b.args and a.prefixes == b.prefixes and a.mode == b.mode \
        and a.section == b.section


def edits(old: list, new: list, alike=None) -> tuple[list[int], list[int]] | None:
    """(the places in ``old`` of the instructions taken out, the places in
    ``new`` of those put in) when ``new`` is ``old`` with instructions put
    in (inserted()), taken out, or one taken out at one place and put in at
    another (a line moved, cut and pasted back: the language server's
    ``code`` edits); ([], []) for the same instructions.  Else the fewest
    taken out and put in that make ``new`` of ``old`` (``script``: a line
    of a macro's body moved out of it, or into one, is taken out once per
    expansion of the one and put in once per expansion of the other);
    None for one instruction retyped (rewalk.py's) and past ``LIMIT``."""
    alike = alike or _alike
    if len(new) > len(old):
        got = inserted(old, new, alike)
        return script(old, new, alike=alike) if got is None else ([], got)
    if len(new) < len(old):
        got = inserted(new, old, alike)
        return script(old, new, alike=alike) if got is None else (got, [])
    n = len(old)
    a, b = 0, n
    while a < n and alike(old[a], new[a]):
        a += 1
    if a == n:
        return [], []
    while b > a and alike(old[b - 1], new[b - 1]):
        b -= 1
    if b - a < 2:
        return None  # (one instruction retyped: rewalk.py's)
    if all(alike(x, y) for x, y in zip(old[a + 1:b], new[a:b - 1])):
        return [a], [b - 1]  # (taken out at a, put in before old b)
    if all(alike(x, y) for x, y in zip(old[a:b - 1], new[a + 1:b])):
        return [b - 1], [a]
    return script(old, new, alike=alike)


LIMIT = 24  # instructions taken out and put in, at most, that script() looks for
BUDGET = 40_000  # pairs of instructions script() compares, at most (a few ms)


def script(old: list, new: list, limit: int = LIMIT, alike=None) -> tuple[list[int], list[int]] | None:
    """The fewest instructions taken out of ``old`` and put in that make
    ``new`` (places as edits() gives them), at most ``limit`` of them; None
    past it.  The greedy shortest edit script (Myers 1986) of the two lists
    less their common head and tail: on each diagonal the furthest point
    reached with d changes, each step along a diagonal an instruction alike
    in both; an instruction put in next to one alike is the later one, as
    inserted() takes it."""
    alike = alike or _alike
    n, m = len(old), len(new)
    lo = 0
    while lo < n and lo < m and alike(old[lo], new[lo]):
        lo += 1
    hi_o, hi_n = n, m
    while hi_o > lo and hi_n > lo and alike(old[hi_o - 1], new[hi_n - 1]):
        hi_o -= 1
        hi_n -= 1
    N, M = hi_o - lo, hi_n - lo
    budget = BUDGET  # instructions compared, at most (each diagonal's steps along it)
    v = {1: 0}  # diagonal k (x - y) -> the furthest x reached on it
    seen = []  # v as each round d found it
    for d in range(min(limit, N + M) + 1):
        seen.append(dict(v))
        for k in range(-d, d + 1, 2):
            if k == -d or k != d and v[k - 1] < v[k + 1]:
                x = v[k + 1]  # down from diagonal k + 1: new[y - 1] put in
            else:
                x = v[k - 1] + 1  # right from diagonal k - 1: old[x - 1] taken out
            y = x - k
            while x < N and y < M and alike(old[lo + x], new[lo + y]):
                x += 1
                y += 1
                budget -= 1
            if budget < 0:
                return None
            v[k] = x
            if x >= N and y >= M:
                gone, put = [], []
                for e in range(d, 0, -1):  # back along the way that reached (N, M)
                    was = seen[e]
                    if k == -e or k != e and was[k - 1] < was[k + 1]:
                        k += 1
                        put.append(lo + was[k] - k)
                    else:
                        k -= 1
                        gone.append(lo + was[k])
                gone.reverse()
                put.reverse()
                return gone, put
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


def renumbered(gone: list[int], put: list[int]):
    """``renumbering``'s answer for one element, asked one at a time (a list
    of 10k statements is not renumbered whole for the few asked): old index
    -> new index, None for one taken out."""
    gone_s = set(gone)

    def number(v: int) -> int | None:
        if v in gone_s:
            return None
        x = v - bisect.bisect_left(gone, v)  # its place among those kept
        for p in put:  # (sorted: each put in at or before it pushes it one on)
            if p > x:
                break
            x += 1
        return x

    return number
