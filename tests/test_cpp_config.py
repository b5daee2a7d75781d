"""Kconfig: .config parsing, autoconf.h, profiles; #if arithmetic."""

from __future__ import annotations

import pytest

from entrylint.cpp import PROFILES, CppOptions, Kconfig, preprocess_text

DOTCONFIG = """\
#
# Automatically generated file; DO NOT EDIT.
#
CONFIG_64BIT=y
CONFIG_MODX=m
CONFIG_STR="hello"
CONFIG_NUM=123
CONFIG_HEX=0x10
# CONFIG_OFF is not set
CONFIG_N=n
"""


def test_from_dotconfig(tmp_path):
    p = tmp_path / ".config"
    p.write_text(DOTCONFIG)
    kc = Kconfig.from_dotconfig(p)
    assert kc.values == {"CONFIG_64BIT": "y", "CONFIG_MODX": "m", "CONFIG_STR": '"hello"',
                         "CONFIG_NUM": "123", "CONFIG_HEX": "0x10"}
    assert kc.enabled("64BIT") and kc.enabled("CONFIG_MODX") and not kc.enabled("OFF")
    lines = kc.autoconf_h().splitlines()
    for want in ("#define CONFIG_64BIT 1", "#define CONFIG_MODX_MODULE 1", '#define CONFIG_STR "hello"',
                 "#define CONFIG_NUM 123", "#define CONFIG_HEX 0x10"):
        assert want in lines
    assert not any("CONFIG_OFF" in ln or "CONFIG_N " in ln for ln in lines)


def test_profiles():
    d, m, off = PROFILES["defconfig"], PROFILES["max"], PROFILES["pti-off"]
    assert Kconfig.from_profile("max") is m
    for sym in ("X86_64", "SMP", "64BIT"):
        assert d.enabled(sym)
    for sym in ("PAGE_TABLE_ISOLATION", "MITIGATION_PAGE_TABLE_ISOLATION", "TRACE_IRQFLAGS",
                "CONTEXT_TRACKING_USER", "PARAVIRT_XXL", "XEN_PV", "DEBUG_ENTRY"):
        assert m.enabled(sym), sym
    assert not off.enabled("PAGE_TABLE_ISOLATION") and not off.enabled("MITIGATION_PAGE_TABLE_ISOLATION")
    assert set(off.values) < set(d.values) <= set(m.values)
    with pytest.raises(ValueError):
        Kconfig.from_profile("nope")
    kc = d.with_overrides({"SMP": None, "CONFIG_NEW": "y"})
    assert not kc.enabled("SMP") and kc.enabled("NEW") and d.enabled("SMP")


def test_kconfig_predefined_without_kconfig_h():
    kc = Kconfig("k", {"CONFIG_A": "y", "CONFIG_M": "m", "CONFIG_S": '"s"', "CONFIG_ONE": "1"})
    src = ("#if IS_ENABLED(CONFIG_A) && IS_BUILTIN(CONFIG_A) && !IS_MODULE(CONFIG_A)\na\n#endif\n"
           "#if IS_ENABLED(CONFIG_M) && IS_MODULE(CONFIG_M) && !IS_BUILTIN(CONFIG_M) && !IS_REACHABLE(CONFIG_M)\nm\n#endif\n"
           "#if !IS_ENABLED(CONFIG_S) && !IS_ENABLED(CONFIG_NONE)\ns\n#endif\n"
           "CONFIG_S IS_ENABLED(CONFIG_A) IS_ENABLED(CONFIG_ONE)\n")
    r = preprocess_text(src, "t.S", CppOptions(kconfig=kc))
    assert [ln.text.split() for ln in r.lines] == [["a"], ["m"], ["s"], ['"s"', "1", "1"]]


