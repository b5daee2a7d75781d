"""Checkpatch-style text: what kernel developers already read.

    ERROR:EL201:c-call-user-cr3: call to trace_hardirqs_off() with the user CR3
    #588: FILE: arch/x86/entry/entry_64.S:588:
    +	TRACE_IRQS_OFF
        via TRACE_IRQS_OFF at arch/x86/entry/entry_64.S:588
        path: entry_SYSCALL_64 ...

    total: 1 errors, 0 warnings, 0 checks, 1650 lines checked
"""

from __future__ import annotations

from pathlib import Path

from entrylint.report.paths import display_path

LABEL = {"error": "ERROR", "warning": "WARNING", "info": "CHECK"}


def _source_line(file: str, line: int, cache: dict) -> str:
    if file not in cache:
        try:
            cache[file] = Path(file).read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            cache[file] = []
    lines = cache[file]
    return lines[line - 1] if 0 < line <= len(lines) else ""


def render(results, nfiles: int, nlines: int, summary: bool = True) -> str:
    out = []
    cache: dict = {}
    for root, f in results:
        loc = f.location
        out.append(f"{LABEL[f.severity.value]}:{f.id}:{f.slug}: {f.message}")
        if loc:
            path = display_path(loc.file, root)
            out.append(f"#{loc.line}: FILE: {path}:{loc.line}:")
            out.append(f"+{_source_line(loc.file, loc.line, cache)}")
        for t in f.trace[1:]:
            via = f"{t.macro} at " if t.macro else ""
            out.append(f"    via {via}{display_path(t.location.file, root)}:{t.location.line}")
        if f.path:
            out.append("    path:")
            for p in f.path:
                out.append(f"      {display_path(p.location.file, root)}:{p.location.line}: {p.note}  {p.state}")
        if f.profiles or f.assumptions:
            extra = ", ".join((*f.profiles, *f.assumptions))
            out.append(f"    when: {extra}")
        out.append("")
    if summary:
        sev = [f.severity.value for _, f in results]
        out.append(f"total: {sev.count('error')} errors, {sev.count('warning')} warnings, "
                   f"{sev.count('info')} checks, {nlines} lines checked")
    return "\n".join(out) + "\n"


def render_rule(info) -> str:
    head = f"{info.id} {info.slug} ({info.severity.value}, {info.status})"
    return f"{head}\n{'=' * len(head)}\n\n{info.doc}\n"


def render_rules(infos) -> str:
    rows = [f"{i.id}  {i.slug:24} {i.severity.value:8} {i.short}" for i in sorted(infos, key=lambda r: r.id)]
    return "\n".join(rows) + "\n"
