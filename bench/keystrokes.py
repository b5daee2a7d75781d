"""The edits the language-server benchmark types (bench/lsp_latency.py), for
it and for tools/incremental_check.py --typing, which checks that sequence
against analyses from the start."""

from __future__ import annotations


def code_lines(lines: list[str]) -> list[int]:
    """The indices of the lines that hold an instruction or a macro invocation."""
    return [i for i, s in enumerate(lines) if s.startswith("\t") and not s.lstrip().startswith(("/*", "*", "#", "."))]


def along(lines: list[str], j: int) -> int:
    """The line index of the j-th place the edits go to: code line j * 37
    (every edit kind moves 37 code lines along the file, wrapping)."""
    code = code_lines(lines)
    return code[(j * 37) % len(code)]


def typed(text: str, k: int) -> str:
    """``text`` with the k-th keystroke-like edit: code line k // 4 (moving
    37 code lines along the file) retyped as a push of another register each time."""
    lines = text.splitlines(keepends=True)
    lines[along(lines, k // 4)] = f"\tpushq\t%r{'abcd'[k % 4]}x\n"
    return "".join(lines)


KEYS = "\tmovq\t%gs:8, %r11"  # what ``keyed`` types, a key at a time


def keyed(text: str, k: int) -> str:
    """``text`` with the k-th key of ``KEYS`` typed over a code line: the
    line (the 37th code line after the last one typed, moving along the file)
    holds the first 2..len(KEYS) characters, so the assembler refuses most
    of the texts (``movq %gs:8, %r``), as it does while a line is typed."""
    lines = text.splitlines(keepends=True)
    lines[along(lines, k // (len(KEYS) - 1))] = key_line(k)
    return "".join(lines)


def key_line(k: int) -> str:
    """The line ``keyed`` writes at its k-th key: the first 2..len(KEYS)
    characters of ``KEYS`` (a new line starts after the last)."""
    return KEYS[:2 + k % (len(KEYS) - 1)] + "\n"


def moved(text: str, k: int) -> str:
    """``text`` with a ``nop`` before code line k * 37 (wrapping): from the
    k-th such text to the next, the nop is taken out at one place and put
    in 37 code lines on (a line moved, cut and pasted back in one change:
    the language-server benchmark's ``code`` edits)."""
    lines = text.splitlines(keepends=True)
    lines.insert(along(lines, k), "\tnop\n")
    return "".join(lines)


def added(text: str, k: int) -> str:
    """``text`` with the k-th line edit: a ``nop`` added before code line j
    (moving 37 code lines along the file), then the one before it deleted,
    and so on -- nops before code lines {0}, {0, 1}, {1}, {1, 2}, {2}, ...
    of ``text``: one line added or deleted per edit, as an editor sends
    them, and never a text the edits made before."""
    j = (k + 1) // 2
    at = {j - 1, j} if k % 2 else {j}
    lines = text.splitlines(keepends=True)
    for i in sorted((along(lines, n) for n in at), reverse=True):
        lines.insert(i, "\tnop\n")
    return "".join(lines)
