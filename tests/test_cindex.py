"""The C function index (analysis/cindex.py): fixtures, then the real trees."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from entrylint.analysis import cindex
from entrylint.analysis.cindex import CIndex, blank_attributes, cached_index, definers_from_header

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "analysis" / "c"


@pytest.fixture(scope="module")
def fixture_index() -> CIndex:
    return CIndex.build(FIX, folders=(".",))


def test_blanking_keeps_offsets():
    src = b"__visible noinstr void f(void) __attribute__((x(1))) ;\n"
    out, found = blank_attributes(src)
    assert len(out) == len(src)
    assert out.split() == [b"void", b"f(void)", b";"]
    assert [n for _, n in found] == ["__visible", "noinstr", "__attribute__"]


def test_plain_and_attributed_functions(fixture_index):
    f = fixture_index.get("do_syscall_64")
    assert f is not None and f.noinstr and f.attributes >= {"__visible", "noinstr"}
    assert f.file == "entry.c" and f.line == 5
    assert fixture_index.get("sync_regs").noinstr  # pointer return, asmlinkage
    x = fixture_index.get("do_syscall_x64")
    assert x is not None and not x.noinstr and "__always_inline" in x.attributes
    assert fixture_index.get("setup_thing").attributes == {"__init"}  # under #ifdef
    assert fixture_index.get("plain_function") is not None


def test_macro_defined_functions(fixture_index):
    for name, macro in (("exc_int3", "DEFINE_IDTENTRY_RAW"), ("exc_page_fault", "DEFINE_IDTENTRY_RAW_ERRORCODE"),
                        ("noist_exc_debug", "DEFINE_IDTENTRY_DEBUG_USER")):
        f = fixture_index.get(name)
        assert f is not None and f.noinstr and f.macro == macro, name
    s = fixture_index.get("__x64_sys_ni_syscall")
    assert s is not None and not s.noinstr
    assert fixture_index.get("x") is None  # the body of a #define is not a definition
    assert fixture_index.get("DEFINE_IDTENTRY_RAW") is None


def test_definers_from_header_text():
    text = (
        "#define DEFINE_A(func)\t\t\\\n"
        "static __always_inline void __##func(struct pt_regs *regs);\t\\\n"
        "__visible noinstr void func(struct pt_regs *regs)\n"
        "#define DEFINE_B(func) DEFINE_A(pre_##func)\n"
        "#define DEFINE_C DEFINE_B\n"
        "#define DEFINE_D(func) void func(int x)\n"
        "#define DEFINE_E(func) void func(struct pt_regs *regs, unsigned long error_code)\n"
        "#define DEFINE_F(func) void func(void)\n"
    )
    d = definers_from_header(text)
    # (template, noinstr, attributes, declared parameters)
    assert d["DEFINE_A"] == ("{}", True, frozenset({"__visible", "noinstr"}), 1)
    assert d["DEFINE_B"][0] == "pre_{}" and d["DEFINE_B"][1] and d["DEFINE_B"][3] == 1
    assert d["DEFINE_C"] == d["DEFINE_B"]
    assert d["DEFINE_D"] == ("{}", False, frozenset(), 1)
    assert d["DEFINE_E"][3] == 2 and d["DEFINE_F"][3] == 0


def test_prototype_parameter_counts():
    from entrylint.analysis.cindex import count_params, parse_functions

    src = (b"static int two(struct pt_regs *regs, unsigned long code) { return 0; }\n"
           b"void none(void) { }\n"
           b"int fmt(const char *f, ...) { return 0; }\n"
           b"void (*handler_for(int vector))(int) { return 0; }\n"
           b"__visible noinstr void three(struct pt_regs *regs, long a, long b) { }\n")
    got = {f.name: f.params for f in parse_functions(src, "x.c", {})}
    assert got == {"two": 2, "none": 0, "fmt": None, "handler_for": 1, "three": 3}
    assert count_params("int (*cb)(int, int), long x") == 2


def test_cached_index_memo_and_disk(tmp_path, monkeypatch):
    monkeypatch.setenv("ENTRYLINT_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(cindex, "_memo", {})
    a = cached_index(FIX, folders=(".",))
    assert cached_index(FIX, folders=(".",)) is a
    assert list((tmp_path / "cindex").glob("*.pickle"))
    monkeypatch.setattr(cindex, "_memo", {})
    b = cached_index(FIX, folders=(".",))
    assert b is not a and b.functions == a.functions


# --- real trees (marker kernel) ---------------------------------------------

# C targets of call/jmp in the expanded 6.1/6.12 entry_64.S + entry_64_compat.S.
KNOWN_C_TARGETS = {
    "do_syscall_64": True, "sync_regs": True, "fixup_bad_iret": True, "vc_switch_off_ist": True,
    "exc_page_fault": True, "exc_nmi": True, "exc_int3": True, "noist_exc_debug": True,
    "kernel_exc_vmm_communication": True, "sysvec_apic_timer_interrupt": True,
    "syscall_exit_to_user_mode": True, "do_fast_syscall_32": True, "do_SYSENTER_32": True,
    "xen_pv_evtchn_do_upcall": True, "common_interrupt": True, "spurious_interrupt": True,
    "schedule_tail": False, "__switch_to": False, "make_task_dead": False,
}


def test_kernel_targets(kernel_tree):
    t0 = time.perf_counter()
    idx = CIndex.build(kernel_tree)
    took = time.perf_counter() - t0
    assert took < 10, took
    for name, noinstr in KNOWN_C_TARGETS.items():
        f = idx.get(name)
        assert f is not None, name
        assert f.noinstr is noinstr, (name, f)
    assert idx.get("exc_page_fault").file == "arch/x86/mm/fault.c"
    # asm symbols are not C functions
    for name in ("error_entry", "paranoid_entry", "swapgs_restore_regs_and_return_to_usermode"):
        assert idx.get(name) is None, name
