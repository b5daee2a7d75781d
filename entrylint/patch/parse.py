"""Read patches as mail delivers them (issue 12).

Input: ``git format-patch`` output, an mbox holding a series, a plain unified
diff, or a reply that quotes a patch (the seed, shared/seed/kaiser-v1-01-review.txt).
Mail damage is repaired while reading, each kind where it shows:

* CRLF line ends: the ``\\r`` is dropped;
* quoting: when the diff's own header lines are quoted (``> --- a/...``),
  one level of ``>`` (and the space after it) is taken off every quoted line
  and unquoted lines (the reply) end any hunk;
* wrapped mail headers: a header line that starts with white space continues
  the one before;
* context lines that lost their leading space (a blank context line trimmed
  to nothing, or ``> `` quoting that ate the space): inside a hunk, a line
  that starts with none of `` +-\\`` is context;
* tabs turned into spaces: handled when placing a hunk (apply.py compares
  lines with white space runs folded);
* signatures and list footers after the diff: a hunk ends when its line
  counts are used up, so what follows is never read as diff.

Nothing here reads the tree.  Problems are ``PatchError`` with the patch, the
file and the hunk named.
"""

from __future__ import annotations

import re
from dataclasses import field

from entrylint.patch import PatchError  # (defined in the package: the CLI catches it without reading this module)
from entrylint.source.record import data


@data
class Hunk:
    old_start: int
    old_len: int
    new_start: int
    new_len: int
    header: str  # the @@ line as written
    at: int  # line of the @@ in the patch (1-based, within its message)
    lines: list[tuple[str, str, int]] = field(default_factory=list)  # (' '|'-'|'+', text, patch line)

    def old(self) -> list[str]:
        return [t for k, t, _ in self.lines if k != "+"]

    def new(self) -> list[tuple[str, str, int]]:
        return [x for x in self.lines if x[0] != "-"]


@data
class FileDiff:
    old: str | None  # path in the tree before (None: a new file)
    new: str | None  # path after (None: deleted)
    at: int
    hunks: list[Hunk] = field(default_factory=list)

    @property
    def path(self) -> str:
        return self.new if self.new is not None else self.old  # type: ignore[return-value]


@data
class Patch:
    subject: str
    number: tuple[int, int] | None  # (2, 5) for "[PATCH 2/5]"
    files: list[FileDiff]
    text: list[str]  # the message's lines as delivered (for #NN positions)
    index: int = 1  # position in the input (1-based)
    count: int = 1  # patches in the input

    @property
    def label(self) -> str:
        n, m = self.number or (self.index, self.count)
        return f"{n}/{m}"


_MBOX_FROM = re.compile(r"^From \S+\s+(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ")
_NUMBER = re.compile(r"\[[^\]]*?\b(\d+)/(\d+)\s*\]")
_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_QUOTE = re.compile(r"^((?:> ?)++)")
_DIFF_HEAD = re.compile(r"^(?:--- \S|\+\+\+ \S|@@ -\d|diff )")
_HEADER = re.compile(r"^([A-Za-z][\w-]*):\s?(.*)$")


def split_messages(text: str) -> list[list[str]]:
    """The messages of an mbox (``From `` separator lines), or the whole input as one."""
    lines = [ln[:-1] if ln.endswith("\r") else ln for ln in text.split("\n")]
    if lines and lines[-1] == "":
        lines.pop()
    starts = [i for i, ln in enumerate(lines) if _MBOX_FROM.match(ln)]
    if not starts:
        return [lines]
    if starts[0] != 0 and any(ln.strip() for ln in lines[:starts[0]]):
        starts.insert(0, 0)
    return [lines[a:b] for a, b in zip(starts, starts[1:] + [len(lines)])]


def parse(text: str) -> list[Patch]:
    """Every patch of the input, in order; messages with no diff (a cover
    letter) are left out."""
    out = []
    for msg in split_messages(text):
        p = parse_message(msg)
        if p.files:
            out.append(p)
    for i, p in enumerate(out, 1):
        p.index, p.count = i, len(out)
    if not out:
        raise PatchError("no diff found in the input (expected git format-patch output, an mbox or a unified diff)")
    return out


def _headers(lines: list[str]) -> tuple[dict[str, str], int]:
    """Mail headers (wrapped lines joined) and where the body starts; none
    when the input does not start with headers."""
    i = 1 if lines and _MBOX_FROM.match(lines[0]) else 0
    heads: dict[str, str] = {}
    last = None
    start = i
    while i < len(lines):
        ln = lines[i]
        if ln == "":
            return (heads, i + 1) if heads else ({}, start)
        m = _HEADER.match(ln)
        if m and not _DIFF_HEAD.match(ln):
            last = m.group(1).lower()
            heads[last] = m.group(2).strip()
        elif ln[:1] in (" ", "\t") and last is not None:
            heads[last] += " " + ln.strip()
        else:
            return (heads, i) if heads else ({}, start)
        i += 1
    return heads, i


