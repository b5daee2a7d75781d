"""The rule registry: released ids and slugs never change (ruff's codes
table); every rule carries its documentation, a firing and a quiet fixture."""

from __future__ import annotations

from pathlib import Path

from entrylint import api

REPO = Path(__file__).resolve().parents[1]

# Released ids and slugs (MODEL 1): never renamed, never reused.
RELEASED = {
    "EL101": "live-scratch", "EL102": "save-reg-clobbered", "EL103": "call-clobbered-read",
    "EL201": "c-call-user-cr3", "EL202": "kernel-mem-user-cr3", "EL203": "return-kernel-cr3",
    "EL204": "user-stack-access", "EL301": "swapgs-cr3-order", "EL302": "gs-access-user-gs",
    "EL303": "swapgs-speculation", "EL401": "missing-config-guard", "EL402": "missing-runtime-gate",
    "EL403": "unknown-config-symbol", "EL501": "flag-misuse", "EL502": "contract-mismatch",
}
HEADINGS = ("## What it does", "## Why is this bad?", "## Example", "Use instead:", "## Options")


def builtin():
    return {i: r for i, r in api.rules().info.items() if r.plugin.startswith("entrylint_rules.")}


def test_released_ids_and_slugs_are_frozen():
    got = {i: r.slug for i, r in builtin().items()}
    assert got == RELEASED


def test_every_rule_is_documented_and_has_fixtures():
    for rid, info in builtin().items():
        for h in HEADINGS:
            assert h in info.doc, f"{rid}: no {h!r} in its documentation"
        module = info.plugin.split(".", 1)[1]
        fixtures = list((REPO / "fixtures" / "rules").glob(f"{module}_*"))
        assert any("fires" in f.name for f in fixtures), f"{rid}: no firing fixture"
        assert any("quiet" in f.name for f in fixtures), f"{rid}: no quiet fixture"
        assert (REPO / "tests" / "rules" / f"test_{module}.py").is_file(), f"{rid}: no tests"


def test_packages_list_covers_every_subpackage():
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    data = tomllib.loads((REPO / "pyproject.toml").read_text())
    listed = set(data["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "entrylint").rglob("__init__.py")}
    assert found <= listed, found - listed
