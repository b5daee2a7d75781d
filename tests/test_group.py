"""One fault, one finding (MODEL 8): a finding every expansion of a macro line
yields is reported once at that line, with the expansion sites; a finding
only some expansions yield stays at each faulty site."""

from __future__ import annotations

import json
from pathlib import Path

from entrylint import api
from entrylint.faces.cli import main

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "findings" / "one_fault_many_expansions.S"



def _line(marker: str) -> int:
    return next(i for i, line in enumerate(FIX.read_text().splitlines(), 1) if marker in line)


def _el201():
    return sorted((f for f in api.check(FIX, api.Options(profile="defconfig")).findings if f.id == "EL201"),
                  key=lambda f: f.location.line)


def test_every_expansion_faulty_is_one_finding_at_the_macro_line():
    grouped = [f for f in _el201() if f.sites]
    assert len(grouped) == 1
    (g,) = grouped
    assert g.location.line == _line("<- once, for all three")
    sites = [s.line for s in g.sites]
    assert sites == [i for i, line in enumerate(FIX.read_text().splitlines(), 1) if line.startswith("\tidtentry ")]


def test_some_expansions_faulty_are_reported_at_each_site():
    single = [f.location.line for f in _el201() if not f.sites]
    assert single == [_line("<- here"), _line("<- and here")]


def test_every_format_shows_the_sites(capsys):
    args = ["--profile", "defconfig", "--select", "EL201", str(FIX)]
    main(["--format", "json", *args])
    data = json.loads(capsys.readouterr().out)
    (g,) = [f for f in data["findings"] if f["sites"]]
    assert len(g["sites"]) == 3 and {"file", "line", "column"} <= set(g["sites"][0])
    main(["--format", "sarif", *args])
    sarif = json.loads(capsys.readouterr().out)
    res = [r for r in sarif["runs"][0]["results"] if "expansions yields it" in r["message"]["text"]]
    assert len(res) == 1
    assert sum(1 for loc in res[0]["relatedLocations"] if loc["message"]["text"] == "expanded here") == 3
    main(["--format", "gcc", *args])
    assert capsys.readouterr().out.count("note: expanded here") == 3
    main(args)
    assert "    in 3 expansions: " in capsys.readouterr().out


def test_later_steps_that_inherit_a_state_fault_are_sites_of_the_first():
    # MODEL 8: the exit's early switch to the user CR3 is one fault; the pops
    # after it only inherit it.  The accesses before the entry's switch are
    # faults of their own (the state came with the entry, not from a step).
    from pathlib import Path

    from entrylint import api

    path = Path(__file__).resolve().parents[1] / "fixtures" / "findings" / "inherited_exit.S"
    lines = path.read_text().splitlines()
    mark = {m: [n for n, s in enumerate(lines, 1) if m in s] for m in ("own fault", "reported:", "later step")}
    res = api.check(path, api.Options(profile="defconfig"), select=["EL202"])
    found = sorted((f for f in res.findings if f.id == "EL202"), key=lambda f: f.location.line)
    assert [f.location.line for f in found] == mark["own fault"] + mark["reported:"]
    exit_ = found[-1]
    assert exit_.sites_kind == "later steps" and [s.line for s in exit_.sites] == mark["later step"]
    assert exit_.sites_phrase == "in 2 later steps"
    assert not any(f.sites for f in found[:-1])
