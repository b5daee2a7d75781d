"""Every released tree (../shared/kernels, 4.4 to 6.8, and Debian's 6.1 and
6.12; today's, Debian unstable's newest, where fetched), all of arch/x86/entry through the CLI, every built-in profile: no
error or warning but the documented true positives (tools/true_positives.toml),
at most two per row, no EL9xx, no crash.

Where that does not hold yet the test says so with an xfail and its reason,
never by loosening the check: KNOWN_OPEN lists the false positives still
open (tree, profile, rule, symbol), and a row over two documented true
positives is shown as such."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

import kernels  # noqa: E402
import version_survey  # noqa: E402

TREES = kernels.shared_names() + [f"debian-{v}" for v in kernels.VERSIONS + kernels.OPTIONAL]

# false positives still open: (tree, profile, rule, symbol) -> why
KNOWN_OPEN: dict[tuple, str] = {}


def test_documented_entries_are_complete():
    for tp in version_survey.documented():
        assert {"rule", "symbol", "trees", "why"} <= set(tp), tp
        assert len(tp["why"].split()) >= 20, f"{tp['rule']} at {tp['symbol']}: the reasoning is missing"


def test_tree_lacks_limits_an_entry_to_trees_without_the_fix(tmp_path):
    tp = {"rule": "EL303", "symbol": "*", "trees": ["*"], "tree_lacks": "FENCE_SWAPGS", "why": ""}
    f = {"id": "EL303", "symbol": "nmi", "file": "arch/x86/entry/entry_64.S"}
    (tmp_path / "arch/x86/entry").mkdir(parents=True)
    (tmp_path / "arch/x86/entry/calling.h").write_text(".macro FENCE_SWAPGS_USER_ENTRY\n.endm\n")
    assert not version_survey.matches(tp, "t", "max", f, tmp_path)
    (tmp_path / "arch/x86/entry/calling.h").write_text("\n")
    assert version_survey.matches(tp, "t", "max", f, tmp_path)


@pytest.mark.kernel
@pytest.mark.slow
@pytest.mark.parametrize("tree", TREES)
def test_released_tree_reports_only_documented(tree):
    found = version_survey.trees([tree])
    if not found:
        pytest.skip(f"{tree} not present (../shared/kernels, or run python3 tools/fetch_kernels.py)")
    (name, root), = found
    tps = version_survey.documented()
    rows = [version_survey.run_one(name, root, prof, tps) for prof in version_survey.PROFILES]
    bad, known, over = [], [], []
    for r in rows:
        assert not r.crashed, f"{r.tree} {r.profile}: crash {r.crashed}"
        assert not r.frontend, "\n".join(version_survey.line(f) for f in r.frontend)
        for f in r.undocumented:
            key = (r.tree, r.profile, f.get("id"), f.get("symbol"))
            (known if key in KNOWN_OPEN else bad).append(f"{r.profile}: {version_survey.line(f)}")
        if len(r.documented) > version_survey.MAX_DOCUMENTED:
            over.append(f"{r.profile}: {len(r.documented)}")
    assert not bad, "\n".join(bad)
    if known or over:
        pytest.xfail(("known open false positives: " + "; ".join(known) if known else "")
                     + (f" more than {version_survey.MAX_DOCUMENTED} documented true positives per row "
                        f"(the pre-2019 swapgs-speculation class): " + ", ".join(over) if over else ""))
