"""Apply patches in memory (issue 12): the tree is never written.

``TreeState`` is the tree as a series leaves it after some patches: the
files the patches touched, with their new contents, over the disk.  It is
installed for the readers with ``source.overlay.using(state.overlay())``.

A hunk is placed the way patch(1) places it: at its line number shifted by
what earlier hunks added, else the nearest position where its old lines
match; lines are compared exactly first, then with white space runs folded
(mail that turned tabs into spaces), then with up to two context lines
dropped at either end (fuzz).  Context lines keep the tree's own text, so a
whitespace-damaged patch changes only the lines it adds.

A path that leaves the root (``..``, absolute, or through a symlink that
points outside) is refused before anything is read.
"""

from __future__ import annotations

import os
from dataclasses import field
from pathlib import Path, PurePosixPath

from entrylint.patch.parse import FileDiff, Patch, PatchError
from entrylint.source import overlay
from entrylint.source.record import data


def safe_path(root: Path, rel: str) -> Path:
    """``root/rel``, or PatchError when ``rel`` would leave the root."""
    p = PurePosixPath(rel)
    if p.is_absolute() or rel.startswith(("/", "\\")) or (len(rel) > 1 and rel[1] == ":"):
        raise PatchError(f"{rel}: refused: an absolute path (patches name files relative to the tree root)")
    if ".." in p.parts:
        raise PatchError(f"{rel}: refused: the path leaves the tree root {root} through '..'")
    real_root = os.path.realpath(root)
    full = Path(root, *p.parts)
    real = os.path.realpath(full)
    if real != real_root and not real.startswith(real_root + os.sep):
        raise PatchError(f"{rel}: refused: the path leaves the tree root {root} through a symlink "
                         f"(it resolves to {real})")
    return full


def _fold(s: str) -> str:
    return " ".join(s.split())


@data
class Applied:
    """What one patch did: for each file, the new line -> patch line of each added line."""

    patch: Patch
    added: dict[str, dict[int, int]] = field(default_factory=dict)  # rel path -> {file line: patch line}
    texts: dict[str, str] = field(default_factory=dict)  # rel path -> added line text by patch line
    files: list[str] = field(default_factory=list)  # rel paths touched (after names)
    skipped: list[str] = field(default_factory=list)  # hunks whose result the tree already has
    hunks: int = 0  # hunks in the patch


class TreeState:
    """A tree plus the in-memory contents of the files a series changed."""

    def __init__(self, root: Path, files: dict[str, str | None] | None = None) -> None:
        self.root = Path(root)
        self.files: dict[str, str | None] = dict(files or {})

    def copy(self) -> "TreeState":
        return TreeState(self.root, self.files)

    def read(self, rel: str) -> str | None:
        if rel in self.files:
            return self.files[rel]
        full = safe_path(self.root, rel)
        try:
            return overlay.read_text(full)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except IsADirectoryError:
            raise PatchError(f"{rel}: is a folder in the tree, not a file") from None

    def overlay(self) -> overlay.Overlay:
        return overlay.Overlay(self.root, self.files)

    def apply(self, patch: Patch, reverse: bool = False, fuzz: bool = True) -> Applied:
        """Apply ``patch`` (all files, all hunks) or raise PatchError naming the
        file and the hunk that cannot be placed; nothing changes then."""
        done = Applied(patch)
        staged: dict[str, str | None] = {}
        for fd in patch.files:
            old, new = (fd.new, fd.old) if reverse else (fd.old, fd.new)
            for name in (old, new):
                if name is not None:
                    safe_path(self.root, name)
            src_name = old if old is not None else new
            cur = staged[src_name] if src_name in staged else (self.read(old) if old is not None else None)
            if old is not None and cur is None:
                raise PatchError(f"{patch.label}: {old}: no such file in the tree {self.root}")
            if old is None and cur is not None and new not in staged and self.read(new) is not None:
                raise PatchError(f"{patch.label}: {new}: the patch creates it, but the tree has it already")
            text, added = _apply_file(cur or "", fd, reverse, patch.label, done.skipped, fuzz)
            done.hunks += len(fd.hunks)
            if old is not None and new != old:
                staged[old] = None
            if new is None:
                staged[old] = None  # type: ignore[index]
                continue
            staged[new] = text
            done.files.append(new)
            done.added[new] = added
        self.files.update(staged)
        return done


