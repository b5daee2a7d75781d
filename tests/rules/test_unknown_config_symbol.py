import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from rulecheck import FIXTURES, assert_fires_at_marks, assert_quiet, run_rule

TREE = FIXTURES / "kconfig_tree"


@pytest.mark.parametrize("profile", ["max", "pti-off"])
def test_fires(profile):
    assert_fires_at_marks("EL403", "unknown_config_symbol_fires.S", root=TREE, profile=profile)


def test_quiet():
    assert_quiet("unknown-config-symbol", "unknown_config_symbol_quiet.S", root=TREE)


def test_names_the_symbol():
    got = sorted(f.message.split()[0] for f in run_rule("EL403", "unknown_config_symbol_fires.S", root=TREE))
    assert got == ["CONFIG_DEBUG_ENTRY", "CONFIG_KAISER", "CONFIG_PAGE_TABLE_ISOLATON", "CONFIG_XEN_PV"]


def test_headers_of_the_same_folder_only(tmp_path):
    (tmp_path / "Kconfig").write_text("config KNOWN\n\tbool\n")
    entry = tmp_path / "arch" / "x86" / "entry"
    inc = tmp_path / "include"
    entry.mkdir(parents=True)
    inc.mkdir()
    (entry / "calling.h").write_text("#ifdef CONFIG_NEAR_TYPO\n#endif\n")
    (inc / "far.h").write_text("#ifdef CONFIG_FAR_TYPO\n#endif\n")
    (entry / "e.S").write_text('#include "calling.h"\n#include "../../../include/far.h"\n'
                               "#ifdef CONFIG_KNOWN\n\tnop\n#endif\n")
    got = {(Path(f.location.file).name, f.location.line) for f in run_rule("EL403", entry / "e.S", root=tmp_path)}
    assert got == {("calling.h", 1)}


def test_silent_without_kconfig(tmp_path):
    # no kernel tree above the file (the root falls back to its folder): no Kconfig, no judgement
    (tmp_path / "e.S").write_text("#ifdef CONFIG_SURELY_UNKNOWN\n\tnop\n#endif\n")
    assert run_rule("EL403", tmp_path / "e.S") == []
    assert run_rule("EL403", tmp_path / "e.S", root=TREE)  # the same file judged against a tree


def test_edited_text_is_judged_not_the_file_on_disk():
    from entrylint import api

    path = FIXTURES / "unknown_config_symbol_quiet.S"
    text = path.read_text().replace("#ifndef CONFIG_PARAVIRT", "#ifndef CONFIG_PARAVIRT_TYPO")
    res = api.check(path, api.Options(root=TREE), select=["EL403"], text=text)
    assert [f.args["name"] for f in res.findings if f.id == "EL403"] == ["PARAVIRT_TYPO"]


def test_the_scan_of_a_file_follows_its_text(tmp_path):
    """What a header tests is kept per lexed text: an edit of it is scanned again."""
    from entrylint_rules.unknown_config_symbol import scanned_symbols

    h = str(tmp_path / "calling.h")
    a = list(scanned_symbols(h, "#ifdef CONFIG_A\n#endif\n"))
    assert a == list(scanned_symbols(h, "#ifdef CONFIG_A\n#endif\n")) == [(("A", 1), 8)]
    assert list(scanned_symbols(h, "\n#if IS_ENABLED(CONFIG_B)\n#endif\n")) == [(("B", 2), 16)]
    assert list(scanned_symbols(h, "#ifdef CONFIG_A\n#endif\n", checked=True)) == a


def test_the_scan_keeps_a_header_once_and_never_the_file_checked(tmp_path):
    """The file checked is lexed anew at each edit (and a tree run checks
    hundreds): nothing of it is kept; a header's one entry is its current text's."""
    from entrylint_rules import unknown_config_symbol as rule

    main, h = str(tmp_path / "entry.S"), str(tmp_path / "calling.h")
    list(rule.scanned_symbols(main, "#ifdef CONFIG_A\n#endif\n", checked=True))
    assert main not in rule._SCANNED
    for k in range(3):
        list(rule.scanned_symbols(h, f"#ifdef CONFIG_{k}\n#endif\n"))
    assert [k for k in rule._SCANNED if k == h] == [h] and rule._SCANNED[h][1] == [(("2", 1), 8)]
