"""Golden files for every text mode and output format (tests/golden/).

The default compares; ``ENTRYLINT_REGEN_GOLDEN=1 pytest tests/test_report_golden.py``
rewrites the files (review the diff before committing).  Each case pins its
rules with --select so that adding a rule does not touch these files; the
front-end findings (EL9xx) are always reported.  Absolute paths become
``<REPO>``; in SARIF the rule table (which every new rule changes) and the
tool version are left out here and checked in test_report_sarif.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from entrylint.faces import cli

REPO = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).resolve().parent / "golden"
REGEN = bool(os.environ.get("ENTRYLINT_REGEN_GOLDEN"))

SWAPGS = ["--select", "EL301,EL402", "fixtures/rules/swapgs_cr3_order_fires.S"]
TRACE = ["--select", "EL101", "fixtures/rules/live_scratch_fires.S"]
FRONTEND = ["--select", "EL301", "--no-assemble", "fixtures/frontend/bad_macro_args.S",
            "fixtures/frontend/cpp_error.S"]

CASES = {
    "swapgs_text": SWAPGS,
    "swapgs_terse": ["--terse", *SWAPGS],
    "swapgs_terse_nosummary": ["--terse", "--no-summary", *SWAPGS],
    "swapgs_emacs": ["--emacs", *SWAPGS],
    "swapgs_showfile": ["--showfile", "--no-summary", *SWAPGS],
    "swapgs_show_types": ["--show-types", *SWAPGS],
    "swapgs_gcc": ["--format", "gcc", *SWAPGS],
    "swapgs_github": ["--format", "github", *SWAPGS],
    "swapgs_sarif": ["--format", "sarif", *SWAPGS],
    "trace_text": TRACE,
    "trace_gcc": ["--format", "gcc", *TRACE],
    "trace_github": ["--format", "github", *TRACE],
    "trace_sarif": ["--format", "sarif", *TRACE],
    "frontend_text": FRONTEND,
    "frontend_terse": ["--terse", *FRONTEND],
    "frontend_emacs": ["--emacs", *FRONTEND],
    "frontend_gcc": ["--format", "gcc", *FRONTEND],
    "frontend_github": ["--format", "github", *FRONTEND],
    "frontend_sarif": ["--format", "sarif", *FRONTEND],
}

# --show-types changes nothing: the type (id:slug) is always printed.
SAME_AS = {"swapgs_show_types": "swapgs_text"}


def run(argv, monkeypatch, capsys) -> tuple[int, str]:
    monkeypatch.chdir(REPO)
    monkeypatch.delenv("NO_COLOR", raising=False)
    code = cli.main(["--color=never", *argv])
    out = capsys.readouterr().out
    return code, out


def normalize(name: str, out: str) -> str:
    out = out.replace(REPO.as_uri(), "file://<REPO>").replace(str(REPO), "<REPO>")
    if name.endswith("_sarif"):
        data = json.loads(out)
        run_ = data["runs"][0]
        run_["tool"]["driver"].pop("rules")
        run_["tool"]["driver"]["version"] = run_["tool"]["driver"]["semanticVersion"] = "<VERSION>"
        for r in run_["results"]:
            r.pop("ruleIndex")
        out = json.dumps(data, indent=2, sort_keys=True) + "\n"
    return out


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(name, monkeypatch, capsys):
    code, out = run(CASES[name], monkeypatch, capsys)
    assert code == 1, out
    got = normalize(name, out)
    path = GOLDEN / (SAME_AS.get(name, name) + (".sarif" if name.endswith("_sarif") else ".txt"))
    if REGEN and name not in SAME_AS:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(got)
    assert path.is_file(), f"{path} missing: run with ENTRYLINT_REGEN_GOLDEN=1"
    assert got == path.read_text(), f"{name} differs from {path.name} (ENTRYLINT_REGEN_GOLDEN=1 rewrites it)"


def test_goldens_have_no_absolute_paths():
    for p in GOLDEN.iterdir():
        text = p.read_text()
        assert str(REPO) not in text and "/home/" not in text and "/tmp/" not in text, p.name
