"""Every released tree (../shared/kernels, 4.4 to 6.8, and Debian's 6.1 and
6.12), all of arch/x86/entry through the CLI, every built-in profile: no
error or warning but the documented true positives (tools/true_positives.toml),
at most two per row, no EL9xx, no crash."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

import kernels  # noqa: E402
import version_survey  # noqa: E402

TREES = kernels.shared_names() + [f"debian-{v}" for v in kernels.VERSIONS]


def test_documented_entries_are_complete():
    for tp in version_survey.documented():
        assert {"rule", "symbol", "trees", "why"} <= set(tp), tp
        assert len(tp["why"].split()) >= 20, f"{tp['rule']} at {tp['symbol']}: the reasoning is missing"


@pytest.mark.kernel
@pytest.mark.slow
@pytest.mark.parametrize("tree", TREES)
def test_released_tree_reports_only_documented(tree):
    found = [t for t in version_survey.trees([tree])]
    if not found:
        pytest.skip(f"{tree} not present (../shared/kernels, or run python3 tools/fetch_kernels.py)")
    (name, root), = found
    tps = version_survey.documented()
    rows = [version_survey.run_one(name, root, prof, tps) for prof in version_survey.PROFILES]
    bad = [r for r in rows if not r.ok]
    report = "\n".join(f"{r.tree} {r.profile}: crash {r.crashed!r}, documented {len(r.documented)}\n" + "\n".join(
        "  " + version_survey.line(f) for f in r.undocumented + r.frontend) for r in bad)
    assert not bad, report
