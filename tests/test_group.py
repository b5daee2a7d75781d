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


def _marks(path: Path, *markers: str) -> dict[str, list[int]]:
    lines = path.read_text().splitlines()
    return {m: [n for n, s in enumerate(lines, 1) if m in s] for m in markers}


def test_later_steps_that_inherit_a_state_fault_are_sites_of_the_first():
    # MODEL 8: the exit's early switch to the user CR3 is one fault; the pops
    # after it only inherit it.  Before the entry's switch the user CR3 came
    # with the entry: the first access is the fault, the next carries it on.
    path = FIX.parent / "inherited_exit.S"
    mark = _marks(path, "entry fault", "carried on", "reported:", "later step")
    res = api.check(path, api.Options(profile="defconfig"), select=["EL202"])
    found = sorted((f for f in res.findings if f.id == "EL202"), key=lambda f: f.location.line)
    assert [f.location.line for f in found] == mark["entry fault"] + mark["reported:"]
    entry, exit_ = found
    assert [s.line for s in entry.later] == mark["carried on"]
    assert [s.line for s in exit_.later] == mark["later step"]
    assert exit_.later_phrase == "in 2 later steps" and entry.later_phrase == "in 1 later step"
    assert not any(f.sites for f in found)


ENTRY = FIX.parent / "entry_never_switches.S"


def test_a_state_that_came_with_the_entry_is_one_fault_at_the_first_harm():
    # the IRQ entry never switches CR3: its first C call is the fault; the
    # second call (EL201) and the exit's per-cpu access (EL202) only carry
    # the same user CR3 on, whatever rule reports them
    mark = _marks(ENTRY, "/* reported:", "/* later step")
    res = api.check(ENTRY, api.Options(profile="defconfig"), select=["EL201", "EL202"])
    found = [f for f in res.findings if f.id in ("EL201", "EL202")]
    assert [(f.id, f.location.line) for f in found] == [("EL201", mark["/* reported:"][0])]
    assert [s.line for s in found[0].later] == mark["/* later step"]
    # the call the later steps came through is a step of the path of its own
    assert any(p.note.endswith("call trace_hardirqs_off") for p in found[0].path)


def test_two_entries_that_never_switch_are_two_faults():
    path = FIX.parent / "entry_never_switches_two.S"
    mark = _marks(path, "/* own fault", "/* later step", "/* set by a step")
    res = api.check(path, api.Options(profile="defconfig"), select=["EL201", "EL202"])
    found = sorted((f for f in res.findings if f.id in ("EL201", "EL202")), key=lambda f: f.location.line)
    assert [f.location.line for f in found] == sorted(mark["/* own fault"] + mark["/* set by a step"])
    first, second = found[:2]
    assert [[s.line for s in f.later] for f in (first, second)] == [[n] for n in mark["/* later step"]]
    assert not any(f.later for f in found[2:])
    assert len({f.fingerprint for f in found}) == 4


def test_every_format_shows_the_later_steps(capsys):
    mark = _marks(ENTRY, "/* later step")["/* later step"]
    args = ["--profile", "defconfig", "--select", "EL201,EL202", str(ENTRY)]
    main(["--format", "json", *args])
    (f,) = json.loads(capsys.readouterr().out)["findings"]
    assert [s["line"] for s in f["later_steps"]] == mark and f["sites"] == []
    main(["--format", "sarif", *args])
    (r,) = json.loads(capsys.readouterr().out)["runs"][0]["results"]
    assert [loc["physicalLocation"]["region"]["startLine"] for loc in r["relatedLocations"]
            if loc["message"]["text"] == "a later step of this fault"] == mark
    assert "in 2 later steps" in r["message"]["text"]
    main(["--format", "gcc", *args])
    assert capsys.readouterr().out.count("note: a later step of this fault") == 2
    main(args)
    assert "    in 2 later steps: " in capsys.readouterr().out


def test_grouping_keeps_the_fingerprint_of_the_first():
    # the finding reported is the first harm's own: grouping adds sites, it
    # does not change which finding a baseline or a patch review matches
    alone = api.check(ENTRY, api.Options(profile="defconfig"), select=["EL201"]).findings
    both = api.check(ENTRY, api.Options(profile="defconfig"), select=["EL201", "EL202"]).findings
    first = [f for f in alone if f.id == "EL201"][0]
    assert [f.fingerprint for f in both if f.id == "EL201"] == [first.fingerprint]


def test_cross_profile_first_harm_is_one_finding():
    # with CONFIG_TRACE_IRQFLAGS the tracing call is the first harm, without
    # it the irq-stack counter is: merged over the profiles, one finding
    path = FIX.parent / "entry_never_switches_profiles.S"
    mark = _marks(path, "/* reported:", "/* later step")
    per = {p: [f for f in api.check(path, api.Options(profile=p), select=["EL201", "EL202"]).findings
               if f.id in ("EL201", "EL202")] for p in ("max", "defconfig")}
    assert [f.location.line for f in per["defconfig"]] == mark["/* later step"][:1]  # alone, its own first harm
    found = [f for f in api.check(path, api.Options(), select=["EL201", "EL202"]).findings
             if f.id in ("EL201", "EL202")]
    assert [f.location.line for f in found] == mark["/* reported:"]
    assert [s.line for s in found[0].later] == mark["/* later step"]


def test_a_label_counted_by_backslash_at_keeps_the_fingerprint():
    path = FIX.parent / "counted_label.S"

    def el501(extra: bool):
        opts = api.Options(profile="defconfig", defines={"EXTRA_INVOCATION": "1"} if extra else {})
        (f,) = [f for f in api.check(path, opts, select=["EL501"]).findings if f.id == "EL501"]
        return f

    plain, shifted = el501(False), el501(True)
    assert plain.location.line == shifted.location.line
    assert plain.context != shifted.context or "#" in plain.context
    assert plain.fingerprint == shifted.fingerprint