def _apply_file(text: str, fd: FileDiff, reverse: bool, label: str,
                skipped: list[str], fuzz: bool = True) -> tuple[str, dict[int, int]]:
    lines = text.split("\n")
    trailing = bool(lines) and lines[-1] == ""
    if trailing:
        lines.pop()
    added: dict[int, int] = {}
    offset = 0
    out: list[str] = []
    pos = 0  # next line of ``lines`` not yet copied
    for k, h in enumerate(fd.hunks, 1):
        body = [(_flip(kind) if reverse else kind, t, at) for kind, t, at in h.lines]
        start = (h.new_start if reverse else h.old_start) - 1
        if (h.new_len if reverse else h.old_len) == 0:
            start += 1  # "@@ -N,0": the new lines go after line N
        where = _place(lines, body, start + offset, pos, fuzz)
        if where is None and fuzz and _place(lines, [(_flip(kind), t, at) for kind, t, at in body],
                                             start + offset, pos) is not None:
            # its result is in the tree already (patch(1): "previously applied"); go on
            skipped.append(f"{label}: {fd.path}: hunk {k} of {len(fd.hunks)} ({h.header.strip()}) "
                           f"is already in the tree: skipped")
            continue
        if where is None:
            raise PatchError(f"{label}: {fd.path}: hunk {k} of {len(fd.hunks)} ({h.header.strip()}) "
                             f"cannot be placed: its context and removed lines are not in the file")
        at, lo, hi = where  # the hunk's lines lo..hi (context trimmed by fuzz) match lines[at:]
        out += lines[pos:at]
        j = at
        for kind, t, pl in body[lo:hi]:
            if kind == " ":
                out.append(lines[j])
                j += 1
            elif kind == "-":
                j += 1
            else:
                out.append(t)
                added[len(out)] = pl
        pos = j
        offset = at - (start + lo)  # hunk numbers count in the original file; keep the drift
    out += lines[pos:]
    return "\n".join(out) + ("\n" if out and (trailing or not lines) else ""), added


def _flip(kind: str) -> str:
    return {"+": "-", "-": "+"}.get(kind, kind)


# (leading, trailing) context lines a placement may leave unmatched, tried in
# this order: the leading context kept as long as it can be (it anchors where
# the new lines go, as the author saw it), then the fewest lines dropped
_FUZZ = ((0, 0), (0, 1), (0, 2), (0, 3), (1, 0), (1, 1), (1, 2), (2, 0), (2, 1), (2, 2), (3, 0))


def _place(lines: list[str], body, guess: int, floor: int, fuzz: bool = True):
    """(index, lo, hi): the body's old side (``body[lo:hi]``) matches ``lines``
    at ``index`` (white space runs folded), searched outward from ``guess``,
    never before ``floor``."""
    lead = 0
    while lead < len(body) and body[lead][0] == " ":
        lead += 1
    tail = 0
    while tail < len(body) - lead and body[len(body) - 1 - tail][0] == " ":
        tail += 1
    folded = [_fold(t) for t in lines]
    for a, b in _FUZZ if fuzz else _FUZZ[:1]:
        if a > lead or b > tail:
            continue
        lo, hi = a, len(body) - b
        want = [_fold(t) for kind, t, _ in body[lo:hi] if kind != "+"]
        if (a or b) and not any(want):  # nothing left to anchor on
            continue
        for at in _around(guess + lo, floor, len(lines) - len(want)):
            if folded[at:at + len(want)] == want:
                return at, lo, hi
    return None


def _around(guess: int, lo: int, hi: int):
    guess = min(max(guess, lo), max(hi, lo))
    yield guess
    for d in range(1, max(hi - lo, 0) + 1):
        if guess - d >= lo:
            yield guess - d
        if guess + d <= hi:
            yield guess + d
        if guess - d < lo and guess + d > hi:
            break
