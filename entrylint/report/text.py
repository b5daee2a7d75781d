"""Checkpatch-style text: what kernel developers already read.

    ERROR:EL201:c-call-user-cr3: call to trace_hardirqs_off() with the user CR3
    #588: FILE: arch/x86/entry/entry_64.S:588:
    +	TRACE_IRQS_OFF
        via TRACE_IRQS_OFF at arch/x86/entry/entry_64.S:120
        path: entry_SYSCALL_64 ...

    total: 1 errors, 0 warnings, 0 checks, 1650 lines checked

The options follow checkpatch.pl (``TextStyle``):

* ``terse``: one line per finding, ``FILE:LINE: ERROR:EL201:slug: message``
  (checkpatch's ``--terse`` is ``--emacs`` plus one line; b4 counts a line
  with ``ERROR:`` as a failure and any other line as a warning).
* ``emacs``: the first line of each finding starts with ``FILE:LINE:``.
* ``showfile``: the ``#NN: FILE: f:NN:`` line becomes ``f:NN:``.  checkpatch
  uses it to show the file position rather than the patch position; entrylint
  checks files, so the two are the same and only the ``#`` line changes, to a
  form editors jump to.
* ``summary``: the closing ``total:`` line.
* ``color``: the severity word in colour and, in the long form, a
  highlighted excerpt (report/excerpt.py) instead of the ``+`` line.

The type (checkpatch's ``--show-types``) is always shown, as ``id:slug``.
"""

from __future__ import annotations

from pathlib import Path

from entrylint.report.paths import display_path
from entrylint.source.record import data

LABEL = {"error": "ERROR", "warning": "WARNING", "info": "CHECK"}
# checkpatch's colours: ERROR red, WARNING yellow, CHECK green, all bold.
COLOR = {"error": "\x1b[1;31m", "warning": "\x1b[1;33m", "info": "\x1b[1;32m"}
RESET = "\x1b[0m"


@data(frozen=True)
class TextStyle:
    terse: bool = False
    emacs: bool = False
    showfile: bool = False
    summary: bool = True
    color: bool = False


class SourceCache:
    """Source lines by file, read once (reporters never re-analyze, but they
    quote the line)."""

    def __init__(self) -> None:
        self._lines: dict[str, list[str]] = {}

    def lines(self, file: str) -> list[str]:
        if file not in self._lines:
            try:
                self._lines[file] = Path(file).read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                self._lines[file] = []
        return self._lines[file]

    def line(self, file: str, line: int) -> str:
        lines = self.lines(file)
        return lines[line - 1] if 0 < line <= len(lines) else ""


def via_frames(f):
    """The expansion trace below the reported line, as (location, macro):
    each frame is a line of the body of the macro invoked by the frame
    before it (``TraceStep.macro`` names the macro invoked *at* a frame)."""
    return [(t.location, f.trace[i - 1].macro) for i, t in enumerate(f.trace) if i > 0]


def render(results, nfiles: int, nlines: int, summary: bool = True, style: TextStyle | None = None) -> str:
    st = style or TextStyle(summary=summary)
    out: list[str] = []
    cache = SourceCache()
    for root, f in results:
        loc = f.location
        sev = f.severity.value
        label = f"{COLOR[sev]}{LABEL[sev]}{RESET}" if st.color else LABEL[sev]
        path = display_path(loc.file, root) if loc else None
        prefix = f"{path}:{loc.line}: " if loc and (st.emacs or st.terse) else ""
        out.append(f"{prefix}{label}:{f.id}:{f.slug}: {f.message}")
        if st.terse:
            continue
        if loc:
            out.append(f"{path}:{loc.line}:" if st.showfile else f"#{loc.line}: FILE: {path}:{loc.line}:")
            if st.color:
                from entrylint.report.excerpt import excerpt

                out += excerpt(cache.lines(loc.file), loc.line) or [f"+{cache.line(loc.file, loc.line)}"]
            else:
                out.append(f"+{cache.line(loc.file, loc.line)}")
        for where, macro in via_frames(f):
            via = f"{macro} at " if macro else ""
            out.append(f"    via {via}{display_path(where.file, root)}:{where.line}")
        if f.sites:
            out.append(f"    {f.sites_phrase}: " + ", ".join(
                f"{display_path(x.file, root)}:{x.line}" for x in f.sites))
        if f.later:
            out.append(f"    {f.later_phrase}: " + ", ".join(
                f"{display_path(x.file, root)}:{x.line}" for x in f.later))
        if f.path:
            out.append("    path:")
            for p in f.path:
                out.append(f"      {display_path(p.location.file, root)}:{p.location.line}: {p.note}  {p.state}")
        if f.profiles or f.assumptions:
            extra = ", ".join((*f.profiles, *f.assumptions))
            out.append(f"    when: {extra}")
        out.append("")
    if st.summary:
        sev = [f.severity.value for _, f in results]
        out.append(f"total: {sev.count('error')} errors, {sev.count('warning')} warnings, "
                   f"{sev.count('info')} checks, {nlines} lines checked")
    return "\n".join(out) + "\n" if out else ""


def render_rule(info) -> str:
    head = f"{info.id} {info.slug} ({info.severity.value}, {info.status})"
    return f"{head}\n{'=' * len(head)}\n\n{info.doc}\n"


def render_rules(infos) -> str:
    rows = [f"{i.id}  {i.slug:24} {i.severity.value:8} {i.short}" for i in sorted(infos, key=lambda r: r.id)]
    return "\n".join(rows) + "\n"
