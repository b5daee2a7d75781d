"""Acceptance of the front end on real kernels: every .S file under arch/x86
of Debian's 6.1 and 6.12 expands under each built-in profile with no crash
and no front-end finding but headers only a kernel build writes (EL911) and
what GNU as itself would say without them.  The table is printed (-s)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

import frontend_survey  # noqa: E402


@pytest.mark.kernel
@pytest.mark.slow
def test_every_arch_x86_file_expands(kernel_tree_61, kernel_tree_612, tmp_path, capsys):
    rc = frontend_survey.main(["-j", "2", "--json", str(tmp_path / "survey.json")])
    out = capsys.readouterr().out
    with capsys.disabled():
        print("\n" + out)
    assert rc == 0, out
    import json

    results = json.loads((tmp_path / "survey.json").read_text())
    assert len(results) >= 2 * 3 * 130  # both trees, three profiles, every file walked
    assert not [r for r in results if r["crash"]]
