"""Selection, suppression, baselines, settings and rule documentation."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIRES = REPO / "fixtures" / "rules" / "swapgs_cr3_order_fires.S"


def run(*args, cwd=REPO, stdin=None):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "entrylint", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=120, input=stdin)


def ids(proc):
    return [f["id"] for f in json.loads(proc.stdout)["findings"]]


def test_select_and_ignore_by_id_slug_prefix():
    assert ids(run("--format", "json", "--select", "EL301", FIRES)) == ["EL301", "EL301"]
    assert ids(run("--format", "json", "--select", "swapgs-cr3-order", FIRES)) == ["EL301", "EL301"]
    assert set(ids(run("--format", "json", "--select", "EL30", "--ignore", "EL301", FIRES))) == {"EL302"}
    assert ids(run("--format", "json", "--select", "EL3", "--ignore", "EL301,gs-access-user-gs", FIRES)) == []
    bad = run("--select", "EL999", FIRES)
    assert bad.returncode == 2 and "unknown rule" in bad.stderr


def test_exit_codes_follow_fail_on():
    assert run("--select", "EL301", FIRES).returncode == 1
    quiet = REPO / "fixtures" / "rules" / "swapgs_cr3_order_quiet.S"
    assert run("--select", "EL301", quiet).returncode == 0


def test_inline_suppression_needs_a_reason_and_unused_ones_are_reported(tmp_path):
    src = FIRES.read_text().splitlines()
    fires = [i for i, line in enumerate(src) if "<- fires" in line]
    src[fires[0]] += "  /* entrylint: ignore[EL301] the test wants it */"
    src[fires[1]] += "  /* entrylint: ignore[swapgs-cr3-order] */"
    src.insert(0, "/* entrylint: ignore[EL201] nothing here to suppress */")
    f = tmp_path / "s.S"
    f.write_text("\n".join(src) + "\n")
    got = run("--format", "json", "--select", "EL301", f)
    found = json.loads(got.stdout)["findings"]
    assert sorted(x["id"] for x in found) == ["EL912", "EL913"]
    assert {x["line"] for x in found} == {1, fires[1] + 2}


def test_baseline_shows_only_new_findings(tmp_path):
    base = tmp_path / "base.json"
    assert run("--select", "EL301", "--write-baseline", base, FIRES).returncode == 1
    assert json.loads(base.read_text())["version"] == 1
    again = run("--format", "json", "--select", "EL301", "--baseline", base, FIRES)
    assert again.returncode == 0 and ids(again) == []
    # an unrelated edit above keeps the fingerprints: still nothing new
    moved = tmp_path / FIRES.name
    moved.write_text("/* a new comment line */\n" + FIRES.read_text())
    assert ids(run("--format", "json", "--select", "EL301", "--baseline", base, moved)) == []
    # the exit switch written twice: the second finding has the first one's
    # fingerprint (same rule, symbol and text), and it is new
    twice = tmp_path / "twice" / FIRES.name
    twice.parent.mkdir()
    switch = "\tmovq\t%cr3, %rdi\n\torq\t$0x1000, %rdi\n\tmovq\t%rdi, %cr3\n"
    twice.write_text(FIRES.read_text().replace("\tsysretq", switch + "\tsysretq"))
    second = len(FIRES.read_text().splitlines()) + 2  # the second switch's CR3 write
    new = json.loads(run("--format", "json", "--select", "EL301", "--baseline", base, twice).stdout)["findings"]
    assert [f["line"] for f in new] == [second], new


def test_settings_file_selects(tmp_path):
    shutil.copy(FIRES, tmp_path / "f.S")
    (tmp_path / ".entrylint.toml").write_text('select = ["EL301"]\n')
    assert ids(run("--format", "json", "f.S", cwd=tmp_path)) == ["EL301", "EL301"]
    (tmp_path / ".entrylint.toml").write_text('select = ["EL3"]\nignore = ["swapgs-cr3-order"]\n')
    assert "EL301" not in ids(run("--format", "json", "f.S", cwd=tmp_path))
    assert "EL302" in ids(run("--format", "json", "f.S", cwd=tmp_path))
    (tmp_path / ".entrylint.toml").write_text('no_such_key = 1\n')
    bad = run("f.S", cwd=tmp_path)
    assert bad.returncode == 2 and "unknown entrylint setting" in bad.stderr


def test_rule_docs_by_id_and_slug():
    a = run("rule", "EL301").stdout
    b = run("rule", "swapgs-cr3-order").stdout
    assert a == b and "## Why is this bad?" in a and "Use instead:" in a
    assert "EL301" in run("rules").stdout
    assert run("rule", "nope").returncode == 2


def test_stdin():
    got = run("--format", "json", "--select", "EL301", "-", stdin=FIRES.read_text())
    assert ids(got) == ["EL301", "EL301"]


def test_jobs_give_the_same_output():
    tree = REPO / "fixtures" / "rules"
    one = run("--format", "json", "--select", "EL3", tree)
    two = run("--format", "json", "--select", "EL3", "-j", "2", tree)
    assert one.returncode == two.returncode == 1
    assert one.stdout == two.stdout
