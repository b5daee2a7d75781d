"""Inline suppressions and baselines.

An inline suppression is a comment on the finding's line or the line above,
naming the rule (id or slug) and a reason:

    movq	%rdi, %cr3	/* entrylint: ignore[EL301] paranoid entry, see commit log */
    # entrylint: ignore[EL201,c-call-user-cr3] tracing is noinstr here

A suppression that matches no finding is reported (EL912) so stale ones do
not pile up; one without a reason is reported too (EL913).  A baseline file
lists fingerprints of known findings: with it, only new findings show.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import field
from pathlib import Path

from entrylint.findings.model import Finding, Severity, numbered
from entrylint.source.record import data

_SUPPRESS = re.compile(r"entrylint:\s*ignore\[([^\]]+)\]\s*(.*?)\s*(?:\*/)?\s*$")


class UnusedSuppression(Finding):
    id, slug = "EL912", "unused-suppression"
    severity = Severity.WARNING
    template = "suppression of {rules} matches no finding here"


class SuppressionWithoutReason(Finding):
    id, slug = "EL913", "suppression-without-reason"
    severity = Severity.WARNING
    template = "suppression of {rules} gives no reason"


@data
class Suppression:
    line: int
    rules: tuple[str, ...]
    reason: str
    used: bool = False


@data
class FileSuppressions:
    path: str
    items: list[Suppression] = field(default_factory=list)

    @classmethod
    def read(cls, path: str, text: str | None = None) -> FileSuppressions:
        if text is None:
            try:
                text = Path(path).read_text(encoding="utf-8", errors="replace")
            except OSError:
                text = ""
        out = cls(path)
        for i, line in enumerate(text.splitlines(), 1):
            m = _SUPPRESS.search(line)
            if m:
                rules = tuple(r.strip() for r in m.group(1).split(",") if r.strip())
                out.items.append(Suppression(i, rules, m.group(2).strip()))
        return out

    def match(self, f: Finding) -> Suppression | None:
        if f.location is None:
            return None
        for s in self.items:
            if s.line in (f.location.line, f.location.line - 1) and (f.id in s.rules or f.slug in s.rules):
                return s
        return None


def apply(findings: list[Finding], texts: dict[str, str | None]) -> list[Finding]:
    """Drop suppressed findings; add EL912/EL913 for unused or reasonless
    suppressions in the files named by ``texts`` (path -> buffer or None)."""
    files = {p: FileSuppressions.read(p, t) for p, t in texts.items()}
    out = []
    for f in findings:
        sup = files.get(f.location.file).match(f) if f.location and f.location.file in files else None
        if sup is None:
            out.append(f)
        else:
            sup.used = True
    from entrylint.source import Location

    for fs in files.values():
        for s in fs.items:
            loc = Location(fs.path, s.line, 1)
            if not s.used:
                out.append(UnusedSuppression(location=loc, args={"rules": ",".join(s.rules)},
                                             context=f"unused {','.join(s.rules)}"))
            if not s.reason:
                out.append(SuppressionWithoutReason(location=loc, args={"rules": ",".join(s.rules)},
                                                    context=f"noreason {','.join(s.rules)}"))
    return sorted(out, key=Finding.sort_key)


def write_baseline(path: Path, findings: list[Finding]) -> None:
    data = {"version": 1, "findings": sorted(
        ({"id": f.id, "fingerprint": f.fingerprint, "file": Path(f.location.file).name if f.location else ""}
         for f in findings), key=lambda d: (d["file"], d["id"], d["fingerprint"]))}
    path.write_text(json.dumps(data, indent=1) + "\n")


def read_baseline(path: Path) -> Counter:
    """(rule, fingerprint) -> how many findings the baseline holds with it."""
    data = json.loads(path.read_text())
    if not isinstance(data, dict) or data.get("version") != 1:
        raise ValueError(f"{path}: not an entrylint baseline (version 1)")
    return Counter((d["id"], d["fingerprint"]) for d in data.get("findings", []))


def filter_baseline(findings: list[Finding], known: Counter) -> list[Finding]:
    """``findings`` less the known ones: as many of those sharing a rule and
    fingerprint as the baseline holds (findings.model.numbered), the first
    in ``findings``' order; the others show."""
    return [f for (rule, fp, k), f in numbered(findings) if k >= known[(rule, fp)]]