@pytest.mark.parametrize("expr,value", [
    ("1 + 2 * 3 == 7", 1), ("(1 << 63) > 0", 0), ("(1u << 63) > 0", 1), ("-1 < 0u", 0),
    ("-1 < 0", 1), ("0x10 >> 4 == 1", 1), ("'\\n' == 10", 1), ("'\\377' < 0", 1),
    ("7 / 2 == 3 && -7 / 2 == -3 && -7 % 2 == -1", 1), ("0 && 1 / 0", 0), ("1 || 1 / 0", 1),
    ("(2, 3) == 3", 1), ("1 ? 0 : 1 / 0", 0), ("~0u == 0xffffffffffffffff", 1),
    ("UNDEFINED_NAME == 0", 1), ("defined(__x86_64__) && defined __ASSEMBLY__", 1),
    ("0b101 == 5 && 010 == 8 && 10UL == 10 && 3ll == 3", 1), ("!defined(__STDC_VERSION__)", 1),
])
def test_if_arithmetic(expr, value):
    r = preprocess_text(f"#if {expr}\nyes\n#else\nno\n#endif\n", "t.S", CppOptions())
    assert not r.problems
    assert r.lines[0].text.strip() == ("yes" if value else "no")


def test_kconfig_cpufeatures_depends_on_expressions():
    """Kconfig.cpufeatures' ``depends on`` lines (kconfig_deps._holds): !,
    && over ||, parentheses; anything else is not evaluated (its feature is
    then not taken for compiled out)."""
    from entrylint.cpp.kconfig_deps import _holds

    on = {"CONFIG_A", "CONFIG_B"}.__contains__
    for expr, want in [("A && !B", False), ("!(A && !B) || C", True), ("X86_64 || X86_PAE", False),
                       ("C || A && B", True), ("(C || A) && !B", False), ("!C", True), ("y", True), ("n", False)]:
        assert _holds(expr, on) is want, expr
    for bad in ("A &&", "A = y", "(A", "A B", "A if B"):
        with pytest.raises(ValueError):
            _holds(bad, on)


_SELECTED_IF_64 = """\
config X86_64
\tdef_bool y

config X86
\tdef_bool y
\tselect HAVE_TOOL if X86_64

config HAVE_TOOL
\tbool

config TOOL
\tbool

config THUNKS
\tdef_bool y
\tdepends on TOOL
\thelp
\t  Needs TOOL.
\t  depends on X86_64 (help text: not read)

config TRACKING
\tbool "Call depth tracking"
\tdepends on THUNKS
\tselect TOOL if HAVE_TOOL

config PLAIN
\tbool "Help that names 64-bit"
\thelp
\t  depends on X86_64
"""


@pytest.mark.parametrize("top", [True, False])
def test_an_option_only_a_64_bit_select_turns_on_needs_64_bit(tmp_path, top):
    """6.x: OBJTOOL is selected ``if HAVE_OBJTOOL``, which X86 selects ``if
    X86_64``; what depends on it (CALL_DEPTH_TRACKING, through
    HAVE_CALL_THUNKS) is no option of a 32-bit kernel.  Read from the files
    the top Kconfig sources, or in a tree without one from arch/x86."""
    from entrylint.cpp.kconfig_deps import requires_64bit

    (tmp_path / "arch" / "x86").mkdir(parents=True)
    (tmp_path / "arch" / "x86" / "Kconfig").write_text(_SELECTED_IF_64)
    if top:
        (tmp_path / "Kconfig").write_text('mainmenu "t"\n\nsource "arch/x86/Kconfig"\n')
    names = ["CONFIG_HAVE_TOOL", "CONFIG_TOOL", "CONFIG_THUNKS", "CONFIG_TRACKING", "CONFIG_PLAIN", "CONFIG_X86"]
    assert requires_64bit(tmp_path, names) == {"CONFIG_HAVE_TOOL", "CONFIG_TOOL", "CONFIG_THUNKS", "CONFIG_TRACKING"}


@pytest.mark.parametrize("other", ["config ANY\n\tbool \"any\"\n\tselect TOOL\n",  # a select of any kernel
                                   "config TOOL\n\tbool \"A prompt\"\n",  # a user may turn it on
                                   "config TOOL\n\tdefault y if X86\n",  # a default may
                                   "config ANY\n\tbool \"any\"\n\tselect TOOL if HAVE_TOOL || ANY\n"])
def test_an_option_a_32_bit_kernel_can_turn_on_is_kept(tmp_path, other):
    from entrylint.cpp.kconfig_deps import requires_64bit

    (tmp_path / "arch" / "x86").mkdir(parents=True)
    (tmp_path / "arch" / "x86" / "Kconfig").write_text(_SELECTED_IF_64 + "\n" + other)
    assert requires_64bit(tmp_path, ["CONFIG_HAVE_TOOL", "CONFIG_TOOL", "CONFIG_TRACKING"]) == {"CONFIG_HAVE_TOOL"}
