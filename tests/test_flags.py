"""Reaching flag writers (forward): who last wrote the flag a jcc reads."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from entrylint import api
from entrylint.analysis.cfg import CFG
from entrylint.analysis.flags import FlagDef, compute_flags

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "analysis"


def analyze(name: str, entries=()):
    exp = api.expand(FIX / name)
    assert not exp.findings, [str(f) for f in exp.findings]
    prog = exp.program
    cfg = CFG(prog)
    return prog, compute_flags(prog, cfg, entries)


def at(prog, text: str, nth: int = 0) -> int:
    return [i.index for i in prog.instructions if " ".join(i.text.split()) == text][nth]


def test_bt_then_jz_reads_a_zf_bt_did_not_give():
    prog, reach = analyze("liveness_flags.S")
    bt = at(prog, "bt $12, %rax", 0)
    jz = at(prog, "jz 1f", 0)
    got = reach.defs(jz, "zf")
    # bt writes CF only.  Intel: ZF unaffected (what the decoder says today);
    # AMD: ZF undefined.  Either way no path gives the jz a ZF that bt defined.
    if "zf" in prog.instructions[bt].info.flags_undefined:
        assert got == {FlagDef(bt, True)}
    else:
        assert got == {FlagDef(None, False)}  # nothing before bt wrote ZF
    assert FlagDef(bt, False) not in got


def test_bt_then_jc_reads_a_defined_cf():
    prog, reach = analyze("liveness_flags.S")
    bt = at(prog, "bt $12, %rax", 1)
    assert reach.defs(at(prog, "jc 1f"), "cf") == {FlagDef(bt, False)}
    # OF is among what bt leaves undefined
    assert reach.defs(at(prog, "jo 1f"), "of") == {FlagDef(bt, True)}
    # only the flags an instruction reads are recorded
    assert set(reach.before[at(prog, "jc 1f")]) == {"cf"}


def test_c_call_leaves_status_flags_undefined():
    prog, reach = analyze("liveness_flags.S")
    call = at(prog, "call do_something")
    assert reach.defs(at(prog, "jz 1f", 1), "zf") == {FlagDef(call, True)}


def test_loop_and_entries():
    prog, reach = analyze("liveness_flags.S")
    test = at(prog, "testq %rax, %rax", 1)
    assert reach.defs(at(prog, "jnz 2b"), "zf") == {FlagDef(test, False)}
    # starting at the loop: no writer before it on any path
    prog, reach = analyze("liveness_flags.S", entries=[at(prog, "jnz 2b")])
    assert reach.defs(at(prog, "jnz 2b"), "zf") == {FlagDef(None, False)}
    assert at(prog, "jc 1f") not in reach.before


def test_flags_into_asm_helper_and_back():
    prog, reach = analyze("liveness_flags.S")
    testq = prog.symbols["set_zf"].start
    jz = prog.symbols["helper_flags_entry"].start + 1
    assert prog.instructions[jz].text.startswith("jz")
    # the ret of set_zf goes back to both call sites; the one after the
    # first call reads the helper's ZF (xorl after the second call is no read)
    assert reach.defs(jz, "zf") == {FlagDef(testq, False)}


@pytest.mark.kernel
def test_kernel_entry_64(kernel_tree):
    exp = api.expand(kernel_tree / "arch/x86/entry/entry_64.S", api.Options(root=kernel_tree))
    prog = exp.program
    cfg = CFG(prog)
    t = time.process_time()
    reach = compute_flags(prog, cfg, ())
    assert time.process_time() - t < 5
    # every conditional jump reached has some writer for what it reads
    assert reach.before
    for i, flags in reach.before.items():
        for f, defs in flags.items():
            assert defs, (i, f)