def _unquote(lines: list[str]) -> list[str | None]:
    """Take off the quoting of a quoted patch: None for a line outside the quote."""
    depths = [len(m.group(1).replace(" ", "")) for ln in lines
              if (m := _QUOTE.match(ln)) and _DIFF_HEAD.match(ln[m.end():])]
    if not depths or any(_DIFF_HEAD.match(ln) and ln.startswith(("--- ", "+++ ")) for ln in lines):
        return list(lines)
    depth = min(depths)
    out: list[str | None] = []
    for ln in lines:
        rest, ok = ln, True
        for _ in range(depth):
            if rest.startswith(">"):
                rest = rest[1:]
                if rest.startswith(" "):
                    rest = rest[1:]
            else:
                ok = False
                break
        out.append(rest if ok else None)
    return out


def _path(spec: str, strip_tilde_of: str | None = None) -> str | None:
    """The path of a ``---``/``+++`` line: up to a tab or a date, ``-p1``."""
    spec = spec.split("\t", 1)[0]
    spec = re.split(r"\s+\d{4}-\d\d-\d\d[ T]", spec, maxsplit=1)[0].strip()
    if " " in spec and not spec.startswith('"'):
        spec = spec.split(" ", 1)[0]
    if spec == "/dev/null":
        return None
    spec = spec.strip('"')
    if spec.startswith(("a/", "b/")):
        spec = spec[2:]
    if "~" in spec and strip_tilde_of is not None:  # quilt / akpm's scripts: a/file~patch-name
        base = spec.split("~", 1)[0]
        if base == strip_tilde_of:
            spec = base
    return spec


def parse_message(msg: list[str]) -> Patch:
    heads, body = _headers(msg)
    subject = heads.get("subject", "")
    if not subject:  # an archive page: the subject is the first line that names a patch
        subject = next((ln.strip() for ln in msg[:40] if "[PATCH" in ln.upper()),
                       next((ln.strip() for ln in msg if ln.strip()), ""))
    m = _NUMBER.search(subject)
    number = (int(m.group(1)), int(m.group(2))) if m and "PATCH" in subject.upper() else None
    subject = re.sub(r"^(?:Re:\s*)*+(?:\[[^\]]*\]\s*)?", "", subject).strip()
    lines = _unquote(msg)
    files: list[FileDiff] = []
    i = body
    n = len(lines)
    while i < n:
        ln = lines[i]
        if ln is None:
            i += 1
            continue
        if ln.startswith("--- ") and i + 1 < n and (lines[i + 1] or "").startswith("+++ "):
            new = _path(lines[i + 1][4:])  # type: ignore[index]
            old = _path(ln[4:], strip_tilde_of=new)
            if new is None and old is not None and "~" in old:
                old = old.split("~", 1)[0]
            files.append(FileDiff(old, new, i + 1))
            i += 2
            continue
        hm = _HUNK.match(ln)
        if hm and files:
            i = _read_hunk(lines, i, hm, files[-1])
            continue
        i += 1
    return Patch(subject, number, files, msg)


def _read_hunk(lines: list[str | None], i: int, hm: re.Match, fd: FileDiff) -> int:
    old_len = int(hm.group(2)) if hm.group(2) is not None else 1
    new_len = int(hm.group(4)) if hm.group(4) is not None else 1
    h = Hunk(int(hm.group(1)), old_len, int(hm.group(3)), new_len, lines[i], i + 1)  # type: ignore[arg-type]
    fd.hunks.append(h)
    old_left, new_left = old_len, new_len
    i += 1
    while (old_left > 0 or new_left > 0) and i < len(lines):
        ln = lines[i]
        if ln is None:  # the reply around a quoted patch: the quote ended
            break
        kind, text = ln[:1], ln[1:]
        if kind == "\\":  # "\ No newline at end of file"
            i += 1
            continue
        if kind == "+" and new_left > 0:
            h.lines.append(("+", text, i + 1))
            new_left -= 1
        elif kind == "-" and old_left > 0 and not (ln.startswith("--- ") and old_left == new_left == 0):
            h.lines.append(("-", text, i + 1))
            old_left -= 1
        elif old_left > 0 and new_left > 0:
            # context; a line that lost its leading space is context too
            h.lines.append((" ", text if kind == " " else ln, i + 1))
            old_left -= 1
            new_left -= 1
        else:
            break
        i += 1
    if old_left > 0 or new_left > 0:
        raise PatchError(f"{fd.path}: hunk {len(fd.hunks)} ({h.header.strip()}) is cut short: "
                         f"{old_left} old and {new_left} new lines missing")
    return i
