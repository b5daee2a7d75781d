"""A site table's line numbers carried to the tree fetched (tools/mutate.py).

Debian's linux-source packages move on: a stable point release, a backported
mitigation (6.1.176's entry_64.S gained ``HANDLE_INTR_SAFERET``, five lines
in two places, by 6.1.190).  A site table names lines of the release it was
written for.  For the Debian targets, ``mutate_lines.json`` keeps a short
hash of each line of that release's files (not their text); the files of the
tree fetched are aligned with them line by line (difflib), and each line
number of the table is carried to the tree fetched: the lines of the edit
operations, of the findings expected elsewhere, and of what the table reads.
A mutant with a line in a part that changed is left out, and said to be.
The trees of ../shared/kernels are fixed tarballs: no map.

    python tools/mutate_lines.py TARGET RELEASE TREE  # record TREE's lines as TARGET's table release
"""

from __future__ import annotations

import difflib
import hashlib
import json
import sys
from pathlib import Path

RECORD = Path(__file__).with_name("mutate_lines.json")


class Unmapped(Exception):
    """A table's line is in a part of its file that the tree fetched changed."""


def file_lines(path: Path) -> list[str]:
    """A file's lines as the site tables number them (no final empty one)."""
    lines = path.read_text(encoding="utf-8", errors="surrogateescape").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def line_hash(line: str) -> str:
    return hashlib.blake2b(line.rstrip().encode("utf-8", "surrogateescape"), digest_size=3).hexdigest()


def maps(target: str, sources: dict[str, list[str]]) -> tuple[str | None, dict[str, dict[int, int] | None]]:
    """(the release the table is numbered for, {file: {table line: tree
    line}}); None for a file that is the same, {} (no file) without a record."""
    data = json.loads(RECORD.read_text()) if RECORD.exists() else {}
    rec = data.get(target)
    if rec is None:
        return None, {}
    out: dict[str, dict[int, int] | None] = {}
    for f, hashes in rec["files"].items():
        old, new = hashes.split(), [line_hash(s) for s in sources[f]]
        if old == new:
            out[f] = None
            continue
        m: dict[int, int] = {}
        for a, b, n in difflib.SequenceMatcher(None, old, new, autojunk=False).get_matching_blocks():
            m.update((a + k + 1, b + k + 1) for k in range(n))
        out[f] = m
    return rec["release"], out


def moved(table: dict, f: str, line: int) -> int:
    m = table.get(f)
    if m is None:
        return line
    got = m.get(line)
    if got is None:
        raise Unmapped(f"{f}:{line} is in a part the tree fetched changed")
    return got


def moved_op(table: dict, f: str, op: tuple) -> tuple:
    """An edit operation of mutate.apply with its lines carried over."""
    kind = op[0]
    if kind in ("sub", "blank", "ins"):
        return (kind, moved(table, f, op[1])) + op[2:]
    if kind in ("move_before", "move_after"):
        return (kind, moved(table, f, op[1]), moved(table, f, op[2])) + op[3:]
    if kind == "move_block_after":
        a, b = moved(table, f, op[1]), moved(table, f, op[2])
        if b - a != op[2] - op[1]:
            raise Unmapped(f"{f}:{op[1]}-{op[2]} is no longer one block")
        return (kind, a, b, moved(table, f, op[3]))
    raise ValueError(kind)


def record(target: str, release: str, tree: Path, files) -> None:
    data = json.loads(RECORD.read_text()) if RECORD.exists() else {}
    d = tree / "arch" / "x86" / "entry"
    hashes = {}
    for f in files:
        hashes[f] = " ".join(line_hash(s) for s in file_lines(d / f))
    data[target] = {"release": release, "files": hashes}
    RECORD.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    from mutate import FILES

    record(sys.argv[1], sys.argv[2], Path(sys.argv[3]), FILES)
