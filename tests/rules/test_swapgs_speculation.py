from rulecheck import FIXTURES, assert_fires_at_marks, assert_quiet

from entrylint import api


def test_fires():
    assert_fires_at_marks("EL303", "swapgs_speculation_fires.S")


def test_quiet():
    assert_quiet("swapgs-speculation", "swapgs_speculation_quiet.S")


def test_which_paths_are_named():
    res = api.check(FIXTURES / "swapgs_speculation_fires.S", api.Options(), select=["EL303"])
    hows = [f.message.split("on the path where it ")[1] for f in res.findings if f.id == "EL303"]
    assert hows == ["runs and where it is skipped", "is skipped", "runs", "runs and where it is skipped",
                    "runs and where it is skipped", "runs"]


def test_c_call_and_return_to_c_are_gs_accesses():
    # MODEL 4: a C callee may read per-cpu data through GS (CVE-2019-1125's
    # gadgets are as often in C): a tail call, a call after an asm helper's
    # ret, and a ret of a function C calls
    res = api.check(FIXTURES / "swapgs_speculation_fires.S", api.Options(), select=["EL303"])
    whats = [f.message.split("before the ")[1].split(" at ")[0] for f in res.findings if f.id == "EL303"]
    assert whats[3:] == ["call to exc_invalid_op()", "call to exc_coproc()", "return to C"]


def test_a_fence_alternative_without_lfence_is_no_decision_point(tmp_path):
    # the fence macro's replacement lost its lfence: the fork no longer fences
    src = (FIXTURES / "swapgs_speculation_quiet.S").read_text().replace('"lfence", X86_FEATURE_FENCE', '"", X86_FEATURE_FENCE')
    path = tmp_path / "nofence.S"
    path.write_text(src)
    res = api.check(path, api.Options(), select=["EL303"])
    assert {f.location.line for f in res.findings if f.id == "EL303"} == {43, 78}


def test_fence_feature_fork_is_the_decision_point():
    # without the fence features, the empty side of FENCE_SWAPGS_*_ENTRY is an unfenced path
    res = api.check(FIXTURES / "swapgs_speculation_quiet.S", api.Options(), select=["EL303"],
                    rule_options={"swapgs-speculation": {"fence-features": []}})
    assert [f.location.line for f in res.findings if f.id == "EL303"] == [43, 78]


def test_a_tree_without_fence_features_is_one_fault():
    # MODEL 8, one fault one finding: a tree naming CPU features but no fence
    # feature predates the mitigation; its unfenced sites are further places
    res = api.check(FIXTURES / "swapgs_speculation_nofences.S", api.Options(profile="defconfig"), select=["EL303"])
    found = [f for f in res.findings if f.id == "EL303"]
    assert len(found) == 1
    f = found[0]
    assert type(f).__name__ == "SwapgsSpeculationNoFences"
    marks = _lines("swapgs_speculation_nofences.S")
    assert f.location.line == marks["<- fires"][0] and f.trace[-1].location.line == marks["place: written"][0]
    assert f.sites_kind == "places" and [s.line for s in f.sites] == marks["/* place */"]
    assert "defines no X86_FEATURE_FENCE_SWAPGS_KERNEL or X86_FEATURE_FENCE_SWAPGS_USER" in f.message


def test_a_tree_with_fence_features_reports_each_site(tmp_path):
    # once the tree has the fence decision, a site that lacks its fence is a fault of its own
    src = (FIXTURES / "swapgs_speculation_nofences.S").read_text()
    path = tmp_path / "withfences.S"
    path.write_text(src.replace("#define X86_FEATURE_XENPV", "#define X86_FEATURE_FENCE_SWAPGS_USER\t( 7*32+10)\n"
                                "#define X86_FEATURE_XENPV"))
    res = api.check(path, api.Options(profile="defconfig"), select=["EL303"])
    found = [f for f in res.findings if f.id == "EL303"]
    assert {type(f).__name__ for f in found} == {"SwapgsSpeculation"}
    # one per conditional swapgs: the macro's two expansions (their C calls
    # differ, so their messages do) and the direct site; the define moved them down a line
    marks = _lines("swapgs_speculation_nofences.S")
    assert sorted(f.location.line - 1 for f in found) == sorted(
        marks["<- fires"] + marks["/* place */"] + [marks["<- fires"][0] + 4])
    assert not any(f.sites for f in found)


def _lines(name) -> dict[str, list[int]]:
    text = (FIXTURES / name).read_text().splitlines()
    return {m: [n for n, line in enumerate(text, 1) if m in line] for m in ("<- fires", "place: written", "/* place */")}


def test_places_in_every_format():
    from entrylint.report import findings_json, gcc, sarif, text

    res = api.check(FIXTURES / "swapgs_speculation_nofences.S", api.Options(profile="defconfig"), select=["EL303"])
    results = [(None, f) for f in res.findings]
    assert "    in 1 place: " in text.render(results, 1, 40)
    assert '"sites_kind": "places"' in findings_json.render(results, 1, 40)
    assert "note: and here" in gcc.render(results)
    assert "The same fault is in 1 place: " in sarif.render(results, 1, 40)


def test_an_access_on_the_user_gs_is_el302s_finding_alone(tmp_path):
    """A %gs access after an exit swapgs reads the user GS on the path
    itself: EL302 reports it, and EL303 does not report the swapgs before it
    as unfenced for that access too (one fault, one finding)."""
    src = (FIXTURES / "swapgs_speculation_quiet.S").read_text()
    path = tmp_path / "after_exit.S"
    path.write_text(src.replace("\tjz\t3f\n\tswapgs\n", "\tjz\t3f\n\tswapgs\n\tmovq\t%gs:pcpu_hot, %rcx\n", 1))
    res = api.check(path, api.Options(), select=["EL302", "EL303"])
    line = path.read_text().splitlines().index("\tmovq\t%gs:pcpu_hot, %rcx") + 1
    assert [(f.id, f.location.line) for f in res.findings] == [("EL302", line)]
