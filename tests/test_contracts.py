"""Macro contracts (analysis/contracts.py)."""

from __future__ import annotations

import pytest

from entrylint.analysis.contracts import (BUILTIN, CR3Effect, Contract, contract_to_table, contracts_for,
                                          family_for, parse_contract_table)


def test_families_and_names():
    assert set(BUILTIN) == {"kaiser-v1", "kaiser-4.4", "pti"}
    assert {"ADJUST_KERNEL_CR3", "ADJUST_USER_CR3", "SWITCH_TO_KERNEL_CR3", "SWITCH_TO_USER_CR3",
            "SAVE_AND_SWITCH_TO_KERNEL_CR3", "RESTORE_CR3"} <= set(BUILTIN["kaiser-v1"])
    # the seed's placeholders: the contract says what the switch means
    assert BUILTIN["kaiser-v1"]["SWITCH_TO_KERNEL_CR3"].cr3 is CR3Effect.KERNEL
    assert BUILTIN["kaiser-v1"]["SWITCH_TO_USER_CR3"].cr3 is CR3Effect.USER
    assert BUILTIN["kaiser-v1"]["RESTORE_CR3"].saves_cr3_in == "save_reg"
    assert BUILTIN["pti"]["SWAPGS_UNSAFE_STACK"].swaps_gs
    for fam, table in BUILTIN.items():
        for name, c in table.items():
            assert c.macro == name and c.family == fam


def test_family_for_and_contracts_for():
    assert family_for(["SWITCH_TO_KERNEL_CR3", "SWITCH_TO_USER_CR3_STACK"]) == "pti"
    assert family_for(["switch_kernel_cr3"]) == "kaiser-4.4"
    assert family_for(["ADJUST_USER_CR3", "SWITCH_TO_KERNEL_CR3"]) == "kaiser-v1"
    assert family_for([]) == "pti"
    extra = {"my_switch": Contract("MY_SWITCH", "config", CR3Effect.KERNEL, ("reg",))}
    got = contracts_for(["SWITCH_KERNEL_CR3"], extra)
    assert got["SWITCH_KERNEL_CR3"].family == "kaiser-4.4" and "MY_SWITCH" in got
    assert contracts_for(["SWITCH_TO_USER_CR3_NOSTACK"])["RESTORE_CR3"].family == "pti"


def test_parse_contract_table_round_trip():
    tomllib = pytest.importorskip("tomllib")  # 3.11+; the round trip below runs everywhere
    doc = tomllib.loads('''
[contracts.MY_SWITCH]
cr3 = "kernel"
clobbers = ["scratch_reg", "%rax"]

[contracts.MY_RESTORE]
cr3 = "restore"
saves_cr3_in = "save_reg"
swaps_gs = true
note = "site-local"
''')
    got = parse_contract_table(doc)
    assert got["MY_SWITCH"] == Contract("MY_SWITCH", "config", CR3Effect.KERNEL, ("scratch_reg", "%rax"))
    assert got["MY_RESTORE"].swaps_gs and got["MY_RESTORE"].saves_cr3_in == "save_reg"
    for table in BUILTIN.values():
        back = parse_contract_table({n: contract_to_table(c) for n, c in table.items()})
        assert back == table


@pytest.mark.parametrize("entry, word", [({"cr3": "sideways"}, "cr3"), ({"clobbers": "rax"}, "clobbers"),
                                         ({"bogus": 1}, "bogus"), ({"saves_cr3_in": 3}, "saves_cr3_in")])
def test_parse_contract_table_errors(entry, word):
    with pytest.raises(ValueError, match=word):
        parse_contract_table({"X": entry})


def _macros(tree):
    from entrylint.cpp import CppOptions, preprocess_file
    from entrylint.cpp.config import PROFILES
    from entrylint.gas import expand
    from entrylint.source.tree import kernel_include_search

    f = tree / "arch/x86/entry/entry_64.S"
    pp = preprocess_file(f, CppOptions(search=kernel_include_search(tree, for_file=f), kconfig=PROFILES["max"]))
    return expand(pp.lines).macros


def test_pti_contracts_match_real_macros(kernel_tree):
    """Every pti contract's parameters exist in the tree's macro of that name;
    the names the tree lacks are the other version's (RESTORE_CR3 <-> PARANOID_RESTORE_CR3, SWAPGS*)."""
    macros = _macros(kernel_tree)
    present = 0
    for name, c in BUILTIN["pti"].items():
        m = macros.get(name.lower())
        if m is None:
            assert name in {"RESTORE_CR3", "PARANOID_RESTORE_CR3", "SWITCH_TO_USER_CR3", "SWAPGS",
                            "SWAPGS_UNSAFE_STACK"}, name
            continue
        present += 1
        params = {p.name for p in m.params}
        named = {x for x in c.clobbers if not x.startswith("%")} | ({c.saves_cr3_in} - {None})
        assert named <= params, (name, named, params)
    assert present >= 6
    assert family_for(m.upper() for m in macros) == "pti"


@pytest.mark.kernel
@pytest.mark.parametrize("name", ["linux-4.4.178", "linux-4.9.154"])
def test_kaiser_44_contracts_match_the_released_backport(name):
    """The kaiser-4.4 rows against the backport's kaiser.h as released: every
    parameter a row names exists; SWITCH_USER_CR3_NO_STACK is not in these
    releases; SWAPGS* are paravirt.h's / irqflags.h's cpp macros there."""
    import sys as _sys
    from pathlib import Path as _Path

    _sys.path.insert(0, str(_Path(__file__).parent))
    from kernels import shared_tree

    tree = shared_tree(name)
    if tree is None:
        pytest.skip(f"{name} not in ../shared/kernels")
    macros = _macros(tree)
    for macro, c in BUILTIN["kaiser-4.4"].items():
        m = macros.get(macro.lower())
        if m is None:
            assert macro in {"SWITCH_USER_CR3_NO_STACK", "SWAPGS", "SWAPGS_UNSAFE_STACK"}, macro
            continue
        named = {x for x in c.clobbers if not x.startswith("%")} | ({c.saves_cr3_in} - {None})
        assert named <= {p.name for p in m.params}, (macro, named)
    assert family_for(m.upper() for m in macros) == "kaiser-4.4"


def test_every_builtin_row_says_which_versions():
    from entrylint.analysis.contracts import BUILTIN

    rows = [c for fam in BUILTIN.values() for c in fam.values()]
    assert rows and all(c.versions for c in rows), [c.macro for c in rows if not c.versions]
