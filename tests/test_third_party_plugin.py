"""A third-party rule package (tests/plugin_example: a module and the
.dist-info an install writes) is found through the entrylint.rules entry
point, and its findings appear in every output format."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PLUGIN = Path(__file__).resolve().parent / "plugin_example"
FIXTURE = REPO / "fixtures" / "rules" / "swapgs_cr3_order_quiet.S"


def run(*args):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(PLUGIN), str(REPO)]))
    return subprocess.run([sys.executable, "-m", "entrylint", *map(str, args)], capture_output=True,
                          text=True, cwd=REPO, env=env, timeout=120)


def test_listed_and_documented():
    assert "EL801  example-swapgs-audit" in run("rules").stdout
    doc = run("rule", "example-swapgs-audit").stdout
    assert "## Why is this bad?" in doc and "(warning, preview)" in doc
    # without the package on the path it is not there
    plain = subprocess.run([sys.executable, "-m", "entrylint", "rules"], capture_output=True, text=True,
                           cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=120)
    assert "EL801" not in plain.stdout


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "gcc", "github"])
def test_findings_in_every_format(fmt):
    proc = run("--format", fmt, "--select", "EL801", FIXTURE)
    assert proc.returncode == 1, proc.stderr
    out = proc.stdout
    if fmt == "json":
        assert [f["id"] for f in json.loads(out)["findings"]] == ["EL801", "EL801"]
    elif fmt == "sarif":
        run_ = json.loads(out)["runs"][0]
        assert [r["ruleId"] for r in run_["results"]] == ["EL801", "EL801"]
        assert any(r["id"] == "EL801" for r in run_["tool"]["driver"]["rules"])
    else:
        assert out.count("EL801") == 2
