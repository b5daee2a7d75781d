"""Helpers for rule tests: run one rule on a fixture and compare ids/lines
(pyflakes' harness: classes, not wording)."""

from __future__ import annotations

from pathlib import Path

from entrylint import api

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "rules"


def run_rule(rule: str, fixture: str | Path, **options):
    """Findings of rule ``rule`` (id or slug) alone on ``fixtures/rules/<fixture>``."""
    path = fixture if isinstance(fixture, Path) else FIXTURES / fixture
    res = api.check(path, api.Options(**options), select=[rule])
    rs = api.rules()
    (rid,) = rs.resolve([rule])
    return [f for f in res.findings if f.id == rid]


def lines_of(path: Path, marker: str) -> list[int]:
    """Lines carrying ``marker`` in a comment (fixtures mark where a rule must fire)."""
    return [i for i, line in enumerate(path.read_text().splitlines(), 1) if marker in line]


def assert_fires_at_marks(rule: str, fixture: str, marker: str = "<- fires", **options):
    path = FIXTURES / fixture
    found = run_rule(rule, path, **options)
    # a later step that only inherits a finding's state fault is reported as its site (MODEL 8)
    got = sorted({f.location.line for f in found} | {s.line for f in found for s in f.later})
    want = lines_of(path, marker)
    assert got == want, f"{rule} on {fixture}: fired at {got}, marked {want}\n" + "\n".join(
        str(f) for f in run_rule(rule, path, **options))


def assert_quiet(rule: str, fixture: str, **options):
    found = run_rule(rule, FIXTURES / fixture, **options)
    assert not found, "\n".join(str(f) for f in found)
