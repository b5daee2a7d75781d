"""What a patch review prints (issue 12): checkpatch's shape, per patch.

    PATCH 2/3: x86/entry: switch CR3 on the SYSCALL entry
    ERROR:EL201:c-call-user-cr3: call to trace_hardirqs_off_thunk() with the user CR3
    #45: FILE: arch/x86/entry/entry_64.S:13:
    +	TRACE_IRQS_OFF
        path: ...

    2/3: 1 introduced (1 errors, 0 warnings, 0 checks), 0 fixed, 4 existing (--show-existing)

``#NN`` is the line of the patch (of its message, for an mbox) that added
the reported line, as checkpatch numbers a patch; a finding on a line the
patch did not add shows ``FILE: path:line:`` only.  ``--terse`` gives one
line per finding (``-:NN: ERROR:...``, or ``path:line:`` with
``--showfile``), the shape b4's per-patch check commands read; with
``--no-summary`` a clean patch prints nothing.
"""

from __future__ import annotations

import json

from entrylint.report.findings_json import finding_obj
from entrylint.report.paths import display_path
from entrylint.report.text import LABEL, via_frames


# Rules whose fault is in a switch macro's definition, not at its uses: the
# guard (EL401), the run-time gate (EL402) and the body's effect (EL502) are
# what the author changes in the macro (issue 12, item 6)
AT_DEFINITION = frozenset({"EL401", "EL402", "EL502"})


def group_at_definition(findings):
    """One fault, one finding, across the files a patch touches: findings of
    a definition rule from the same macro body line (whatever page table or
    path each use saw there) become one finding at that body line, the line
    the author changes, with the invocations as its sites."""
    from dataclasses import replace

    groups: dict[tuple, list] = {}
    order = []
    for f in findings:
        key = None
        if f.id in AT_DEFINITION and f.location is not None:
            at = f.trace[-1].location if len(f.trace) > 1 else f.location
            key = (f.id, at.file, at.line)
        if key is None or key not in groups:
            order.append(key if key is not None else id(f))
        groups.setdefault(key if key is not None else id(f), []).append(f)
    out = []
    for k in order:
        fs = groups[k]
        if not isinstance(k, tuple) or (len(fs) == 1 and len(fs[0].trace) <= 1):
            out += fs  # not from a macro: the line is the one to change
            continue
        sites = []
        for f in fs:
            for loc in (f.sites or (f.location,)):
                if loc not in sites:
                    sites.append(loc)
        first = fs[0]
        profiles = tuple(dict.fromkeys(p for f in fs for p in f.profiles))
        last = first.trace[-1] if first.trace else None
        out.append(replace(first, location=last.location if last else first.location,
                           trace=(last,) if last else (), path=(), sites=tuple(sites), profiles=profiles))
    return out


def _shown(rep, show_existing: bool):
    out = [("introduced", f) for f in group_at_definition(rep.introduced)]
    if show_existing:
        out += [("existing", f) for f in group_at_definition(rep.existing)]
    return sorted(out, key=lambda x: (x[1].sort_key(), x[0]))


def _line_text(rep, f, root) -> str:
    from entrylint.patch.review import _rel

    rel = _rel(f.location.file, root)
    text = rep.after_text(rel) if rel else None
    lines = (text or "").split("\n")
    return lines[f.location.line - 1] if 0 < f.location.line <= len(lines) else ""


def render_text(reports, root, terse=False, showfile=False, summary=True, show_existing=False,
                details=True, brief=False) -> str:
    """``brief``: one line per finding (and its sites), for the one-screen default run."""
    out: list[str] = []
    totals = {"error": 0, "warning": 0, "info": 0}
    nlines = 0
    for rep in reports:
        shown = _shown(rep, show_existing)
        nlines += rep.lines
        for _, f in shown:
            totals[f.severity.value] += 1 if _ == "introduced" else 0
        if terse:
            for status, f in shown:  # b4's per-patch check: one line each
                out.append(_terse(rep, f, root, showfile) + (" [existing]" if status == "existing" else ""))
            continue
        out.append(f"PATCH {rep.patch.label}: {rep.patch.subject}")
        for note in rep.notes:
            out.append(f"NOTE: {note}")
        for status, f in shown:
            if brief:
                out.append(_terse(rep, f, root, True) + (" [existing]" if status == "existing" else ""))
                if f.sites:
                    out.append(f"    {f.sites_phrase}: " + ", ".join(
                        f"{display_path(x.file, root)}:{x.line}" for x in f.sites))
                if f.later:
                    out.append(f"    {f.later_phrase}: " + ", ".join(
                        f"{display_path(x.file, root)}:{x.line}" for x in f.later))
                continue
            out += _long(rep, f, root, status, showfile, details)
        for f in rep.fixed:
            loc = f.location
            where = f"{display_path(loc.file, root)}:{loc.line}" if loc else "-"
            out.append(f"FIXED:{f.id}:{f.slug}: {f.message}")
            out.append(f"    was at {where}")
        c = _count([f for st, f in shown if st == "introduced"])
        out.append(f"{rep.patch.label}: {c['error'] + c['warning'] + c['info']} introduced ({c['error']} errors, {c['warning']} "
                   f"warnings, {c['info']} checks), {len(rep.fixed)} fixed, {len(rep.existing)} existing"
                   + ("" if show_existing or not rep.existing else " (--show-existing)")
                   + f"; {', '.join(rep.files) or 'no .S file'} judged")
        out.append("")
    if summary and not terse:
        out.append(f"total: {totals['error']} errors, {totals['warning']} warnings, {totals['info']} checks "
                   f"introduced by {len(reports)} patch{'es' if len(reports) != 1 else ''}, "
                   f"{nlines} lines checked")
    return "\n".join(out) + "\n" if out else ""


