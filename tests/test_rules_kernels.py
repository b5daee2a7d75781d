"""Issue acceptance: every rule on Debian 6.1 and 6.12 (all of arch/x86/entry,
every built-in profile) reports nothing but the documented true positives."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

import rules_survey  # noqa: E402


@pytest.mark.kernel
@pytest.mark.slow
def test_released_kernels_only_documented(kernel_tree_61, kernel_tree_612, capsys):
    rc = rules_survey.main([])
    out = capsys.readouterr().out
    with capsys.disabled():
        print("\n" + out)
    assert rc == 0, out
