"""``entrylint --format json``: the stable shape of MODEL 8 (keys are only
ever added)."""

from __future__ import annotations

import json

from entrylint.report.paths import display_path

VERSION = 1


def finding_obj(f, root) -> dict:
    loc = f.location
    return {
        "id": f.id, "slug": f.slug, "severity": f.severity.value,
        "file": display_path(loc.file, root) if loc else None,
        "line": loc.line if loc else None, "column": loc.col if loc else None,
        "message": f.message,
        "trace": [{"file": display_path(t.location.file, root), "line": t.location.line,
                   "column": t.location.col, "macro": t.macro} for t in f.trace],
        "path": [{"file": display_path(p.location.file, root), "line": p.location.line,
                  "note": p.note, "state": p.state} for p in f.path],
        "profiles": list(f.profiles), "assumptions": list(f.assumptions),
        "symbol": f.symbol, "fingerprint": f.fingerprint,
        "sites": [{"file": display_path(s.file, root), "line": s.line, "column": s.col} for s in f.sites],
        "sites_kind": f.sites_kind,
        "later_steps": [{"file": display_path(s.file, root), "line": s.line, "column": s.col} for s in f.later],
    }


def render(results, nfiles: int, nlines: int) -> str:
    """``results``: (root, finding) pairs."""
    findings = [finding_obj(f, root) for root, f in results]
    sev = [f["severity"] for f in findings]
    return json.dumps({"version": VERSION, "findings": findings,
                       "summary": {"files": nfiles, "lines": nlines, "errors": sev.count("error"),
                                   "warnings": sev.count("warning"), "infos": sev.count("info")}},
                      indent=1) + "\n"