def _count(findings) -> dict[str, int]:
    c = {"error": 0, "warning": 0, "info": 0}
    for f in findings:
        c[f.severity.value] += 1
    return c


def _terse(rep, f, root, showfile: bool) -> str:
    loc = f.location
    nn = rep.patch_line(f)
    if loc is None:
        where = "-:0"
    elif showfile or nn is None:
        where = f"{display_path(loc.file, root)}:{loc.line}"
    else:
        where = f"-:{nn}"
    return f"{where}: {LABEL[f.severity.value]}:{f.id}:{f.slug}: {f.message}"


def _long(rep, f, root, status, showfile: bool, details: bool) -> list[str]:
    out = [f"{LABEL[f.severity.value]}:{f.id}:{f.slug}: {f.message}"
           + (" [existing]" if status == "existing" else "")]
    loc = f.location
    if loc is not None:
        path = display_path(loc.file, root)
        nn = rep.patch_line(f)
        text = _line_text(rep, f, root)
        if showfile:
            out.append(f"{path}:{loc.line}:")
        elif nn is not None:
            out.append(f"#{nn}: FILE: {path}:{loc.line}:")
        else:
            out.append(f"FILE: {path}:{loc.line}:")
        out.append(("+" if nn is not None else " ") + text)
    if details:
        for where, macro in via_frames(f):
            out.append(f"    via {macro + ' at ' if macro else ''}{display_path(where.file, root)}:{where.line}")
    if f.sites:
        out.append(f"    {f.sites_phrase}: " + ", ".join(
            f"{display_path(x.file, root)}:{x.line}" for x in f.sites))
    if f.later:
        out.append(f"    {f.later_phrase}: " + ", ".join(
            f"{display_path(x.file, root)}:{x.line}" for x in f.later))
    if details and f.path:
        out.append("    path:")
        for p in f.path:
            out.append(f"      {display_path(p.location.file, root)}:{p.location.line}: {p.note}  {p.state}")
    if f.profiles or f.assumptions:
        out.append(f"    when: {', '.join((*f.profiles, *f.assumptions))}")
    out.append("")
    return out


def render_json(reports, root, show_existing=False) -> str:
    findings = []
    patches = []
    nlines = 0
    for rep in reports:
        nlines += rep.lines
        rows = [("introduced", f) for f in group_at_definition(rep.introduced)] + [
            ("fixed", f) for f in group_at_definition(rep.fixed)]
        if show_existing:
            rows += [("existing", f) for f in group_at_definition(rep.existing)]
        for status, f in rows:
            obj = finding_obj(f, root)
            obj.update(patch=rep.patch.label, status=status,
                       patch_line=rep.patch_line(f) if status != "fixed" else None)
            findings.append(obj)
        patches.append({"patch": rep.patch.label, "subject": rep.patch.subject, "files": rep.files,
                        "introduced": len(rep.introduced), "fixed": len(rep.fixed),
                        "existing": len(rep.existing), "notes": rep.notes})
    intro = [f for f in findings if f["status"] == "introduced"]
    sev = [f["severity"] for f in intro]
    return json.dumps({"version": 1, "findings": findings, "patches": patches,
                       "summary": {"patches": len(reports), "lines": nlines, "errors": sev.count("error"),
                                   "warnings": sev.count("warning"), "infos": sev.count("info"),
                                   "fixed": sum(len(r.fixed) for r in reports)}}, indent=1) + "\n"


def render_b4_json(reports, root) -> str:
    """``b4 review``'s per-patch check shape: [{tool, status, summary, url, details}]."""
    out = []
    for rep in reports:
        grouped = group_at_definition(rep.introduced)
        c = _count(grouped)
        status = "fail" if c["error"] else "warn" if c["warning"] or c["info"] else "pass"
        parts = [f"{n} {word}{'s' if n != 1 else ''}" for n, word in
                 ((c["error"], "error"), (c["warning"], "warning"), (c["info"], "check")) if n]
        summary = ", ".join(parts) + " introduced" if parts else "passed all checks"
        if len(reports) > 1:
            summary = f"{rep.patch.label}: {summary}"
        details = [{"status": "fail" if f.severity.value == "error" else "warn",
                    "description": _terse(rep, f, root, True)} for f in grouped]
        out.append({"tool": "entrylint", "status": status, "summary": summary, "url": "",
                    "details": json.dumps(details) if details else ""})
    return json.dumps(out) + "\n"
