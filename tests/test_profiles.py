"""A default check judges every built-in profile and reports each finding once,
with the profiles it holds under (MODEL 6); --profile / --config narrow it."""

from __future__ import annotations

import json
from pathlib import Path

from entrylint import api
from entrylint.faces.cli import main

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "profiles" / "trace_before_switch.S"


def _by_id(findings, rule):
    return [f for f in findings if f.id == rule]


def test_default_judges_every_profile_and_reports_once():
    res = api.check(FIX)
    calls = _by_id(res.findings, "EL201")
    assert len(calls) == 1, [str(f) for f in res.findings]
    assert calls[0].location.line == 30
    # the tracing call exists only where CONFIG_TRACE_IRQFLAGS is set
    assert calls[0].profiles == ("max",)
    # a fault present in several profiles is still one finding, naming them all
    gate = _by_id(res.findings, "EL402")
    assert len(gate) == 1 and gate[0].profiles == ("max", "defconfig")


def test_profile_option_narrows():
    res = api.check(FIX, api.Options(profile="defconfig"))
    assert not _by_id(res.findings, "EL201")
    assert all(f.profiles == ("defconfig",) for f in res.findings)


def test_config_file_narrows(tmp_path):
    cfg = tmp_path / ".config"
    cfg.write_text("CONFIG_PAGE_TABLE_ISOLATION=y\nCONFIG_TRACE_IRQFLAGS=y\n")
    res = api.check(FIX, api.Options(config=cfg))
    (call,) = _by_id(res.findings, "EL201")
    assert call.profiles == (str(cfg),)


def test_json_and_text_show_the_profiles(capsys):
    assert main(["--format", "json", str(FIX)]) == 1
    data = json.loads(capsys.readouterr().out)
    (call,) = [f for f in data["findings"] if f["id"] == "EL201"]
    assert call["profiles"] == ["max"]
    main([str(FIX)])
    out = capsys.readouterr().out
    assert "    when: max\n" in out
