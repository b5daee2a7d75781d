"""SARIF output: valid against the OASIS 2.1.0 schema, carrying every property
GitHub code scanning reads, byte-for-byte deterministic, and read the same
way by sarif-tools."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from entrylint.faces import cli
from entrylint.report import sarif

REPO = Path(__file__).resolve().parents[1]
SCHEMA = Path("/work/shared/sarif/sarif-schema-2.1.0.json")
SWAPGS = ["--select", "EL301,EL402", "fixtures/rules/swapgs_cr3_order_fires.S"]
TRACE = ["--select", "EL101", "fixtures/rules/live_scratch_fires.S"]
FRONTEND = ["--select", "EL301", "--no-assemble", "fixtures/frontend/bad_macro_args.S",
            "fixtures/frontend/cpp_error.S"]
ALL_FIXTURES = ["fixtures/rules"]


def run_sarif(argv, monkeypatch, capsys, cwd=REPO) -> tuple[int, str]:
    monkeypatch.chdir(cwd)
    code = cli.main(["--format", "sarif", *argv])
    return code, capsys.readouterr().out


def validate(data) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    if not SCHEMA.is_file():
        pytest.skip(f"{SCHEMA} not present")
    schema = json.loads(SCHEMA.read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    errors = sorted(cls(schema).iter_errors(data), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:10])


@pytest.mark.parametrize("argv", [SWAPGS, TRACE, FRONTEND, ALL_FIXTURES], ids=["swapgs", "trace", "frontend", "all"])
def test_validates_against_the_schema(argv, monkeypatch, capsys):
    code, out = run_sarif(argv, monkeypatch, capsys)
    assert code in (0, 1)
    validate(json.loads(out))


def test_clean_run_validates(monkeypatch, capsys):
    code, out = run_sarif(["--select", "EL301", "fixtures/rules/swapgs_cr3_order_quiet.S"], monkeypatch, capsys)
    data = json.loads(out)
    validate(data)
    assert code == 0 and data["runs"][0]["results"] == []
    assert data["runs"][0]["invocations"] == [{"executionSuccessful": True, "exitCode": 0}]


def test_github_properties(monkeypatch, capsys):
    code, out = run_sarif(TRACE, monkeypatch, capsys)
    data = json.loads(out)
    assert data["version"] == "2.1.0" and data["$schema"]
    run = data["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "entrylint" and driver["version"]
    rules = driver["rules"]
    ids = [r["id"] for r in rules]
    assert ids == sorted(ids) and len(ids) == len(set(ids))
    from entrylint import api

    assert set(api.rules().info) <= set(ids)  # every rule, not only those that fired
    assert {"EL901", "EL905", "EL908"} <= set(ids)  # and the front-end kinds
    for r in rules:
        assert re.fullmatch(r"EL\d{3}", r["id"]) and r["name"]
        assert r["shortDescription"]["text"] and r["fullDescription"]["text"]
        assert r["help"]["text"] and r["help"]["markdown"]
        assert r["defaultConfiguration"]["level"] in ("error", "warning", "note")
        props = r["properties"]
        assert props["precision"] in ("very-high", "high", "medium", "low")
        assert isinstance(props["tags"], list)
        if "security-severity" in props:
            assert isinstance(props["security-severity"], str)
            assert 0.0 <= float(props["security-severity"]) <= 10.0
            assert "security" in props["tags"]
    el101 = rules[ids.index("EL101")]
    assert el101["name"] == "live-scratch"
    assert el101["help"]["markdown"] == api.rules().info["EL101"].doc

    assert run["automationDetails"]["id"] == "entrylint/"
    assert run["invocations"] == [{"executionSuccessful": True, "exitCode": code}]
    assert "originalUriBaseIds" not in run  # no kernel tree root for the fixtures

    results = run["results"]
    assert len(results) == 3  # live_scratch_fires.S: two in entry_SYSCALL_64, one in the trampoline
    for res in results:
        assert res["ruleId"] == "EL101" and rules[res["ruleIndex"]]["id"] == res["ruleId"]
        assert res["level"] == "error"
        text = res["message"]["text"]
        first = text.split(". ")[0]
        assert "[" not in first and len(first) > 20  # the first sentence stands alone
        loc = res["locations"][0]["physicalLocation"]
        assert loc["artifactLocation"] == {"uri": "fixtures/rules/live_scratch_fires.S", "uriBaseId": "%SRCROOT%"}
        assert loc["region"]["startLine"] >= 1
        related = res["relatedLocations"]
        assert related and [r["id"] for r in related] == list(range(1, len(related) + 1))
        for r in related:
            assert r["message"]["text"].startswith("via ")
            assert f"[{r['message']['text']}]({r['id']})" in text
        flow = res["codeFlows"][0]["threadFlows"][0]["locations"]
        assert flow and all({"cr3", "gs", "stack"} <= set(s["properties"]) for s in flow)
        assert all("cr3=" in s["location"]["message"]["text"] for s in flow)
        fps = res["partialFingerprints"]
        assert re.fullmatch(r"[0-9a-f]{16}:\d+", fps["primaryLocationLineHash"])
        assert re.fullmatch(r"[0-9a-f]{16}", fps["entrylint/v1"])
    first_mark = next(i for i, line in enumerate((REPO / "fixtures/rules/live_scratch_fires.S").read_text().splitlines(), 1)
                      if "<- fires" in line)
    assert results[0]["locations"][0]["physicalLocation"]["region"]["startLine"] == first_mark
    assert results[0]["relatedLocations"][0]["message"]["text"] == "via SWITCH_TO_KERNEL_CR3"


def test_levels_follow_severity(monkeypatch, capsys):
    _, out = run_sarif(SWAPGS, monkeypatch, capsys)
    levels = {(r["ruleId"], r["level"]) for r in json.loads(out)["runs"][0]["results"]}
    assert levels == {("EL301", "error"), ("EL402", "warning")}  # "warning" is written although the default


def test_line_hash_counts_identical_lines():
    lines = ["\tswapgs", "  nop", "swapgs  "]
    first, second = sarif.line_hash(lines, 1, ""), sarif.line_hash(lines, 3, "")
    assert first.split(":")[0] == second.split(":")[0]
    assert first.endswith(":1") and second.endswith(":2")


def test_state_parsing():
    assert sarif.parse_state("(origin=user gs=kernel cr3=user stack=task FRED=off,XENPV=off)") == {
        "origin": "user", "gs": "kernel", "cr3": "user", "stack": "task", "features": "FRED=off,XENPV=off"}


def test_deterministic_bytes(monkeypatch, capsys):
    _, a = run_sarif(ALL_FIXTURES, monkeypatch, capsys)
    _, b = run_sarif(ALL_FIXTURES, monkeypatch, capsys)
    assert a == b
    # and across processes (hash seeds differ)
    env_runs = [subprocess.run([sys.executable, "-m", "entrylint.faces.cli", "--format", "sarif", *TRACE],
                               cwd=REPO, capture_output=True, env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"})
                for seed in ("1", "2")]
    assert env_runs[0].stdout == env_runs[1].stdout and env_runs[0].stdout


def test_srcroot_when_the_root_is_known(tmp_path, monkeypatch, capsys):
    src = (REPO / "fixtures/rules/swapgs_cr3_order_fires.S").read_text()
    (tmp_path / "arch/x86/entry").mkdir(parents=True)
    (tmp_path / "arch/x86/entry/x.S").write_text(src)
    code, out = run_sarif(["--root", str(tmp_path), "--select", "EL301", str(tmp_path / "arch/x86/entry/x.S")],
                          monkeypatch, capsys, cwd=REPO)
    run = json.loads(out)["runs"][0]
    validate(json.loads(out))
    # named, without its place on disk (the same tree elsewhere gives the same bytes)
    assert run["originalUriBaseIds"] == {"%SRCROOT%": {"description": {"text": "the root of the kernel tree checked"}}}
    assert str(tmp_path) not in out
    uri = run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert uri == {"uri": "arch/x86/entry/x.S", "uriBaseId": "%SRCROOT%"}


def test_sarif_tools_reads_the_same_counts(tmp_path, monkeypatch, capsys):
    # on PATH, or beside this Python (a venv run without activating it, as .ci/run does)
    exe = shutil.which("sarif") or shutil.which("sarif", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("sarif-tools is not installed (pip install sarif-tools): no `sarif` command")
    _, out = run_sarif(ALL_FIXTURES, monkeypatch, capsys)
    f = tmp_path / "out.sarif"
    f.write_text(out)
    data = json.loads(out)
    want = {"error": 0, "warning": 0, "note": 0}
    for r in data["runs"][0]["results"]:
        want[r["level"]] += 1
    proc = subprocess.run([exe, "summary", str(f)], capture_output=True, text=True, check=True)
    got = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(error|warning|note): (\d+)", proc.stdout, re.M)}
    assert got == want, proc.stdout


@pytest.mark.kernel
def test_kernel_612_entry_validates(kernel_tree_612, monkeypatch, capsys):
    entry = kernel_tree_612 / "arch/x86/entry"
    code, out = run_sarif(["--root", str(kernel_tree_612), str(entry)], monkeypatch, capsys)
    assert code in (0, 1), out[-2000:]
    data = json.loads(out)
    validate(data)
    run = data["runs"][0]
    assert "uri" not in run["originalUriBaseIds"]["%SRCROOT%"]
    assert str(kernel_tree_612.resolve()) not in out
    for res in run["results"]:
        for loc in res.get("locations", []):
            art = loc["physicalLocation"]["artifactLocation"]
            assert not art["uri"].startswith("/") and art.get("uriBaseId") == "%SRCROOT%", art
